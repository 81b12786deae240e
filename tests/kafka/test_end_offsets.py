"""Where ``stop="end"`` ends a partition (fluvial.transforms.kafka.offsets.end_offsets).

Kafka's semantics under ``read_committed`` cannot be observed on the test broker: Tansu keeps no
last stable offset (its ListOffsets answers the last batch's base offset + 1, and its fetches
return records of open transactions). The Kafka case is therefore checked against a small
in-memory log that answers ListOffsets and fetches as Kafka documents them (KIP-98: a
read_committed fetch stops at the last stable offset, ListOffsets(latest) answers it); the Tansu
case runs against the real broker."""

from __future__ import annotations

from collections import namedtuple

import pytest
from kafka_support import produce

from fluvial.transforms.kafka.clients.base import Chunk, RecordAccess
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
    assert end_offsets(log, [TP], probe_timeout=1.0) == {TP: 10}


def test_read_uncommitted_end_is_the_high_watermark():
    log = KafkaLikeLog([range(0, 5), range(5, 10), range(10, 15)], lso=10,
                       isolation="read_uncommitted")
    assert end_offsets(log, [TP], probe_timeout=1.0) == {TP: 15}


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
