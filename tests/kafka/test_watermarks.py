"""Per-partition watermarks and the idle-partition timeout of ReadFromKafka, observed on the
reader directly with a manual processing-time clock, and through windows in a pipeline."""

from __future__ import annotations

import time

from kafka_support import collect, pipeline, produce

import fluvial as fl
from fluvial.options import PipelineOptions
from fluvial.source import SourceContext
from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.transforms import Count
from fluvial.transforms.kafka import KafkaSource, ReadFromKafka


class ManualClock:
    def __init__(self) -> None:
        self.now = 0

    def now_ms(self) -> int:
        return self.now


def _reader(servers: str, topic: str, clock: ManualClock, **kw):
    cfg = ReadFromKafka(servers, topics=[topic], value_deserializer="str", **kw).cfg
    return KafkaSource(**cfg).open(SourceContext(PipelineOptions(), clock, "Read"))


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
