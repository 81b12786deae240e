"""ReadFromKafka against the local broker, on each client backend: start positions,
deserializers, errors."""

from __future__ import annotations

import json

import pytest
from kafka_support import collect, pipeline, produce

import fluvial as fl
from fluvial.errors import UserCodeError
from fluvial.transforms.kafka import KafkaIOError, KafkaRecord, ReadFromKafka

pytestmark = pytest.mark.usefixtures("kafka_client")


def _read(servers: str, **kw) -> list:
    got, sink = collect()
    with pipeline() as p:
        _ = p | ReadFromKafka(servers, stop="end", **kw) | sink
    return got


def _fill(servers: str, topic: str, n: int, parts: int = 1) -> None:
    produce(servers, topic, [(f"k{i}", f"v{i}", i % parts, 1_000 + i) for i in range(n)])


def test_earliest_reads_every_partition(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=3)
    _fill(s, t, 30, parts=3)
    got = _read(s, topics=[t], key_deserializer="str", value_deserializer="str")
    assert sorted(got) == sorted((f"k{i}", f"v{i}") for i in range(30))


def test_explicit_offsets_and_partition_list(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    _fill(s, t, 20, parts=2)  # partition 0: v0, v2, ..., v18; partition 1: v1, ..., v19
    got = _read(s, partitions=[(t, 0), (t, 1)], start={(t, 0): 7, (t, 1): 9},
                value_deserializer="str")
    assert sorted(v for _, v in got) == sorted(["v14", "v16", "v18", "v19"])
    only0 = _read(s, partitions=[(t, 0)], start={(t, 0): 8}, value_deserializer="str")
    assert [v for _, v in only0] == ["v16", "v18"]


def test_committed_start_resumes_after_the_group_offsets(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=1)
    _fill(s, t, 10)
    group = f"g-{t}"
    first = _read(s, topics=[t], group_id=group, start="committed", value_deserializer="str")
    assert [v for _, v in first] == [f"v{i}" for i in range(10)]  # no commit yet: earliest
    _fill(s, t, 13)  # 13 more records (v0..v12 again) at offsets 10..22
    second = _read(s, topics=[t], group_id=group, start="committed", value_deserializer="str")
    assert [v for _, v in second] == [f"v{i}" for i in range(13)]


def test_offsets_committed_at_the_end_are_visible_to_the_group(kafka_broker, kafka_topic):
    from kafka import KafkaConsumer, TopicPartition

    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    _fill(s, t, 9, parts=2)
    _read(s, topics=[t], group_id=f"g-{t}")
    c = KafkaConsumer(bootstrap_servers=s, group_id=f"g-{t}", enable_auto_commit=False)
    assert [c.committed(TopicPartition(t, p)) for p in (0, 1)] == [5, 4]
    c.close()


def test_start_from_timestamp_uses_offsets_for_times(kafka_broker, kafka_topic):
    """start=<time> seeks each partition to ``offsets_for_times`` (Kafka's ListOffsets by
    timestamp): the earliest offset whose timestamp is >= the time. On Kafka, records at
    timestamps 1000..1009 and start=1006 read v6..v9.

    Tansu deviates: its ListOffsets-by-timestamp answers offset 0 with the current wall-clock
    time as timestamp for any query, so the correct result cannot be observed on it. This test
    checks what can be: the reader starts each partition exactly where the broker's
    offsets_for_times answer points (asked independently here), and that answer is in range."""
    from kafka import KafkaConsumer, TopicPartition

    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=1)
    _fill(s, t, 10)
    c = KafkaConsumer(bootstrap_servers=s)
    found = c.offsets_for_times({TopicPartition(t, 0): 1_006})[TopicPartition(t, 0)]
    c.close()
    assert found is not None and 0 <= found.offset <= 6
    got = _read(s, topics=[t], start=fl.Timestamp.of_millis(1_006), value_deserializer="str")
    assert [v for _, v in got] == [f"v{i}" for i in range(found.offset, 10)]
    assert _read(s, topics=[t], start=1_006, value_deserializer="str") == got


