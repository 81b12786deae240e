"""ReadFromKafka and WriteToKafka on the Beam runner, pure Python (kafka-python in DoFns), against
the local Tansu broker: bounded reads with per-record timestamps, deserializers and dead letters,
windows and combines downstream with the same result as the direct runner, unbounded reads and
exactly-once sinks refused at translation."""

from __future__ import annotations

import json

import pytest

import fluvial as fl
from fluvial.errors import UnsupportedFeatureError
from fluvial.transforms import Map, Sum
from fluvial.transforms.kafka import KafkaRecord, ReadFromKafka, WriteToKafka

from .support import collect, pipeline, produce, read_raw

RUNNERS = ["direct", "beam"]

# 3 partitions; per partition, records in timestamp order (no late data on either runner)
ORDERS = [
    (f"u{i % 4}", json.dumps({"user": f"u{i % 4}", "amount": i}), i % 3, 1_000 + 1_000 * i)
    for i in range(24)
]
MALFORMED = [("bad-key", "{not json", 1, 30_000), (None, "", 2, 31_000)]


def fill(servers: str, topic: str) -> None:
    produce(servers, topic, ORDERS + MALFORMED)


def expected_window_sums() -> list[tuple[str, int, int]]:
    """(user, window start ms, sum) over 10 s windows, computed from ORDERS directly."""
    sums: dict[tuple[str, int], int] = {}
    for key, value, _, ts in ORDERS:
        w = ts // 10_000 * 10_000
        sums[(key, w)] = sums.get((key, w), 0) + json.loads(value)["amount"]
    return sorted((k, w, s) for (k, w), s in sums.items())


def windowed_sums(p, servers, topic, **read_kw):
    orders = p | "Orders" >> ReadFromKafka(
        servers, topics=[topic], key_deserializer="str", value_deserializer="json",
        stop="end", on_error="dead_letter", **read_kw)
    return (
        orders
        | "Amount" >> Map(lambda kv: (kv[0], kv[1]["amount"]))
        | fl.WindowInto(fl.FixedWindows(10))
        | "Sum" >> Sum.PerKey()
    )


@pytest.mark.parametrize("argv", [["direct"], ["beam"],
                                  ["beam", "--beam-runner", "BundleBasedDirectRunner"]],
                         ids=["direct", "beam-fnapi", "beam-bundle-based"])
def test_bounded_read_windows_combines_and_dead_letters(tmp_path, kafka_broker, kafka_topic, argv):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=3)
    fill(s, t)
    p = pipeline(*argv)
    sums = collect(windowed_sums(p, s, t), tmp_path, "Sums")
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    p.run()
    got = sorted((k, bounds[0], total) for (k, total), _, bounds in sums.rows())
    assert got == expected_window_sums()
    # every window's result carries its end - 1 ms
    assert {ts - b[0] for _, ts, b in sums.rows()} == {9_999}
    recs = sorted(dead.values(), key=lambda r: r.partition)
    assert [(r.transform, r.error_type, r.payload, r.key, r.topic, r.partition, r.offset,
             r.timestamp_ms) for r in recs] == [
        # ReadFromKafka's label, as the docs say (not that of its Read primitive)
        ("Orders", "JSONDecodeError", b"{not json", b"bad-key", t, 1, 8, 30_000),
        ("Orders", "JSONDecodeError", b"", None, t, 2, 8, 31_000),
    ]


def test_same_pipeline_same_output_on_direct_and_beam(tmp_path, kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=3)
    fill(s, t)
    out = {}
    for runner in RUNNERS:
        p = pipeline(runner)
        sums = collect(windowed_sums(p, s, t), tmp_path, f"Sums-{runner}")
        dead = collect(p.dead_letters() | "Where" >> Map(
            lambda r: (r.topic, r.partition, r.offset, r.error_type, r.message, r.payload)),
            tmp_path, f"Dead-{runner}")
        p.run()
        out[runner] = (sorted(sums.rows()), sorted(dead.rows()))
    assert out["direct"] == out["beam"]
    assert len(out["beam"][0]) == len(expected_window_sums()) and len(out["beam"][1]) == 2


