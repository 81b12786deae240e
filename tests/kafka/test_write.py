"""WriteToKafka, on each client backend: at-least-once and exactly-once writes, aborts, fencing
and recovery, bad elements.

The broker of the tests (Tansu) returns records of aborted transactions to read_committed
consumers, so committed output is checked with ``committed_view`` (tests/support), which replays
the log's transaction control markers as a read_committed consumer of Kafka would. The control
markers themselves (COMMIT / ABORT counts) are asserted too."""

from __future__ import annotations

import pytest
from committed_view import committed_view
from kafka_support import collect, frame_local, options, pipeline, read_raw

import fluvial as fl
from fluvial.errors import BadRecordError, PipelineConstructionError
from fluvial.options import PipelineOptions
from fluvial.pane import NO_FIRING
from fluvial.source import SourceContext
from fluvial.transforms import Map
from fluvial.transforms.kafka import (
    KafkaIOError,
    KafkaSink,
    ReadFromKafka,
    TransactionalKafkaWriter,
    WriteToKafka,
)
from fluvial.transforms.kafka.writer import unpack_records
from fluvial.values import GLOBAL_WINDOWS, WindowedValue

pytestmark = pytest.mark.usefixtures("kafka_client")


def _elements(n: int, tag: str = "v") -> list:
    return [(f"k{i}", f"{tag}{i}") for i in range(n)]


def _wv(els: list) -> list:
    return [WindowedValue(e, 1_000 + i, GLOBAL_WINDOWS, NO_FIRING) for i, e in enumerate(els)]


def _writer(servers: str, topic: str, prefix: str, opts: PipelineOptions | None = None,
            **kw) -> TransactionalKafkaWriter:
    sink = KafkaSink(**WriteToKafka(servers, topic, key_serializer="str", value_serializer="str",
                                    delivery="exactly_once", transactional_id_prefix=prefix,
                                    **kw).cfg)
    opts = opts if opts is not None else options(checkpoint_dir="/unused")
    w = sink.open(SourceContext(opts, None, "Write"))
    assert isinstance(w, TransactionalKafkaWriter)
    return w


