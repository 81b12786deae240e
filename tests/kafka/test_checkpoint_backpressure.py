"""Offsets in checkpoints (restore: no loss, no duplicates), offset commits after checkpoints,
and backpressure (bounded buffer, paused partitions)."""

from __future__ import annotations

import pytest
from committed_view import committed_view
from kafka_support import pipeline, produce

import fluvial as fl
from fluvial.errors import UserCodeError
from fluvial.transforms import Map
from fluvial.transforms.kafka import ReadFromKafka, WriteToKafka

pytestmark = pytest.mark.usefixtures("kafka_client")


def _build(p, s: str, src: str, out: str, seen: list, armed: dict) -> None:
    def step(kv):
        if armed["on"] and kv[1] == "v150":
            raise RuntimeError("injected failure at v150")
        seen.append(kv[1])
        return kv

    _ = (p | "Read" >> ReadFromKafka(s, topics=[src], stop="end", group_id=f"g-{src}",
                                     key_deserializer="str", value_deserializer="str")
           | "Step" >> Map(step)
           | "Write" >> WriteToKafka(s, out, key_serializer="str", value_serializer="str",
                                     delivery="exactly_once"))


def test_restore_resumes_from_checkpointed_offsets_without_loss_or_duplicates(
        kafka_broker, kafka_topic, tmp_path):
    from kafka import KafkaConsumer, TopicPartition

    s = kafka_broker.bootstrap_servers
    src, out = kafka_topic(), kafka_topic()
    produce(s, src, [(f"k{i}", f"v{i}", 0, 1_000 + i) for i in range(300)])
    args = ("--checkpoint-dir", str(tmp_path), "--checkpoint-interval", "0", "--batch-size", "20")
    seen1: list = []
    with pytest.raises(UserCodeError, match="injected failure"):
        with pipeline(*args) as p:
            _build(p, s, src, out, seen1, {"on": True})
    c = KafkaConsumer(bootstrap_servers=s, group_id=f"g-{src}", enable_auto_commit=False)
    committed = c.committed(TopicPartition(src, 0))
    c.close()
    assert committed is not None and 0 < committed <= 140  # checkpoints cover whole batches

    seen2: list = []
    with pipeline(*args) as p:
        _build(p, s, src, out, seen2, {"on": False})
    assert seen2 == [f"v{i}" for i in range(committed, 300)]  # resumed at the checkpoint
    view = committed_view(s, out)
    assert sorted(view.values()) == sorted(f"v{i}".encode() for i in range(300))
    assert len(view.values()) == 300  # exactly once across the failure


RECEIVED: list = []  # DoFns are copied when the pipeline runs: they record here


class Record(fl.DoFn):
    """The downstream operator: records what it receives. The direct runner is synchronous
    (the reader is polled only after the previous batch went through the whole pipeline), so
    the reader's bounded buffer, not the operator's speed, decides when partitions pause."""

    def process(self, kv):
        RECEIVED.append(kv[1])
        return []


def test_bounded_buffer_pauses_partitions_and_stays_bounded(kafka_broker, kafka_topic):
    """2 partitions of 10 000 records, max_buffered_records=1 000: each partition may hold 500
    (its share), is paused on reaching it and resumed when drained to 250.

    Bounds on the ``pauses`` counter: each partition's 10 000 records (about 0.3 MB) come in
    fetches of up to max_partition_fetch_bytes (2 MiB), far more than its share, so every
    partition reaches its share and pauses at least once: >= 2. Between two pauses of a
    partition it was resumed, i.e. drained from >= 500 to <= 250 records: >= 250 of its records
    were handed out per pause, so a partition pauses at most 10 000 / 250 = 40 times, plus once
    more if its last pause ends with the partition finishing: <= 2 * 41 = 82."""
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    n = 20_000
    produce(s, t, [(None, b"%d" % i, i % 2, 1_000 + i) for i in range(n)])
    RECEIVED.clear()
    p = pipeline("--batch-size", "200")
    _ = (p | "Read" >> ReadFromKafka(s, topics=[t], stop="end", max_buffered_records=1_000,
                                     max_poll_records=500)
           | fl.ParDo(Record()))
    res = p.run()
    res.wait_until_finish()
    assert sorted(int(v) for v in RECEIVED) == list(range(n))  # every record exactly once
    q = res.metrics().query(namespace="kafka")
    pauses = q.counter("pauses", "kafka")
    assert 2 <= pauses <= 82, pauses
    gauges = {k.name: g.value for k, g in q.gauges.items()}
    assert gauges["buffer_capacity"] == 1_000
    assert 0 < gauges["buffered_high_water"] <= 1_000
