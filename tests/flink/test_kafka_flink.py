"""ReadFromKafka and WriteToKafka on the Flink runner against the local Tansu broker: Flink's
KafkaSource and KafkaSink with the connector jars the tests obtain (kafka_jars.py), fluvial's
deserializers, timestamps, dead letters and start/stop offsets, exactly-once and at-least-once
writes, and the errors for missing jars and impossible guarantees.

Tansu deviations handled as in the other Kafka tests: a read_committed consumer there also sees
records of aborted transactions, so exactly-once output is checked on the read_committed view
rebuilt from the raw log (tests/support/committed_view.py); its ListOffsets by timestamp answers
wrongly, so the timestamp start is checked against the broker's own answer."""

from __future__ import annotations

import json

import pytest

import fluvial as fl
from fluvial.errors import FluvialError, UnsupportedFeatureError, UserCodeError
from fluvial.metrics import MetricKey
from fluvial.transforms import Map, Sum
from fluvial.transforms.deadletter import DeadLettersToDicts
from fluvial.transforms.kafka import KafkaRecord, ReadFromKafka, WriteToKafka

from .kafka_jars import kafka_jars
from .support import pipeline, record, recorded, values

T0 = 1_700_000_000_000  # epoch ms of the first record


@pytest.fixture(scope="module")
def jars() -> str:
    return ",".join(kafka_jars())


def produce(servers: str, topic: str, records: list[tuple]) -> None:
    """(key, value, partition, timestamp_ms); str values as UTF-8, dicts as JSON."""
    from kafka import KafkaProducer

    def enc(x):
        if x is None or isinstance(x, bytes):
            return x
        return (x if isinstance(x, str) else json.dumps(x)).encode()

    prod = KafkaProducer(bootstrap_servers=servers, linger_ms=5)
    for k, v, part, ts in records:
        prod.send(topic, key=enc(k), value=enc(v), partition=part, timestamp_ms=ts)
    prod.flush()
    prod.close()


def committed(servers: str, topic: str) -> list:
    import committed_view  # tests/support

    return committed_view.committed_view(servers, topic)


# partition p holds the orders i with i % 2 == p, in timestamp order, then one malformed record
ORDERS = [(f"u{i % 3}", {"user": f"u{i % 3}", "amount": i}, i % 2, T0 + 1_000 * i)
          for i in range(10)]
MALFORMED = [("bad-key", "{not json", 1, T0 + 30_000)]


def test_bounded_read_decodes_timestamps_and_dead_letters(tmp_path, kafka_broker, kafka_topic,
                                                          jars):
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=2)
    produce(s, t, ORDERS + MALFORMED)
    p = pipeline("--flink-jars", jars)
    orders = p | "Orders" >> ReadFromKafka(s, topics=[t], stop="end", key_deserializer="str",
                                           value_deserializer="json", on_error="dead_letter")
    record(orders | "Amount" >> Map(lambda kv: (kv[0], kv[1]["amount"])), str(tmp_path / "o"),
           "RecordOrders")
    record(p.dead_letters() | DeadLettersToDicts(), str(tmp_path / "d"), "RecordDead")
    (tmp_path / "o").mkdir()
    (tmp_path / "d").mkdir()
    result = p.run()
    assert sorted((v, ts) for v, _, ts, _ in recorded(str(tmp_path / "o"))) == sorted(
        ((k, v["amount"]), ts) for k, v, _, ts in ORDERS)
    (dead,) = values(str(tmp_path / "d"))
    assert (dead["transform"], dead["error_type"], dead["topic"], dead["partition"],
            dead["offset"], dead["timestamp_ms"]) == (
        "Orders", "JSONDecodeError", t, 1, 5, T0 + 30_000)
    assert (dead["payload"], dead["key"]) == ({"bytes_b64": "e25vdCBqc29u"}, {"bytes_b64": "YmFkLWtleQ=="})
    counters = result.metrics().counters
    # records, errors and dead letters carry ReadFromKafka's label, not its Read primitive's
    assert counters[MetricKey("Orders", "fluvial", "dead_letters")] == 1
    assert counters[MetricKey("Orders", "fluvial", "records_read")] == 11


