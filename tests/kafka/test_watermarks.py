"""Per-partition watermarks and the idle-partition timeout of ReadFromKafka, observed on the
reader directly with a manual processing-time clock, and through windows in a pipeline."""

from __future__ import annotations

import time

import pytest
from kafka_support import collect, options, pipeline, produce

import fluvial as fl
from fluvial.source import SourceContext
from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.transforms import Count
from fluvial.transforms.kafka import KafkaSource, ReadFromKafka

pytestmark = pytest.mark.usefixtures("kafka_client")


class ManualClock:
    def __init__(self) -> None:
        self.now = 0

    def now_ms(self) -> int:
        return self.now


def _reader(servers: str, topic: str, clock: ManualClock, **kw):
    cfg = ReadFromKafka(servers, topics=[topic], value_deserializer="str", **kw).cfg
    return KafkaSource(**cfg).open(SourceContext(options(), clock, "Read"))


def _poll_n(reader, n: int) -> list:
    out: list = []
    deadline = time.monotonic() + 20
    while len(out) < n and time.monotonic() < deadline:
        out.extend(reader.poll(100))
    assert len(out) == n, out
    return out


def test_source_watermark_is_the_minimum_over_partitions(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    clock = ManualClock()
    r = _reader(s, t, clock, max_out_of_orderness=1)
    try:
        produce(s, t, [("a", "x", 0, 10_000), ("a", "y", 0, 12_000), ("a", "z", 0, 11_000)])
        _poll_n(r, 3)
        assert r.watermark() == MIN_TIMESTAMP_MS  # partition 1 has produced nothing yet
        produce(s, t, [("b", "p", 1, 5_000)])
        _poll_n(r, 1)
        assert r.watermark() == 5_000 - 1_000  # min(12 000, 5 000) - 1 s
        produce(s, t, [("b", "q", 1, 20_000)])
        _poll_n(r, 1)
        assert r.watermark() == 12_000 - 1_000  # min(12 000, 20 000) - 1 s
        assert r.progress()["lag"] == {f"{t}/0": 0, f"{t}/1": 0}
    finally:
        r.close()


def test_idle_partition_stops_holding_the_watermark(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    clock = ManualClock()  # t = 0 when the reader opens
    r = _reader(s, t, clock, max_out_of_orderness=1, idle_timeout=5)
    try:
        clock.now = 4_000
        produce(s, t, [("a", "x", 0, 10_000)])
        _poll_n(r, 1)
        assert r.watermark() == MIN_TIMESTAMP_MS  # partition 1: 4 s without data, not idle yet
        clock.now = 5_000
        assert r.watermark() == 10_000 - 1_000  # partition 1 idle for 5 s: left out
        produce(s, t, [("b", "late", 1, 3_000)])
        got = _poll_n(r, 1)
        assert got == [((b"b", "late"), 3_000)]  # the partition is active again; no regression
        assert r.watermark() == 9_000
        clock.now = 6_000
        produce(s, t, [("a", "y", 0, 20_000), ("b", "z", 1, 15_000)])
        _poll_n(r, 2)
        assert r.watermark() == 15_000 - 1_000  # min(20 000, 15 000) - 1 s
    finally:
        r.close()


def test_windows_fire_on_the_minimum_so_a_slower_partition_is_not_late(kafka_broker, kafka_topic):
    """Partition 0 holds event times 0..59 s, partition 1 the same span; the reader hands them
    out five at a time, typically all of partition 0 before partition 1. With the source
    watermark the minimum over partitions, nothing is late: each 10 s window counts 10 + 10.
    (A watermark following partition 0 alone would pass 59 s before partition 1 starts, and
    its records would be dropped as late.)"""
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    produce(s, t, [("k", "a", 0, i * 1000) for i in range(60)]
            + [("k", "b", 1, i * 1000) for i in range(60)])
    got, sink = collect()
    with pipeline("--batch-size", "5") as p:
        _ = (p | ReadFromKafka(s, topics=[t], stop="end")
               | fl.WindowInto(fl.FixedWindows(10))
               | Count.Globally().without_defaults()
               | sink)
    assert got == [20] * 6


def test_partitions_are_read_round_robin(kafka_broker, kafka_topic):
    """Three partitions of 300 records each: the reader hands out an equal share of each
    partition that has records buffered, and pauses a partition whose buffer holds its share
    (200 of 600) so the others are fetched too. The watermark, the minimum over partitions,
    then advances with the data. Read partition by partition, the spread between the most- and
    the least-read partition would reach 300; round robin keeps it within two batches."""
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=3)
    produce(s, t, [(f"k{p}", f"{p}-{i}", p, 1_000 * i) for p in range(3) for i in range(300)])
    clock = ManualClock()
    r = _reader(s, t, clock, stop="end", max_buffered_records=600, key_deserializer="str")
    try:
        seen: list = []
        read = {"k0": 0, "k1": 0, "k2": 0}
        spread = 0
        while (b := r.poll(60)) is not None:
            for (k, v), _ts in b:
                seen.append((k, v))
                read[k] += 1
            if min(read.values()) < 300:
                spread = max(spread, max(read.values()) - min(read.values()))
        assert spread <= 120, spread
        for p in range(3):
            assert [v for k, v in seen if k == f"k{p}"] == [f"{p}-{i}" for i in range(300)]
    finally:
        r.close()


def test_default_idle_timeout_lets_an_empty_partition_go_after_30_s(kafka_broker, kafka_topic):
    """ReadFromKafka's default idle_timeout is 30 s, counted from the start of the read for a
    partition that never had a record: partition 1 stays empty, partition 0 has a record at
    10 s. Until 30 s partition 1 holds the watermark at -inf (and is named as holding it back);
    from 30 s it is left out; at 40 s partition 0, without records since 10 s, is idle too: the
    read is idle and its watermark holds."""
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    assert ReadFromKafka(s, topics=[t]).cfg["idle_ms"] == 30_000
    assert ReadFromKafka(s, topics=[t], idle_timeout=None).cfg["idle_ms"] is None
    clock = ManualClock()  # the read starts at 0
    r = _reader(s, t, clock, max_out_of_orderness=1)
    try:
        clock.now = 10_000
        produce(s, t, [("a", "x", 0, 50_000)])
        _poll_n(r, 1)
        clock.now = 29_999
        assert r.watermark() == MIN_TIMESTAMP_MS
        assert r.progress()["watermark_held_by"] == {f"{t}/1": MIN_TIMESTAMP_MS}
        assert not r.is_idle()
        clock.now = 30_000
        assert r.watermark() == 49_000 and not r.is_idle()
        assert r.progress()["watermark_held_by"] == {}
        clock.now = 39_999
        assert not r.is_idle()
        clock.now = 40_000
        assert r.is_idle() and r.watermark() == 49_000  # every partition idle: holds
        produce(s, t, [("b", "y", 1, 60_000)])
        _poll_n(r, 1)
        assert not r.is_idle() and r.watermark() == 59_000  # partition 1 active; 0 still idle
    finally:
        r.close()


def test_without_idle_timeout_an_empty_partition_holds_and_is_named(kafka_broker, kafka_topic,
                                                                     caplog):
    """idle_timeout=None: partition 1 never has a record and holds the watermark at -inf for
    good. The direct runner's stall watch (clock injected) names it once the watermark has not
    moved for 10 s."""
    import logging

    from fluvial.metrics import MetricsContainer
    from fluvial.runners.direct.sources import ReadSource
    from fluvial.runners.direct.watermark_stall import WatermarkStall

    caplog.set_level(logging.WARNING, logger="fluvial.watermark")
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    clock = ManualClock()
    cfg = ReadFromKafka(s, topics=[t], value_deserializer="str", idle_timeout=None).cfg
    op = ReadSource("Orders", KafkaSource(**cfg), SourceContext(options(), clock,
                                                                 "Orders"))
    op.open(MetricsContainer())
    try:
        produce(s, t, [("a", "x", 0, 10_000)])
        deadline = time.monotonic() + 20
        while op.records_read < 1 and time.monotonic() < deadline:
            op.poll(100)
        assert op.records_read == 1 and op.out_wm == MIN_TIMESTAMP_MS
        mono = [0.0]
        w = WatermarkStall(clock=lambda: mono[0])
        w.tick([op])
        clock.now = 10**9  # no idle timeout: however long, partition 1 is not idle
        op.poll(100)
        mono[0] = 10.0
        w.tick([op])
        assert w.held_by == (f"{t}/1",)
        assert [r.getMessage() for r in caplog.records] == [
            f"the watermark has stayed at -inf for 10 s, held back by partition {t}/1 of "
            "'Orders' (no records yet); an input without records for its idle_timeout stops "
            "holding it back (docs/concepts.md, Watermarks)"]
    finally:
        op.close()


def test_an_empty_partition_and_a_quiet_one_do_not_hold_at_minus_infinity(kafka_broker,
                                                                          kafka_topic):
    """A few records on partition 0 at 10 s, none on partition 1, then nothing: with the default
    30 s idle timeout partition 1 is idle from 30 s, partition 0 from 40 s. Asked only at 60 s
    (both idle), the reader's watermark is partition 0's (it was live alone from 30 s to 40 s),
    not -inf: the order of idleness decides, not when the reader is asked."""
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    clock = ManualClock()
    r = _reader(s, t, clock, max_out_of_orderness=1)
    try:
        clock.now = 10_000
        produce(s, t, [("a", "x", 0, 50_000), ("a", "y", 0, 52_000)])
        _poll_n(r, 2)
        clock.now = 60_000
        assert r.watermark() == 51_000 and r.is_idle()
    finally:
        r.close()