def test_at_least_once_writes_every_element_with_its_timestamp(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    out = kafka_topic(partitions=2)
    els = [fl.TimestampedValue(e, 5 + i) for i, e in enumerate(_elements(50))]
    with pipeline() as p:
        _ = p | fl.Create(els) | WriteToKafka(s, out, key_serializer="str", value_serializer="str")
    recs = read_raw(s, out)
    assert sorted((r.key, r.value, r.timestamp) for r in recs) == sorted(
        (f"k{i}".encode(), f"v{i}".encode(), (5 + i) * 1000) for i in range(50))


def test_value_only_elements_with_key_fn_and_json(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    with pipeline() as p:
        _ = (p | fl.Create([{"id": 1}, {"id": 2}])
               | WriteToKafka(s, out, key_fn=lambda d: str(d["id"]), key_serializer="str",
                              value_serializer="json"))
    assert sorted((r.key, r.value) for r in read_raw(s, out)) == [
        (b"1", b'{"id":1}'), (b"2", b'{"id":2}')]


def test_exactly_once_pipeline_commits_one_transaction_per_checkpoint(kafka_broker, kafka_topic,
                                                                      tmp_path):
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    with pipeline("--checkpoint-dir", str(tmp_path), "--checkpoint-interval", "0",
                  "--batch-size", "10") as p:
        _ = (p | fl.Create(_elements(45))
               | WriteToKafka(s, out, key_serializer="str", value_serializer="str",
                              delivery="exactly_once"))
    view = committed_view(s, out)
    assert sorted(view.values()) == sorted(f"v{i}".encode() for i in range(45))
    assert view.aborted == [] and view.open == []
    # the runner hands the sink batches of 10 (5 batches: 10, 10, 10, 10, 5) and, with interval
    # 0, checkpoints after each: one transaction per batch, each with one COMMIT marker on the
    # topic's one partition. The final checkpoint finds nothing written: its transaction holds
    # only the epoch marker (no record in this topic, so no marker here).
    assert view.abort_markers == 0 and view.commit_markers == 5


def test_abort_discards_the_open_transaction(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    w = _writer(s, out, f"abort-{out}")
    w.write(_wv(_elements(5)))
    w.snapshot(1)
    w.abort()
    view = committed_view(s, out)
    assert view.committed == [] and view.abort_markers == 1
    assert sorted(r.value for r in view.aborted) == sorted(f"v{i}".encode() for i in range(5))


def test_restarted_writer_fences_the_old_one_and_recommits_the_pending_epoch(kafka_broker,
                                                                             kafka_topic):
    """Writer A pre-commits epoch 1 (snapshot) and dies before its commit; writer B with the same
    transactional id fences A, aborts A's transaction, finds epoch 1 not committed in the marker
    group and produces the checkpointed records again, committed once.

    Fencing is observed as in Kafka: the old producer's next produce request is refused (its
    next flush fails naming the fencing). (On Tansu an EndTxn alone from the fenced producer is
    retried by the clients instead of failing, so the test makes the zombie produce once more.)"""
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    a = _writer(s, out, f"fence-{out}")
    a.write(_wv(_elements(4)))
    state = a.snapshot(1)
    assert isinstance(state["records"], bytes)  # one marshal blob (pack_records)
    b = _writer(s, out, f"fence-{out}")
    a.pending = None  # the zombie writes on, in its (aborted) transaction
    a.write(_wv([("z", "zombie")]))
    with pytest.raises(KafkaIOError, match="(?i)fenc"):
        a.snapshot(2)
    a.abort()
    b.restore(state)
    b.write(_wv(_elements(2, tag="after")))
    b.notify_checkpoint_complete(2)  # nothing pending yet: no commit
    b.snapshot(2)
    b.notify_checkpoint_complete(2)
    b.close()
    view = committed_view(s, out)
    assert view.values() == [b"v0", b"v1", b"v2", b"v3", b"after0", b"after1"]
    assert sorted(r.value for r in view.aborted) == [b"v0", b"v1", b"v2", b"v3"]
    assert view.abort_markers == 1 and view.commit_markers == 2


def test_restore_of_an_epoch_already_committed_produces_nothing_again(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    a = _writer(s, out, f"done-{out}")
    a.write(_wv(_elements(3)))
    state = a.snapshot(1)
    a.notify_checkpoint_complete(1)  # committed; the process dies before its next checkpoint
    a.write(_wv(_elements(2, tag="lost")))
    b = _writer(s, out, f"done-{out}")  # fences a, aborting the open "lost" transaction
    b.restore(state)
    b.close()
    view = committed_view(s, out)
    assert view.values() == [b"v0", b"v1", b"v2"]
    assert sorted(r.value for r in view.aborted) == [b"lost0", b"lost1"]
    assert view.commit_markers == 1 and view.abort_markers == 1


def test_restore_of_a_pending_epoch_whose_records_an_earlier_fluvial_kept_as_a_list(
        kafka_broker, kafka_topic):
    """Checkpoints written before the records were packed hold them as a list of tuples: a
    restore produces them again all the same, committed once."""
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    a = _writer(s, out, f"list-{out}")
    a.write(_wv(_elements(3)))
    state = a.snapshot(1)
    a.abort()  # dies before the commit: epoch 1 never committed
    earlier = {**state, "records": unpack_records(state["records"])}
    assert isinstance(earlier["records"], list) and len(earlier["records"]) == 3
    b = _writer(s, out, f"list-{out}")
    b.restore(earlier)
    b.close()
    view = committed_view(s, out)
    assert view.values() == [b"v0", b"v1", b"v2"]
    assert view.commit_markers == 1


# -- exactly-once settings checked when the writer opens --------------------------------------

def test_exactly_once_on_unbounded_input_without_checkpoint_dir_is_refused(kafka_broker,
                                                                           kafka_topic):
    s = kafka_broker.bootstrap_servers
    src, out = kafka_topic(), kafka_topic()
    p = pipeline()
    _ = (p | ReadFromKafka(s, topics=[src])  # no stop: unbounded
           | "Out" >> WriteToKafka(s, out, delivery="exactly_once"))
    with pytest.raises(PipelineConstructionError,
                       match=r"'Out'.*unbounded input needs --checkpoint-dir"):
        p.run()
    assert read_raw(s, out) == []


def test_checkpoint_interval_not_shorter_than_the_transaction_timeout_is_refused(
        kafka_broker, kafka_topic, tmp_path):
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    p = pipeline("--checkpoint-dir", str(tmp_path), "--checkpoint-interval", "30")
    _ = (p | fl.Create(_elements(3))
           | "Out" >> WriteToKafka(s, out, key_serializer="str", value_serializer="str",
                                   delivery="exactly_once", transaction_timeout_ms=30_000))
    with pytest.raises(PipelineConstructionError) as ei:
        p.run()
    msg = str(ei.value)
    assert "'Out'" in msg and "--checkpoint-interval 30 s" in msg
    assert "transaction_timeout_ms=30000" in msg


def test_bounded_exactly_once_without_checkpoints_commits_one_transaction(kafka_broker,
                                                                         kafka_topic):
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    with pipeline("--batch-size", "10") as p:
        _ = (p | fl.Create(_elements(45))
               | WriteToKafka(s, out, key_serializer="str", value_serializer="str",
                              delivery="exactly_once"))
    view = committed_view(s, out)
    assert sorted(view.values()) == sorted(f"v{i}".encode() for i in range(45))
    assert view.commit_markers == 1 and view.abort_markers == 0


def test_without_checkpoints_the_writer_keeps_no_records_in_memory(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    w = _writer(s, out, f"nokeep-{out}", opts=options())
    w.write(_wv(_elements(20)))
    assert w.epoch_records == []
    assert w.snapshot(1)["records"] == []
    w.notify_checkpoint_complete(1)
    w.close()
    assert sorted(committed_view(s, out).values()) == sorted(
        f"v{i}".encode() for i in range(20))


def test_failed_init_transactions_closes_the_producer(kafka_broker, kafka_topic, monkeypatch,
                                                     kafka_client):
    """The client's InitProducerId fails (here: made to): the writer's error names the
    transform and the transactional id, and the producer it opened is closed."""
    from fluvial.transforms.kafka.clients import backend

    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    cls = type(backend(kafka_client, "t").producer("t", s, 10, linger_ms=5, batch_size=1024,
                                                   compression_type=None, client_id="t",
                                                   transactional_id=None,
                                                   transaction_timeout_ms=None, config={}))

    def refuse(self, timeout):
        raise KafkaIOError("InitProducerId refused by the broker")

    monkeypatch.setattr(cls, "init_transactions", refuse)
    with pytest.raises(KafkaIOError, match="'Write': the producer could not initialize "
                                           f"transactions for transactional id 'noinit-{out}-0'"
                                           ": InitProducerId refused") as ei:
        _writer(s, out, f"noinit-{out}")
    assert frame_local(ei, "producer", cls).closed


# -- timestamps -------------------------------------------------------------------------------

def test_event_time_zero_is_written_as_the_record_timestamp(kafka_broker, kafka_topic,
                                                            kafka_client):
    """kafka-python writes event time 0 as the record timestamp 0. librdkafka reads a record
    timestamp of 0 as "now", so the confluent backend cannot write it: the element is a bad
    record, not silently restamped."""
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    els = [fl.TimestampedValue(("b", "later"), 0.001), fl.TimestampedValue(("a", "epoch"), 0)]
    if kafka_client == "confluent":
        with pytest.raises(BadRecordError, match="event time is 0 ms.*cannot write"):
            with pipeline() as p:
                _ = p | fl.Create(els) | WriteToKafka(s, out, key_serializer="str",
                                                      value_serializer="str")
        return
    with pipeline() as p:
        _ = p | fl.Create(els) | WriteToKafka(s, out, key_serializer="str", value_serializer="str")
    assert sorted((r.value, r.timestamp) for r in read_raw(s, out)) == [
        (b"epoch", 0), (b"later", 1)]


def test_elements_without_event_time_get_the_producers_clock(kafka_broker, kafka_topic):
    import time

    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    before = int(time.time() * 1000)
    with pipeline() as p:  # a global-window Create without timestamps: no event time
        _ = p | fl.Create([("a", "x")]) | WriteToKafka(s, out, key_serializer="str",
                                                       value_serializer="str")
    [rec] = read_raw(s, out)
    assert rec.timestamp >= before


# -- bad elements: BadRecordError naming the transform and the element, never retried ---------

SEEN: list = []  # elements reaching the sink's input, over all attempts of a run


OK = (b"ok", b"1")


@pytest.mark.parametrize("ok, element, kw, reason", [
    (OK, "no pair", {}, "must be (key, value) pairs"),
    ((b"ok", 1), (b"k", {1, 2}), {"value_serializer": "json"}, "the value serializer failed"),
    (OK, (b"k", "text"), {}, "the value serializer failed: serializer 'bytes' needs bytes"),
    (OK, (1.5, b"v"), {}, "the key serializer failed"),
    (OK, fl.TimestampedValue((b"k", b"v"), -5), {}, "event time -5000 ms is before 1970"),
    ((b"ok", 1), (b"k", {"x": float("nan")}), {"value_serializer": "json"},
     "the value serializer failed: JSON cannot hold the non-finite float"),
])
def test_bad_element_is_a_bad_record_and_is_not_retried(kafka_broker, kafka_topic, tmp_path,
                                                       ok, element, kw, reason):
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    SEEN.clear()
    p = pipeline("--checkpoint-dir", str(tmp_path), "--restart-attempts", "3",
                 "--restart-delay", "0")
    _ = (p | fl.Create([fl.TimestampedValue(ok, 1), element])
           | Map(lambda x: SEEN.append(x) or x)
           | "Out" >> WriteToKafka(s, out, **kw))
    with pytest.raises(BadRecordError) as ei:
        p.run()
    bad = element.value if isinstance(element, fl.TimestampedValue) else element
    assert ei.value.label == "Out" and ei.value.element == bad
    assert reason in ei.value.reason
    assert len(SEEN) == 2  # one attempt: the restart strategy did not retry the bad element


@pytest.mark.parametrize("policy", ["dead_letter", "skip"])
def test_bad_elements_go_to_dead_letters_or_are_skipped(kafka_broker, kafka_topic, policy):
    """on_error on the writer: the NaN value (not JSON) and the non-pair leave the batch, the
    others are written; a dead letter carries the user's label "Out" and the reason."""
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    els = [fl.TimestampedValue(e, 1 + i) for i, e in enumerate(
        [("a", {"n": 1}), ("b", {"n": float("nan")}), "no pair", ("c", {"n": 3})])]
    dead, dsink = collect()
    p = pipeline()
    _ = p | fl.Create(els) | "Out" >> WriteToKafka(s, out, key_serializer="str",
                                                   value_serializer="json", on_error=policy)
    if policy == "dead_letter":
        _ = p.dead_letters() | "Dead" >> dsink
    res = p.run()
    res.wait_until_finish()
    assert sorted((r.key, r.value) for r in read_raw(s, out)) == [
        (b"a", b'{"n":1}'), (b"c", b'{"n":3}')]
    if policy == "skip":
        assert res.metrics().query(name="errors_skipped").counter("errors_skipped") == 2
        return
    # (NaN != NaN: the payloads are compared by repr)
    assert [(d.transform, repr(d.payload), d.timestamp_ms, d.topic) for d in dead] == [
        ("Out", "('b', {'n': nan})", 2000, out), ("Out", "'no pair'", 3000, out)]
    assert "JSON cannot hold the non-finite float" in dead[0].message
    assert "must be (key, value) pairs" in dead[1].message


def test_dead_letter_writer_without_a_dead_letter_consumer_is_refused(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    out = kafka_topic()
    p = pipeline()
    _ = p | fl.Create([("a", "x")]) | "Out" >> WriteToKafka(s, out, key_serializer="str",
                                                             value_serializer="str",
                                                             on_error="dead_letter")
    with pytest.raises(PipelineConstructionError, match="'Out/Write'.*nothing reads "
                                                        r"p.dead_letters\(\)"):
        p.run()
    assert read_raw(s, out) == []