def test_explicit_offsets_metadata_and_timestamp_fn(tmp_path, kafka_broker, kafka_topic, jars):
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=2)
    produce(s, t, ORDERS)  # partition 0: amounts 0,2,4,6,8; partition 1: 1,3,5,7,9
    p = pipeline("--flink-jars", jars)
    recs = p | ReadFromKafka(s, partitions=[(t, 0), (t, 1)], start={(t, 0): 1, (t, 1): 3},
                             stop={(t, 0): 3, (t, 1): 5}, value_deserializer="json",
                             with_metadata=True, timestamp_fn=lambda r: r.value["amount"] * 10)
    record(recs | Map(lambda r: (type(r) is KafkaRecord, r.topic == t, r.partition, r.offset,
                                 r.value["amount"], r.key)), str(tmp_path))
    p.run()
    assert sorted((v, ts) for v, _, ts, _ in recorded(str(tmp_path))) == [
        ((True, True, 0, 1, 2, b"u2"), 20), ((True, True, 0, 2, 4, b"u1"), 40),
        ((True, True, 1, 3, 7, b"u1"), 70), ((True, True, 1, 4, 9, b"u0"), 90)]


def test_committed_start_continues_after_the_previous_bounded_run(tmp_path, kafka_broker,
                                                                    kafka_topic, jars):
    """Without --checkpoint-dir the runner commits a bounded read's stop offsets to its group
    once the run succeeded; the next read with start="committed" reads only what came after."""
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=2)
    produce(s, t, ORDERS[:6])
    group = f"g-{t}"

    def run(sub: str) -> list:
        (tmp_path / sub).mkdir()
        p = pipeline("--flink-jars", jars)
        got = p | ReadFromKafka(s, topics=[t], group_id=group, start="committed", stop="end",
                                value_deserializer="json")
        record(got | Map(lambda kv: kv[1]["amount"]), str(tmp_path / sub))
        p.run()
        return sorted(values(str(tmp_path / sub)))

    assert run("first") == [0, 1, 2, 3, 4, 5]
    produce(s, t, ORDERS[6:])
    assert run("second") == [6, 7, 8, 9]


def test_timestamp_start_follows_the_brokers_offsets_for_times(tmp_path, kafka_broker,
                                                               kafka_topic, jars):
    """start=<time> starts each partition where Kafka's ListOffsets by timestamp points. Tansu
    answers that query wrongly (offset 0 for any time), so the check is against its own answer
    (asked here), as in tests/kafka/test_read.py."""
    from kafka import KafkaConsumer, TopicPartition

    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    produce(s, t, [(None, f"v{i}", 0, T0 + i) for i in range(8)])
    c = KafkaConsumer(bootstrap_servers=s)
    found = c.offsets_for_times({TopicPartition(t, 0): T0 + 5})[TopicPartition(t, 0)]
    c.close()
    p = pipeline("--flink-jars", jars)
    got = p | ReadFromKafka(s, topics=[t], start=T0 + 5, stop="end", value_deserializer="str")
    record(got | Map(lambda kv: kv[1]), str(tmp_path))
    p.run()
    assert sorted(values(str(tmp_path))) == [f"v{i}" for i in range(found.offset, 8)]


