"""The dead-letter output: records from sources (SourceContext.handle_error), the JSON-lines
sink, DeadLettersToDicts, the dead-letter source's watermark, and checkpoint/restore with dead
letters in flight."""

from __future__ import annotations

import glob
import json
import os

import pytest
from unit_support import Crash, CrashOnce, collect, pipeline, tv

import fluvial as fl
from fluvial.source import SourceReader
from fluvial.testing import TestStream
from fluvial.timeutil import MAX_TIMESTAMP_MS
from fluvial.transforms import Count, Map
from fluvial.transforms.deadletter import DeadLettersToDicts, WriteDeadLettersToJsonLines
from fluvial.transforms.io import WriteToJsonLines

# -- a tiny log-like source whose reader hands undecodable records to ctx.handle_error -------


class _LogReader(SourceReader):
    def __init__(self, ctx, records, policy):
        self.ctx = ctx
        self.records = records  # (offset, raw bytes, timestamp_ms)
        self.policy = policy
        self.pos = 0

    def poll(self, max_records):
        if self.pos >= len(self.records):
            return None
        out = []
        for offset, raw, ts in self.records[self.pos : self.pos + max_records]:
            self.pos += 1
            try:
                out.append((json.loads(raw), ts))
            except ValueError as e:
                self.ctx.handle_error(
                    e, raw, policy=self.policy, timestamp_ms=ts, topic="orders", partition=0,
                    offset=offset, key=b"k%d" % offset,
                )
        return out

    def watermark(self):
        return MAX_TIMESTAMP_MS if self.pos >= len(self.records) else 0

    def snapshot(self):
        return self.pos

    def restore(self, state):
        self.pos = state

    def progress(self):
        return {"lag": {"orders/0": len(self.records) - self.pos}}


class LogSource(fl.Source):
    def __init__(self, records, on_error=None):
        self.records = records
        self.on_error = on_error

    def open(self, ctx):
        return _LogReader(ctx, self.records, self.on_error)


RECORDS = [(0, b'{"id": 1}', 1000), (1, b"{oops", 2000), (2, b'{"id": 3}', 3000), (3, b"", 4000)]


def test_source_records_go_to_dead_letters_with_their_position():
    p = pipeline()
    main = collect(p | "Orders" >> fl.Read(LogSource(RECORDS, on_error="dead_letter")), "Main")
    dead = collect(p.dead_letters(), "Dead")
    result = p.run()
    assert main.values() == [{"id": 1}, {"id": 3}]
    recs = dead.values()
    assert [(r.transform, r.payload, r.timestamp_ms, r.topic, r.partition, r.offset, r.key)
            for r in recs] == [
        ("Orders", b"{oops", 2000, "orders", 0, 1, b"k1"),
        ("Orders", b"", 4000, "orders", 0, 3, b"k3"),
    ]
    assert {r.error_type for r in recs} == {"JSONDecodeError"}
    assert "json" in recs[0].traceback and "poll" in recs[0].traceback
    # the dead-letter elements carry the record's timestamp
    assert [ts for _, ts, _, _ in dead.records] == [2000, 4000]
    q = result.metrics().query(namespace="fluvial", name="dead_letters")
    assert {k.step: v for k, v in q.counters.items()} == {"Orders": 2}


def test_source_skip_and_pipeline_default():
    p = pipeline()
    main = collect(p | "Orders" >> fl.Read(LogSource(RECORDS, on_error="skip")))
    result = p.run()
    assert main.values() == [{"id": 1}, {"id": 3}]
    assert result.metrics().query(name="errors_skipped", step="Orders").counter("errors_skipped") == 2

    p = pipeline("--on-error", "dead_letter")  # the source sets nothing: the pipeline's policy
    collect(p | "Orders" >> fl.Read(LogSource(RECORDS)), "Main")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert [r.offset for r in dead.values()] == [1, 3]


