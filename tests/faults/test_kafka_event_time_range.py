"""Issue 11 item 8 for Kafka, on the real local broker and once per client backend: a record
whose event time is out of range (ten years ahead of the wall clock, past the default
``--max-event-time-ahead`` of one day; or, through ``timestamp_fn``, before the earliest
supported time) goes to the read's error policy with its raw value, key, topic, partition and
offset, and never moves its partition's watermark. Before the fix the reader fed the record's
time to the partition's watermark generator and the runner's own check came too late: the
watermark jumped ten years ahead and the valid records after it were dropped as late."""

from __future__ import annotations

import time

import pytest

import fluvial as fl
from fluvial.errors import EventTimeOutOfRangeError, UserCodeError
from fluvial.options import PipelineOptions
from fluvial.source import SourceContext
from fluvial.timeutil import MIN_EVENT_TIME_MS
from fluvial.transforms import Map
from fluvial.transforms.kafka import KafkaSource, ReadFromKafka

CLIENTS = ["confluent", "kafka-python"]
SEEN: list = []
COUNTS: list = []


def far_future_ms() -> int:
    return int((time.time() + 10 * 365 * 86_400) * 1000)


def produce(servers: str, topic: str, records: list[tuple[bytes, bytes, int]]) -> None:
    """(key, value, timestamp_ms) records, in order, to partition 0."""
    from kafka import KafkaProducer

    prod = KafkaProducer(bootstrap_servers=servers)
    for k, v, ts in records:
        prod.send(topic, key=k, value=v, partition=0, timestamp_ms=ts)
    prod.flush()
    prod.close()


class ManualClock:
    def now_ms(self) -> int:
        return 0


def _poll_all(reader, n_offsets: int) -> list:
    """Poll until the bounded read is exhausted."""
    out: list = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = reader.poll(100)
        if got is None:
            return out
        out.extend(got)
    raise AssertionError(f"the read of {n_offsets} offsets did not end: {out}")


@pytest.mark.parametrize("client", CLIENTS)
def test_a_far_future_record_does_not_move_the_partition_watermark(kafka_broker, kafka_topic,
                                                                   client):
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    far = far_future_ms()
    produce(s, t, [(b"k0", b"a", 10_000), (b"k1", b"far", far), (b"k2", b"b", 12_000)])
    dead: list = []
    ctx = SourceContext(PipelineOptions(kafka_client=client), ManualClock(), "Orders",
                        None, dead.append)
    cfg = ReadFromKafka(s, topics=[t], stop="end", value_deserializer="str",
                        max_out_of_orderness=1, on_error="dead_letter").cfg
    r = KafkaSource(**cfg).open(ctx)
    try:
        got = _poll_all(r, 3)
        # the partition finished: the watermark of what was read is no longer observable
        # through watermark(); the partition's own generator still holds it
        assert r.wm.partition_watermark((t, 0)) == 12_000 - 1_000
    finally:
        r.close()
    assert got == [((b"k0", "a"), 10_000), ((b"k2", "b"), 12_000)]
    [d] = dead
    assert (d.transform, d.error_type, d.topic, d.partition, d.offset, d.key, d.payload,
            d.timestamp_ms) == ("Orders", "EventTimeOutOfRangeError", t, 0, 1, b"k1", b"far",
                                None)
    assert f"event time {far} ms (" in d.message
    assert "is more than 86400 s ahead of the wall clock" in d.message


@pytest.mark.parametrize("client", CLIENTS)
def test_timestamp_fn_times_are_checked_too(kafka_broker, kafka_topic, client):
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    produce(s, t, [(b"k0", b"5", 1), (b"k1", b"early", 2), (b"k2", b"7", 3)])
    dead: list = []
    ctx = SourceContext(PipelineOptions(kafka_client=client), ManualClock(), "Orders",
                        None, dead.append)

    def stamp(rec):  # the value holds the event time in seconds; "early" one before the range
        return MIN_EVENT_TIME_MS - 1 if rec.value == "early" else int(rec.value) * 1000

    cfg = ReadFromKafka(s, topics=[t], stop="end", value_deserializer="str",
                        max_out_of_orderness=0, timestamp_fn=stamp, on_error="dead_letter").cfg
    r = KafkaSource(**cfg).open(ctx)
    try:
        got = _poll_all(r, 3)
        assert r.wm.partition_watermark((t, 0)) == 7_000
    finally:
        r.close()
    assert got == [((b"k0", "5"), 5_000), ((b"k2", "7"), 7_000)]
    [d] = dead
    assert (d.error_type, d.offset, d.payload) == ("EventTimeOutOfRangeError", 1, b"early")
    assert "is before the earliest supported event time" in d.message


@pytest.mark.parametrize("client", CLIENTS)
def test_the_valid_records_after_a_far_future_one_stay_on_time(kafka_broker, kafka_topic,
                                                               client):
    """The issue's reproduction: one minute of orders with a far-future record after the
    first; with one record per batch the far-future time reached the watermark before the
    next record was read, and 5 of the 6 valid orders were dropped as late."""
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    valid = [10_000 + 1_000 * i for i in range(6)]
    recs = [(b"k%d" % i, b"order", ts) for i, ts in enumerate(valid)]
    recs.insert(1, (b"kf", b"far", far_future_ms()))
    produce(s, t, recs)
    SEEN.clear()
    COUNTS.clear()
    p = fl.Pipeline(argv=["--runner", "direct", "--kafka-client", client, "--batch-size", "1",
                          "--on-error", "dead_letter"])
    (p | "Orders" >> ReadFromKafka(s, topics=[t], stop="end", max_out_of_orderness=2)
       | fl.WindowInto(fl.FixedWindows(60))
       | "One" >> Map(lambda kv: ("orders", 1)) | "Sum" >> fl.CombinePerKey(sum)
       | "Keep" >> Map(lambda kv: COUNTS.append(kv) or kv))
    _ = p.dead_letters() | "Dead" >> Map(lambda d: SEEN.append(d) or d)
    result = p.run()
    result.wait_until_finish()
    assert COUNTS == [("orders", 6)]
    assert result.metrics().query(namespace="fluvial", name="dropped_due_to_lateness"
                                  ).counter("dropped_due_to_lateness") == 0
    assert [(d.transform, d.error_type, d.offset, d.key, d.payload) for d in SEEN] == [
        ("Orders", "EventTimeOutOfRangeError", 1, b"kf", b"far")]


@pytest.mark.parametrize("client", CLIENTS)
def test_fail_names_the_read_and_the_reason(kafka_broker, kafka_topic, client):
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    produce(s, t, [(b"k0", b"a", 10_000), (b"k1", b"far", far_future_ms())])
    p = fl.Pipeline(argv=["--runner", "direct", "--kafka-client", client])
    _ = p | "Orders" >> ReadFromKafka(s, topics=[t], stop="end")
    with pytest.raises(UserCodeError) as ei:
        p.run()
    assert (ei.value.label, ei.value.element) == ("Orders", b"far")
    assert isinstance(ei.value.cause, EventTimeOutOfRangeError)