def test_fail_policy_names_the_transform_and_the_record(kafka_broker, kafka_topic, jars):
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    produce(s, t, [("k", "{broken", 0, T0)])
    p = pipeline("--flink-jars", jars)
    _ = p | "In" >> ReadFromKafka(s, topics=[t], stop="end", value_deserializer="json",
                                  on_error="fail")
    with pytest.raises(UserCodeError) as ei:
        p.run()
    assert (ei.value.label, ei.value.element) == ("In", b"{broken")


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_read_map_write_between_topics(kafka_broker, kafka_topic, jars, delivery):
    s = kafka_broker.bootstrap_servers
    t_in, t_out = kafka_topic(partitions=2), kafka_topic(partitions=1)
    produce(s, t_in, ORDERS)
    p = pipeline("--flink-jars", jars)
    (p
     | ReadFromKafka(s, topics=[t_in], stop="end", key_deserializer="str",
                     value_deserializer="json")
     | Map(lambda kv: (kv[0], {"doubled": kv[1]["amount"] * 2}))
     | WriteToKafka(s, topic=t_out, key_serializer="str", value_serializer="json",
                    delivery=delivery))
    result = p.run()
    view = committed(s, t_out)
    assert sorted(view.pairs()) == sorted(
        (k.encode(), json.dumps({"doubled": v["amount"] * 2}, separators=(",", ":")).encode())
        for k, v, _, _ in ORDERS)
    # the record timestamps are the elements' event times (the input records')
    assert sorted(r.timestamp_ms for r in view.committed) == sorted(ts for *_, ts in ORDERS)
    if delivery == "exactly_once":
        assert view.commit_markers >= 1 and not view.open
    assert result.metrics().counters[MetricKey("WriteToKafka", "fluvial",
                                               "elements_written")] == 10


def test_exactly_once_write_commits_at_checkpoints(tmp_path, kafka_broker, kafka_topic, jars):
    s = kafka_broker.bootstrap_servers
    t_out = kafka_topic(partitions=1)
    p = pipeline("--flink-jars", jars, "--checkpoint-dir", str(tmp_path / "ck"),
                 "--checkpoint-interval", "0.2")
    (p | fl.Create([fl.TimestampedValue((f"k{i}", i), 1_700_000_000 + i) for i in range(30)])
       | Map(lambda kv: (kv[0], kv[1]))
       | WriteToKafka(s, topic=t_out, key_serializer="str", value_serializer="json",
                      delivery="exactly_once"))
    p.run()
    view = committed(s, t_out)
    assert sorted(view.pairs()) == sorted((f"k{i}".encode(), str(i).encode()) for i in range(30))
    assert sorted(r.timestamp_ms for r in view.committed) == [
        (1_700_000_000 + i) * 1000 for i in range(30)]


def test_elements_that_are_not_pairs_are_bad_records(kafka_broker, kafka_topic, jars):
    from fluvial.errors import BadRecordError

    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    p = pipeline("--flink-jars", jars)
    _ = p | fl.Create([1]) | "Out" >> WriteToKafka(s, topic=t, value_serializer="json")
    with pytest.raises(BadRecordError, match="transform 'Out' .*key, value"):
        p.run()


def test_bad_elements_follow_the_writes_on_error(tmp_path, kafka_broker, kafka_topic, jars):
    """As on the direct runner: the NaN value (not JSON) and the non-pair go to the dead
    letters with the reason and WriteToKafka's label; the others are written."""
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    els = [fl.TimestampedValue(e, 1 + i) for i, e in enumerate(
        [("a", {"n": 1}), ("b", {"n": float("nan")}), "no pair", ("c", {"n": 3})])]
    p = pipeline("--flink-jars", jars)
    _ = p | fl.Create(els) | "Out" >> WriteToKafka(s, topic=t, key_serializer="str",
                                                   value_serializer="json", on_error="dead_letter")
    record(p.dead_letters() | DeadLettersToDicts(), str(tmp_path), "RecordDead")
    result = p.run()
    assert sorted(committed(s, t).pairs()) == [(b"a", b'{"n":1}'), (b"c", b'{"n":3}')]
    dead = sorted(values(str(tmp_path)), key=lambda d: d["timestamp_ms"])
    assert [(d["transform"], d["error_type"], d["timestamp_ms"], d["topic"]) for d in dead] == [
        ("Out", "ValueError", 2000, t), ("Out", "ValueError", 3000, t)]
    assert "JSON cannot hold the non-finite float" in dead[0]["message"]
    assert dead[1]["payload"] == "no pair" and "must be (key, value) pairs" in dead[1]["message"]
    assert result.metrics().counters[MetricKey("Out", "fluvial", "dead_letters")] == 2