def test_json_metadata_and_timestamp_fn(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=1)
    produce(s, t, [("a", {"n": 1, "t": 5}, 0, 111), (None, {"n": 2, "t": 7}, 0, 222)])
    got = _read(s, topics=[t], key_deserializer="str", value_deserializer="json",
                with_metadata=True)
    assert [(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp_ms) for r in got] == [
        (t, 0, 0, "a", {"n": 1, "t": 5}, 111), (t, 0, 1, None, {"n": 2, "t": 7}, 222)]
    assert all(isinstance(r, KafkaRecord) for r in got)

    stamps, sink = collect()
    with pipeline() as p:
        _ = (p | ReadFromKafka(s, topics=[t], stop="end", value_deserializer="json",
                               timestamp_fn=lambda r: r.value["t"] * 1000)
               | fl.ParDo(_Stamp()) | sink)
    assert stamps == [(1, 5000), (2, 7000)]


class _Stamp(fl.DoFn):
    def process(self, kv, timestamp=fl.DoFn.TimestampParam):
        yield (kv[1]["n"], fl.Timestamp(timestamp).millis if not isinstance(timestamp, int)
               else timestamp)


def _malformed(s: str, t: str) -> None:
    produce(s, t, [("a", {"ok": 1}, 0, 1), ("b", b"{not json", 0, 2), ("c", {"ok": 3}, 0, 3)])


def test_malformed_json_skip_is_counted(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic()
    _malformed(s, t)
    got, sink = collect()
    p = pipeline()
    _ = p | "Src" >> ReadFromKafka(s, topics=[t], stop="end", value_deserializer="json",
                                   key_deserializer="str", on_error="skip") | sink
    res = p.run()
    res.wait_until_finish()
    assert got == [("a", {"ok": 1}), ("c", {"ok": 3})]
    assert res.metrics().query(name="errors_skipped").counter("errors_skipped") == 1


def test_malformed_json_fail_raises_naming_the_transform(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic()
    _malformed(s, t)
    with pytest.raises(UserCodeError) as ei:
        with pipeline() as p:
            _ = p | "Src" >> ReadFromKafka(s, topics=[t], stop="end", value_deserializer="json",
                                           on_error="fail")
    assert "Src" in str(ei.value) and "JSONDecodeError" in str(ei.value)


def test_malformed_json_goes_to_dead_letters(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic()
    _malformed(s, t)
    dead, dsink = collect()
    good, gsink = collect()
    with pipeline() as p:
        _ = p | "Src" >> ReadFromKafka(s, topics=[t], stop="end", value_deserializer="json",
                                       on_error="dead_letter") | gsink
        _ = p.dead_letters() | "Dead" >> dsink
    assert [v for _, v in good] == [{"ok": 1}, {"ok": 3}]
    # labelled with the user's label of the read (not its inner Read primitive, "Src/Read")
    assert [(d.transform, d.topic, d.partition, d.offset, d.key, d.error_type) for d in dead] == [
        ("Src", t, 0, 1, b"b", "JSONDecodeError")]
    assert json.loads(json.dumps(dead[0].to_dict()))["payload"] == {"bytes_b64": "e25vdCBqc29u"}


def test_dead_letter_source_without_a_consumer_is_refused(kafka_broker, kafka_topic):
    from fluvial.errors import PipelineConstructionError

    s = kafka_broker.bootstrap_servers
    t = kafka_topic()
    _malformed(s, t)
    p = fl.Pipeline(argv=["--runner", "direct"])
    _ = p | "Src" >> ReadFromKafka(s, topics=[t], stop="end", value_deserializer="json",
                                   on_error="dead_letter")
    with pytest.raises(PipelineConstructionError, match="'Src/Read'.*dead_letters"):
        p.run()


def test_missing_topic_error_names_it(kafka_broker):
    with pytest.raises(KafkaIOError, match="'no-such-topic-x1'.*create_topic=True"):
        _read(kafka_broker.bootstrap_servers, topics=["no-such-topic-x1"])


def test_create_topic_creates_it(kafka_broker):
    import uuid

    from kafka import KafkaConsumer

    topic = f"created-by-reader-{uuid.uuid4().hex[:8]}"  # unique: the broker lives per session
    assert _read(kafka_broker.bootstrap_servers, topics=[topic], create_partitions=3) == []
    c = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers)
    assert c.partitions_for_topic(topic) == {0, 1, 2}
    c.close()


def test_unreachable_broker_error_names_servers():
    from kafka_support import pipeline as mk

    from fluvial.cli.localbroker import free_port

    servers = f"127.0.0.1:{free_port()}"
    with pytest.raises(KafkaIOError, match=f"cannot reach the Kafka broker at '{servers}' within 2s"):
        with mk() as p:
            _ = p | "Src" >> ReadFromKafka(servers, topics=["t"], stop="end", connect_timeout=2)