def test_explicit_start_and_stop_offsets_with_metadata(tmp_path, kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=3)
    fill(s, t)  # partition p holds ORDERS i with i % 3 == p at offsets 0..7, then malformed
    p = pipeline("beam")
    recs = p | ReadFromKafka(
        s, partitions=[(t, 0), (t, 1)], start={(t, 0): 2, (t, 1): 5},
        stop={(t, 0): 4, (t, 1): 8}, value_deserializer="json", with_metadata=True,
        timestamp_fn=lambda r: r.value["amount"] * 10)
    got = collect(recs, tmp_path)
    p.run()
    rows = sorted(got.rows(), key=lambda r: (r[0].partition, r[0].offset))
    assert [(r.partition, r.offset, r.value["amount"], ts) for r, ts, _ in rows] == [
        (0, 2, 6, 60), (0, 3, 9, 90), (1, 5, 16, 160), (1, 6, 19, 190), (1, 7, 22, 220)]
    assert all(isinstance(r, KafkaRecord) and r.topic == t for r, _, _ in rows)


def test_skip_policy_counts_malformed_records(tmp_path, kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=3)
    fill(s, t)
    p = pipeline("beam", "--on-error", "skip")
    got = collect(p | "Orders" >> ReadFromKafka(s, topics=[t], value_deserializer="json",
                                                stop="end"), tmp_path)
    result = p.run()
    assert sorted(v["amount"] for _, v in got.values()) == list(range(24))
    q = result.metrics().query(namespace="fluvial", name="errors_skipped")
    assert {k.step: v for k, v in q.counters.items()} == {"Orders": 2}


def test_fail_policy_names_the_transform_and_record(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=1)
    produce(s, t, [(None, "{oops", 0, 5)])
    p = pipeline("beam")
    _ = p | "Orders" >> ReadFromKafka(s, topics=[t], value_deserializer="json", stop="end")
    with pytest.raises(Exception, match="transform 'Orders'") as ei:
        p.run()
    assert "{oops" in str(ei.value)


def test_a_record_with_an_out_of_range_event_time_is_a_dead_letter(tmp_path, kafka_broker,
                                                                   kafka_topic):
    """Issue 11 item 8 on Beam: a record ten years ahead of the wall clock goes to the read's
    policy with its raw value and where it was read, as on the direct runner."""
    import time

    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=1)
    far = int((time.time() + 10 * 365 * 86_400) * 1000)
    produce(s, t, [("k0", "a", 0, 10_000), ("kf", "far", 0, far), ("k1", "b", 0, 11_000)])
    p = pipeline("beam")
    got = collect(p | "Orders" >> ReadFromKafka(s, topics=[t], value_deserializer="str",
                                                stop="end", on_error="dead_letter"), tmp_path)
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    p.run()
    assert sorted((v, ts) for v, ts, _ in got.rows()) == [
        ((b"k0", "a"), 10_000), ((b"k1", "b"), 11_000)]
    assert [(r.transform, r.error_type, r.payload, r.key, r.topic, r.partition, r.offset,
             r.timestamp_ms) for r in dead.values()] == [
        ("Orders", "EventTimeOutOfRangeError", b"far", b"kf", t, 0, 1, None)]


def test_unbounded_read_is_refused_naming_the_transform(kafka_broker):
    p = pipeline("beam")
    _ = p | "Live" >> ReadFromKafka(kafka_broker.bootstrap_servers, topics=["never-read"])
    with pytest.raises(UnsupportedFeatureError) as ei:
        p.run()
    assert ei.value.label == "Live/Read"
    assert "unbounded" in ei.value.feature and "stop='end'" in ei.value.feature