def test_a_record_with_an_out_of_range_event_time_is_a_dead_letter(tmp_path, kafka_broker,
                                                                   kafka_topic, jars):
    """Issue 11 item 8 on Flink: a record ten years ahead of the wall clock goes to the
    read's policy with its raw value and where it was read (as on the direct runner), never
    to the partition watermarks, so the valid records after it are on time."""
    import time

    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    far = int((time.time() + 10 * 365 * 86_400) * 1000)
    produce(s, t, [("k0", "a", 0, 10_000), ("kf", "far", 0, far), ("k1", "b", 0, 11_000),
                   ("k2", "c", 0, 12_000)])
    p = pipeline("--flink-jars", jars)
    counts = (p | "Orders" >> ReadFromKafka(s, topics=[t], stop="end", value_deserializer="str",
                                            max_out_of_orderness=1, on_error="dead_letter")
              | fl.WindowInto(fl.FixedWindows(60)) | Map(lambda kv: ("n", 1)) | Sum.PerKey())
    (tmp_path / "c").mkdir()
    (tmp_path / "d").mkdir()
    record(counts, str(tmp_path / "c"), "RecordCounts")
    record(p.dead_letters() | DeadLettersToDicts(), str(tmp_path / "d"), "RecordDead")
    p.run()
    assert values(str(tmp_path / "c")) == [("n", 3)]
    (dead,) = values(str(tmp_path / "d"))
    assert (dead["transform"], dead["error_type"], dead["offset"], dead["key"],
            dead["payload"], dead["timestamp_ms"]) == (
        "Orders", "EventTimeOutOfRangeError", 1, {"bytes_b64": "a2Y="},
        {"bytes_b64": "ZmFy"}, None)


def test_missing_connector_jar_is_named(kafka_broker, kafka_topic):
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    p = pipeline()
    _ = p | "In" >> ReadFromKafka(s, topics=[t], stop="end")
    with pytest.raises(FluvialError, match="'In/Read'.*flink-connector-kafka, kafka-clients"):
        p.run()


def test_unbounded_read_into_an_exactly_once_file_sink_needs_checkpoints(tmp_path, kafka_broker,
                                                                         kafka_topic, jars):
    from fluvial.transforms.io import WriteToText

    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    p = pipeline("--flink-jars", jars)
    (p | ReadFromKafka(s, topics=[t], value_deserializer="str") | Map(lambda kv: kv[1])
       | "Out" >> WriteToText(str(tmp_path / "t")))
    with pytest.raises(UnsupportedFeatureError, match="'Out/Write'.*--checkpoint-dir"):
        p.run()


def test_per_partition_watermarks_close_windows_like_the_direct_runner(tmp_path, kafka_broker,
                                                                       kafka_topic, jars):
    """Two partitions, 10 s windows summed per user: the same output as the direct runner
    (per-partition watermarks: no record is late, every window fires once)."""
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=2)
    produce(s, t, ORDERS)
    out = {}
    for runner in ("direct", "flink"):
        d = tmp_path / runner
        d.mkdir()
        p = fl.Pipeline(argv=["--runner", runner, "--flink-jars", jars])
        sums = (p | ReadFromKafka(s, topics=[t], stop="end", key_deserializer="str",
                                  value_deserializer="json", max_out_of_orderness=1)
                | Map(lambda kv: (kv[0], kv[1]["amount"]))
                | fl.WindowInto(fl.FixedWindows(4))
                | Sum.PerKey())
        record(sums, str(d))
        p.run()
        out[runner] = sorted(recorded(str(d)))
    expected: dict = {}
    for k, v, _, ts in ORDERS:
        w = (ts // 4000 * 4000, ts // 4000 * 4000 + 4000)
        expected[(k, w)] = expected.get((k, w), 0) + v["amount"]
    assert sorted((k, w, n) for (k, n), w, _, _ in out["flink"]) == sorted(
        (k, w, n) for (k, w), n in expected.items())
    assert out["flink"] == out["direct"]
