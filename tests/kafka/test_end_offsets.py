"""Where ``stop="end"`` ends a partition (fluvial.transforms.kafka.offsets.end_offsets).

Kafka's semantics under ``read_committed`` cannot be observed on the test broker: Tansu keeps no
last stable offset (its ListOffsets answers the last batch's base offset + 1, and its fetches
return records of open transactions). The Kafka case is therefore checked against a small
in-memory log that answers ListOffsets and fetches as Kafka documents them (KIP-98: a
read_committed fetch stops at the last stable offset, ListOffsets(latest) answers it); the Tansu
case runs against the real broker, and so do the checks that a broker slow to answer the end
probe delays the read or fails it, and never shortens it."""

from __future__ import annotations

import time
from collections import namedtuple

import pytest
from kafka_support import produce

from fluvial.transforms.kafka.clients.base import Chunk, RecordAccess
from fluvial.transforms.kafka.errors import KafkaIOError
from fluvial.transforms.kafka.offsets import end_offsets

Rec = namedtuple("Rec", "offset")
TP = ("t", 0)
ACCESS = RecordAccess(*(lambda recs: [] for _ in range(5)), offset=lambda r: r.offset,
                      pairs=lambda recs: [])


class KafkaLikeLog:
    """One partition: ``batches`` of offsets, an open transaction from ``lso`` on (offsets
    ``lso``..``hw``-1 written but not committed). Answers like a Kafka broker, through the
    client interface (:mod:`fluvial.transforms.kafka.clients.base`)."""

    access = ACCESS

    def __init__(self, batches: list[range], lso: int, isolation: str) -> None:
        self.batches = batches
        self.hw = batches[-1].stop
        self.lso = lso
        self.limit = lso if isolation == "read_committed" else self.hw
        self.pos = 0
        self.responded = False

    def listed_end_offsets(self, tps, timeout):
        return {tp: self.limit for tp in tps}  # ListOffsets(latest) for the isolation level

    def beginning_offsets(self, tps, timeout):
        return {tp: 0 for tp in tps}

    def assign(self, positions):
        self.pos = positions[TP]
        self.responded = False

    def fetched_end(self, tp):
        return self.responded

    def fetch(self, max_records, timeout):
        # a fetch returns whole batches from the one holding pos, up to the isolation limit
        recs = [Rec(o) for b in self.batches if b.stop > self.pos for o in b
                if self.pos <= o < self.limit]
        self.responded = True
        self.pos = recs[-1].offset + 1 if recs else self.pos
        return [Chunk(TP, recs)] if recs else []


def test_read_committed_end_is_the_last_stable_offset_not_the_high_watermark():
    """Offsets 0..9 committed, 10..14 an open transaction: the bounded read ends at 10 and does
    not wait for the open transaction (the high watermark, 15, would)."""
    log = KafkaLikeLog([range(0, 5), range(5, 10), range(10, 15)], lso=10,
                       isolation="read_committed")
    assert end_offsets(log, [TP], timeout=1.0) == {TP: 10}


def test_read_uncommitted_end_is_the_high_watermark():
    log = KafkaLikeLog([range(0, 5), range(5, 10), range(10, 15)], lso=10,
                       isolation="read_uncommitted")
    assert end_offsets(log, [TP], timeout=1.0) == {TP: 15}


@pytest.mark.usefixtures("kafka_client")
def test_tansu_end_covers_the_whole_last_batch(kafka_broker, kafka_topic):
    """Tansu answers ListOffsets(latest) with the last batch's base offset + 1; the end must
    still be after the last record (one batch of 25 records here)."""
    from kafka_support import options

    from fluvial.transforms.kafka import ReadFromKafka
    from fluvial.transforms.kafka.reader import open_consumer

    s = kafka_broker.bootstrap_servers
    t = kafka_topic()
    produce(s, t, [(None, b"a%d" % i, 0, 1_000 + i) for i in range(5)])
    produce(s, t, [(None, b"b%d" % i, 0, 1_000 + i) for i in range(25)])
    cfg = ReadFromKafka(s, topics=[t]).cfg
    c = open_consumer(cfg, "Read", options())
    try:
        assert end_offsets(c, [(t, 0)]) == {(t, 0): 30}
    finally:
        c.close()


class SlowToAnswer:
    """A real consumer whose first ``withheld`` fetches get no answer (each waits its timeout
    and returns nothing, as against a broker too slow to answer in time); everything else goes
    to the real consumer. ``withheld=None``: no fetch is ever answered."""

    def __init__(self, real, withheld: int | None) -> None:
        self.real = real
        self.left = withheld

    def fetch(self, max_records, timeout):
        if self.left is None or self.left > 0:
            if self.left is not None:
                self.left -= 1
            time.sleep(timeout)
            return []
        return self.real.fetch(max_records, timeout)

    def fetched_end(self, tp):
        return self.left == 0 and self.real.fetched_end(tp)

    def __getattr__(self, name):
        return getattr(self.real, name)


def two_batches(servers: str, topic: str) -> None:
    """Offsets 0..4 in one batch, 5..29 in another: Tansu lists the end as 6."""
    produce(servers, topic, [(None, b"a%d" % i, 0, 1_000 + i) for i in range(5)])
    produce(servers, topic, [(None, b"b%d" % i, 0, 1_000 + 5 + i) for i in range(25)])


@pytest.mark.usefixtures("kafka_client")
def test_a_slow_end_probe_delays_a_bounded_read_and_never_shortens_it(kafka_broker, kafka_topic,
                                                                      monkeypatch):
    """The end probe's fetch is answered only after about 6 s (60 fetches of 0.1 s withheld,
    longer than the 5 s the probe once gave up after, taking ListOffsets' 6 as the end): the
    read still ends after the last record, with all 30 records."""
    from kafka_support import collect, pipeline

    import fluvial.transforms.kafka.reader as reader
    from fluvial.transforms.kafka import ReadFromKafka

    s = kafka_broker.bootstrap_servers
    t = kafka_topic()
    two_batches(s, t)
    real_open = reader.open_consumer
    monkeypatch.setattr(reader, "open_consumer",
                        lambda *a: SlowToAnswer(real_open(*a), withheld=60))
    out, sink = collect()
    p = pipeline()
    _ = (p | ReadFromKafka(s, topics=[t], stop="end") | sink)
    p.run().wait_until_finish()
    want = [b"a%d" % i for i in range(5)] + [b"b%d" % i for i in range(25)]
    assert sorted(v for _k, v in out) == sorted(want)


@pytest.mark.usefixtures("kafka_client")
def test_an_unanswered_end_probe_fails_naming_the_transform_and_partition(kafka_broker,
                                                                          kafka_topic):
    from kafka_support import options

    from fluvial.transforms.kafka import ReadFromKafka
    from fluvial.transforms.kafka.reader import open_consumer

    s = kafka_broker.bootstrap_servers
    t = kafka_topic()
    two_batches(s, t)
    c = open_consumer(ReadFromKafka(s, topics=[t]).cfg, "Orders", options())
    try:
        with pytest.raises(KafkaIOError) as e:
            end_offsets(SlowToAnswer(c, withheld=None), [(t, 0)], timeout=1.0)
    finally:
        c.close()
    msg = str(e.value)
    assert "transform 'Orders'" in msg and f"{t}/0 (fetch from offset 5)" in msg
    assert "connect_timeout" in msg