def test_source_fail_policy_raises():
    p = pipeline()
    collect(p | "Orders" >> fl.Read(LogSource(RECORDS)))
    with pytest.raises(fl.UserCodeError) as ei:
        p.run()
    assert ei.value.label == "Orders" and ei.value.element == b"{oops"


# -- sinks ------------------------------------------------------------------------------------


def read_jsonl(prefix):
    rows = []
    for path in sorted(glob.glob(f"{prefix}-*")):
        with open(path, encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def to_int(s):
    return int(s)


def test_jsonl_file_holds_one_document_per_record(tmp_path):
    prefix = str(tmp_path / "dlq")
    p = pipeline()
    _ = p | "Orders" >> fl.Read(LogSource(RECORDS[:2], on_error="dead_letter"))
    _ = p | fl.Create([tv("x", 7)]) | "Parse" >> Map(to_int, on_error="dead_letter")
    _ = p.dead_letters() | WriteDeadLettersToJsonLines(prefix)
    p.run()
    assert glob.glob(f"{prefix}-*") == [f"{prefix}-00000-of-00001.jsonl"]
    rows = sorted(read_jsonl(prefix), key=lambda r: r["transform"])
    tracebacks = [r.pop("traceback") for r in rows]
    assert rows == [
        {"transform": "Orders", "error_type": "JSONDecodeError",
         "message": "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
         "payload": {"bytes_b64": "e29vcHM="}, "timestamp_ms": 2000, "topic": "orders",
         "partition": 0, "offset": 1, "key": {"bytes_b64": "azE="}},
        {"transform": "Parse/ParDo", "error_type": "ValueError",
         "message": "invalid literal for int() with base 10: 'x'", "payload": "x",
         "timestamp_ms": 7000, "topic": None, "partition": None, "offset": None, "key": None},
    ]
    assert tracebacks[0].startswith("Traceback") and "JSONDecodeError" in tracebacks[0]
    assert "to_int" in tracebacks[1]


def test_dead_letters_to_dicts():
    p = pipeline()
    _ = p | fl.Create([tv("x", 1)]) | "Parse" >> Map(to_int, on_error="dead_letter")
    out = collect(p.dead_letters() | DeadLettersToDicts())
    p.run()
    [d] = out.values()
    assert (d["transform"], d["payload"], d["timestamp_ms"], d["error_type"]) == (
        "Parse/ParDo", "x", 1000, "ValueError"
    )
    assert json.loads(json.dumps(d)) == d


# -- watermark of the dead-letter source ---------------------------------------------------


def test_dead_letter_watermark_holds_until_the_other_sources_are_done():
    # the main watermark passes 100 s before "y" (timestamp 2 s) fails; the dead-letter
    # output still groups both failures in window [0, 10) as one on-time pane at the end
    stream = (
        TestStream()
        .add_elements([tv("x", 1)])
        .advance_watermark_to(100)
        .add_elements([tv("y", 2), tv("5", 3)])
        .advance_watermark_to_infinity()
    )
    p = pipeline()
    _ = p | stream | "Parse" >> Map(to_int, on_error="dead_letter")
    counted = (
        p.dead_letters()
        | fl.WindowInto(fl.FixedWindows(10))
        | "Payload" >> Map(lambda r: r.payload)
        | Count.Globally().without_defaults()
    )
    out = collect(counted)
    p.run()
    assert out.panes()[0][:3] == (2, (0, 10_000), 9_999)
    assert len(out.panes()) == 1


# -- checkpoints ------------------------------------------------------------------------------


def build_crashing(p, marker, out_prefix, dlq_prefix):
    parsed = (
        p
        | fl.Create(["1", "x", "3", "y", "5", "z", "7"])
        | "Parse" >> Map(to_int, on_error="dead_letter")
        | "Crash" >> fl.ParDo(CrashOnce(5, marker))
    )
    _ = parsed | "Out" >> WriteToJsonLines(out_prefix)
    _ = p.dead_letters() | "DLQ" >> WriteDeadLettersToJsonLines(dlq_prefix)


def test_checkpoint_restore_with_dead_letters_in_flight(tmp_path):
    ck, marker = str(tmp_path / "ck"), str(tmp_path / "crashed")
    out_prefix, dlq_prefix = str(tmp_path / "out" / "main"), str(tmp_path / "out" / "dlq")
    argv = ["--checkpoint-dir", ck, "--checkpoint-interval", "0", "--batch-size", "1"]

    p1 = pipeline(*argv)
    build_crashing(p1, marker, out_prefix, dlq_prefix)
    with pytest.raises(fl.UserCodeError) as ei:
        p1.run()
    assert isinstance(ei.value.cause, Crash)
    # "x" and "y" failed before the crash; the checkpoints taken after their batches committed
    # them with the main output: nothing was held outside operator or sink state
    assert [r["payload"] for r in read_jsonl(dlq_prefix)] == ["x", "y"]
    assert read_jsonl(out_prefix) == [1, 3]

    p2 = pipeline(*argv)
    build_crashing(p2, marker, out_prefix, dlq_prefix)
    result = p2.run()
    assert result.info["restored_from"] is not None
    assert [r["payload"] for r in read_jsonl(dlq_prefix)] == ["x", "y", "z"]  # each once
    assert sorted(read_jsonl(out_prefix)) == [1, 3, 5, 7]
    q = result.metrics().query(namespace="fluvial", name="dead_letters")
    assert q.counter("dead_letters") == 3  # restored counts, not counted twice
    assert not [f for f in os.listdir(tmp_path / "out") if ".inprogress." in f]


def _half(x):
    return 1 // (x - 2)  # fails for 2


def _boom(rec):
    raise RuntimeError(f"cannot handle {rec.payload}")


def test_a_failing_dead_letter_consumer_fails_instead_of_looping():
    """With --on-error dead_letter, a transform that processes dead letters and raises would
    send its failure back to its own input; it fails the run instead."""
    from fluvial.errors import UserCodeError

    p = fl.Pipeline(argv=["--runner", "direct", "--on-error", "dead_letter"])
    _ = p | fl.Create([1, 2, 3]) | "Half" >> Map(_half)
    _ = p.dead_letters() | "Handle" >> Map(_boom)
    with pytest.raises(UserCodeError, match="'Handle/ParDo'.*cannot handle 2"):
        p.run().wait_until_finish()


def test_a_dead_letter_consumer_may_skip_but_not_dead_letter():
    from fluvial.errors import PipelineConstructionError

    p = fl.Pipeline(argv=["--runner", "direct"])
    _ = p | fl.Create([1, 2, 3]) | "Half" >> Map(_half, on_error="dead_letter")
    _ = p.dead_letters() | "Handle" >> Map(_boom, on_error="dead_letter")
    with pytest.raises(PipelineConstructionError, match="'Handle/ParDo'.*would loop"):
        p.run().wait_until_finish()

    p = fl.Pipeline(argv=["--runner", "direct"])
    _ = p | fl.Create([1, 2, 3]) | "Half" >> Map(_half, on_error="dead_letter")
    _ = p.dead_letters() | "Handle" >> Map(_boom, on_error="skip")
    res = p.run()
    res.wait_until_finish()
    q = res.metrics().query(namespace="fluvial", name="errors_skipped")
    assert q.counter("errors_skipped") == 1


def test_dead_letters_taken_before_an_unbounded_source_is_refused():
    from fluvial.errors import PipelineConstructionError
    from fluvial.transforms.io import SyntheticSource

    p = fl.Pipeline(argv=["--runner", "direct"])
    dl = p.dead_letters()
    _ = dl | "Dlq" >> Map(str)
    _ = p | "Unbounded" >> fl.Read(SyntheticSource(count=None, keys=3))
    with pytest.raises(PipelineConstructionError, match="'Unbounded'.*after applying every"):
        p.run()