def test_missing_stop_offset_for_a_partition_is_a_clear_error(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    p = pipeline("beam")
    _ = p | "Orders" >> ReadFromKafka(s, topics=[t], stop={(t, 0): 1})
    with pytest.raises(Exception, match=f"stop gives no offset for partition.*{t}/1"):
        p.run()


# -- the splittable read's restrictions -----------------------------------------------------


def test_one_offset_range_restriction_per_partition():
    from apache_beam.io.restriction_trackers import OffsetRange

    from fluvial.runners.beam.kafka import PartitionRange, ReadKafkaPartitionFn, _OffsetRanges

    prov = _OffsetRanges()
    el = PartitionRange("t", 2, 5, 12)
    r = prov.initial_restriction(el)
    assert r == OffsetRange(5, 12) and prov.restriction_size(el, r) == 7
    tracker = prov.create_tracker(r)
    assert tracker.try_claim(5) and tracker.try_claim(9)  # gaps (e.g. markers) are fine
    primary, residual = tracker.try_split(0.5)  # Beam can split a partly read range
    assert primary.start == 5 and residual.stop == 12 and primary.stop == residual.start
    assert not tracker.try_claim(residual.start)
    tracker.check_done()
    fn = ReadKafkaPartitionFn({"key_deserializer": "bytes", "value_deserializer": "json"}, "R", None)
    fn.setup()
    assert fn.vd(b'{"a": 1}') == {"a": 1} and fn.vd(None) is None


# -- WriteToKafka -----------------------------------------------------------------------------


def test_write_at_least_once_round_trip(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=1)
    p = pipeline("beam")
    data = [fl.TimestampedValue((f"k{i}", {"n": i}), 10 + i) for i in range(20)]
    _ = p | fl.Create(data) | "Out" >> WriteToKafka(s, t, key_serializer="str",
                                                    value_serializer="json")
    result = p.run()
    raw = read_raw(s, t)
    assert sorted((r.key, json.loads(r.value)["n"], r.timestamp) for r in raw) == sorted(
        (f"k{i}".encode(), i, (10 + i) * 1000) for i in range(20))
    q = result.metrics().query(namespace="fluvial", name="elements_written")
    assert q.counter("elements_written") == 20


@pytest.mark.parametrize("policy", ["dead_letter", "skip"])
def test_bad_elements_follow_the_writes_on_error(tmp_path, kafka_broker, kafka_topic, policy):
    """As on the direct runner: the NaN value (not JSON) and the non-pair leave the bundle, the
    others are written; a dead letter carries WriteToKafka's label and the reason."""
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=1)
    els = [fl.TimestampedValue(e, 1 + i) for i, e in enumerate(
        [("a", {"n": 1}), ("b", {"n": float("nan")}), "no pair", ("c", {"n": 3})])]
    p = pipeline("beam")
    _ = p | fl.Create(els) | "Out" >> WriteToKafka(s, t, key_serializer="str",
                                                   value_serializer="json", on_error=policy)
    dead = collect(p.dead_letters(), tmp_path, "Dead") if policy == "dead_letter" else None
    result = p.run()
    assert sorted((r.key, r.value) for r in read_raw(s, t)) == [
        (b"a", b'{"n":1}'), (b"c", b'{"n":3}')]
    if dead is None:
        q = result.metrics().query(namespace="fluvial", name="errors_skipped")
        assert q.counter("errors_skipped") == 2
        return
    recs = sorted(dead.values(), key=lambda r: r.timestamp_ms)
    assert [(r.transform, repr(r.payload), r.timestamp_ms, r.topic) for r in recs] == [
        ("Out", "('b', {'n': nan})", 2000, t), ("Out", "'no pair'", 3000, t)]
    assert "JSON cannot hold the non-finite float" in recs[0].message
    assert "must be (key, value) pairs" in recs[1].message


def test_read_transform_write_between_topics(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    src, dst = kafka_topic(partitions=3), kafka_topic(partitions=1)
    produce(s, src, ORDERS)
    p = pipeline("beam")
    _ = (p | ReadFromKafka(s, topics=[src], key_deserializer="str", value_deserializer="json",
                           stop="end")
         | Map(lambda kv: (kv[0], kv[1]["amount"] * 2))
         | WriteToKafka(s, dst, key_serializer="str", value_serializer="json"))
    p.run()
    got = sorted((r.key.decode(), json.loads(r.value), r.timestamp) for r in read_raw(s, dst))
    want = sorted((k, json.loads(v)["amount"] * 2, ts) for k, v, _, ts in ORDERS)
    assert got == want


def test_exactly_once_write_is_refused_unless_at_least_once_is_accepted(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=1)

    def build(p):
        _ = p | fl.Create([("k", "v")]) | "Out" >> WriteToKafka(
            s, t, key_serializer="str", value_serializer="str", delivery="exactly_once")

    p = pipeline("beam")
    build(p)
    with pytest.raises(UnsupportedFeatureError) as ei:
        p.run()
    assert ei.value.label == "Out/Write"
    assert "delivery='exactly_once'" in ei.value.feature
    assert "--beam-sink-guarantee at_least_once" in ei.value.feature
    assert "checkpoint complete" in ei.value.feature
    assert read_raw(s, t) == []  # refused before anything ran

    # accepted: the transactional writer commits each bundle (at-least-once under retries)
    p = pipeline("beam", "--beam-sink-guarantee", "at_least_once")
    build(p)
    p.run()
    assert [(r.key, r.value) for r in read_raw(s, t)] == [(b"k", b"v")]
