"""The direct runner's restart strategy: a run failing at runtime restarts from the latest
checkpoint (``--restart-attempts``), and the committed output of the exactly-once sinks (the
JSON-lines file sink and the SQLite sink) is exactly the expected output: nothing lost, nothing
committed twice. Errors in the pipeline itself are never retried."""

from __future__ import annotations

import glob
import json
import os
import sqlite3
from typing import Any

import pytest

import fluvial as fl
from fluvial.source import ListReader
from fluvial.transforms.io import JsonLinesSink, SqliteSink

N = 90  # records i = 0..89: key "k{i % 3}", value i, event time i * 0.5 s


class Numbers(fl.Source):
    def open(self, ctx: Any) -> fl.SourceReader:
        return ListReader([((f"k{i % 3}", i), i * 500) for i in range(N)], fl.Monotonic())


def expected_rows() -> list[tuple[str, int, int]]:
    """(key, window start ms, sum) by arithmetic: window w (10 s) holds i in [20w, 20w + 20)."""
    out = []
    for w in range(5):
        for k in range(3):
            total = sum(i for i in range(20 * w, min(20 * w + 20, N)) if i % 3 == k)
            out.append((f"k{k}", w * 10_000, total))
    return sorted(out)


def test_expected_rows_by_hand():
    # spot checks of the arithmetic: window 0 of k0 holds 0+3+...+18, window 4 of k2 holds
    # 80+83+86+89
    exp = expected_rows()
    assert ("k0", 0, sum(range(0, 20, 3))) in exp and ("k0", 0, 63) in exp
    assert ("k2", 40_000, 80 + 83 + 86 + 89) in exp
    assert sum(t for _, _, t in exp) == sum(range(N))


class ToRow(fl.DoFn):
    def process(self, kv, w=fl.DoFn.WindowParam):
        yield {"key": kv[0], "window_start": w.start_ms, "total": kv[1]}


class Injected(RuntimeError):
    pass


class _FailingWriter(fl.SinkWriter):
    def __init__(self, sink: FailOnce, inner: fl.SinkWriter) -> None:
        self.sink = sink
        self.inner = inner

    def _maybe_fail(self, hook: str) -> None:
        s = self.sink
        if hook != s.hook:
            return
        s.calls += 1
        if s.calls in s.fail_at:
            raise Injected(f"injected failure in {hook} call {s.calls}")

    def write(self, batch: list) -> None:
        self.inner.write(batch)  # the batch reached the writer, then it fails
        self._maybe_fail("write")

    def snapshot(self, checkpoint_id: int) -> Any:
        state = self.inner.snapshot(checkpoint_id)  # pre-committed, then the checkpoint fails
        self._maybe_fail("snapshot")
        return state

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        self.inner.notify_checkpoint_complete(checkpoint_id)

    def restore(self, state: Any) -> None:
        self.sink.restored.append(state is not None)
        self.inner.restore(state)

    def close(self) -> None:
        self.inner.close()

    def abort(self) -> None:
        self.sink.aborts += 1
        self.inner.abort()


class FailOnce(fl.Sink):
    """Wraps a sink; its ``hook`` ("write" or "snapshot") raises on the calls numbered in
    ``fail_at`` (counted over all runs, so a restarted run does not fail again)."""

    def __init__(self, inner: fl.Sink, hook: str, fail_at: tuple[int, ...]) -> None:
        self.inner = inner
        self.hook = hook
        self.fail_at = fail_at
        self.calls = 0
        self.opens = 0
        self.aborts = 0
        self.restored: list[bool] = []

    def open(self, ctx: Any) -> fl.SinkWriter:
        self.opens += 1
        return _FailingWriter(self, self.inner.open(ctx))


def build(p: fl.Pipeline, sink: fl.Sink) -> None:
    _ = (p | "Read" >> fl.Read(Numbers())
         | "Window" >> fl.WindowInto(fl.FixedWindows(10))
         | "Sum" >> fl.CombinePerKey(sum)
         | "Row" >> fl.ParDo(ToRow())
         | "Out" >> fl.Write(sink))


def argv(tmp_path, attempts: int = 2, checkpoints: bool = True) -> list[str]:
    a = ["--runner", "direct", "--batch-size", "4", "--restart-attempts", str(attempts),
         "--restart-delay", "0"]
    if checkpoints:
        a += ["--checkpoint-dir", str(tmp_path / "ck"), "--checkpoint-interval", "0"]
    return a


def file_rows(prefix: str) -> list[tuple[str, int, int]]:
    out = []
    for path in glob.glob(prefix + "-*.jsonl"):
        with open(path) as f:
            for line in f:
                d = json.loads(line)
                out.append((d["key"], d["window_start"], d["total"]))
    return sorted(out)


def leftovers(directory) -> list[str]:
    return [n for n in os.listdir(directory) if ".inprogress." in n]


@pytest.mark.parametrize("hook, fail_at", [("snapshot", (6,)), ("write", (3,)),
                                           ("snapshot", (2, 9)), ("write", (1, 4))])
def test_file_sink_restarts_and_commits_exactly_once(tmp_path, hook, fail_at):
    prefix = str(tmp_path / "out" / "sums")
    sink = FailOnce(JsonLinesSink(prefix), hook, fail_at)
    p = fl.Pipeline(argv=argv(tmp_path))
    build(p, sink)
    result = p.run()
    assert result.info["restarts"] == len(fail_at)
    assert all("Injected" in c or "injected" in c for c in result.info["restart_causes"])
    assert sink.opens == 1 + len(fail_at) and sink.aborts == len(fail_at)
    assert file_rows(prefix) == expected_rows()
    assert leftovers(tmp_path / "out") == []


def sql_rows(db: str) -> list[tuple[str, int, int]]:
    with sqlite3.connect(db) as c:
        return sorted(c.execute("SELECT key, window_start, total FROM sums").fetchall())


@pytest.mark.parametrize("hook, fail_at", [("snapshot", (6,)), ("write", (3,)),
                                           ("snapshot", (2, 9)), ("write", (1, 4))])
def test_sql_sink_restarts_and_commits_exactly_once(tmp_path, hook, fail_at):
    db = str(tmp_path / "out.db")
    with sqlite3.connect(db) as c:
        # each row applied once: one insert per (key, window), and no update (an update would
        # be a second application of a row, invisible in the upserted values themselves)
        c.execute("CREATE TABLE sums (key TEXT, window_start INTEGER, total INTEGER, "
                  "PRIMARY KEY (key, window_start))")
        c.execute("CREATE TABLE changes (kind TEXT)")
        c.execute("CREATE TRIGGER ti AFTER INSERT ON sums BEGIN "
                  "INSERT INTO changes VALUES ('insert'); END")
        c.execute("CREATE TRIGGER tu AFTER UPDATE ON sums BEGIN "
                  "INSERT INTO changes VALUES ('update'); END")
    sink = FailOnce(SqliteSink(db, "sums", ["key", "window_start"],
                               ["key", "window_start", "total"]), hook, fail_at)
    p = fl.Pipeline(argv=argv(tmp_path))
    build(p, sink)
    result = p.run()
    assert result.info["restarts"] == len(fail_at)
    assert sink.opens == 1 + len(fail_at)
    assert sql_rows(db) == expected_rows()
    with sqlite3.connect(db) as c:
        kinds = [r[0] for r in c.execute("SELECT kind FROM changes")]
        assert kinds == ["insert"] * 15
        assert c.execute("SELECT COUNT(*) FROM fluvial_staging__sums").fetchone() == (0,)
        assert c.execute("SELECT sink_id FROM fluvial_sink_commits").fetchall() == [("Out",)]


def test_restart_restores_the_previous_checkpoint(tmp_path):
    prefix = str(tmp_path / "out" / "sums")
    sink = FailOnce(JsonLinesSink(prefix), "snapshot", (6,))
    p = fl.Pipeline(argv=argv(tmp_path))
    build(p, sink)
    result = p.run()
    # the 6th snapshot failed: checkpoint 6 was never written, the restart restored 5
    assert sink.restored == [True]
    assert result.info["checkpoints_taken"] >= 1
    assert result.info["restarts"] == 1


def test_failures_beyond_the_attempts_are_raised(tmp_path):
    sink = FailOnce(JsonLinesSink(str(tmp_path / "o" / "s")), "write", (1, 2, 3))
    p = fl.Pipeline(argv=argv(tmp_path, attempts=2))
    build(p, sink)
    with pytest.raises(fl.UserCodeError) as ei:
        p.run()
    assert isinstance(ei.value.cause, Injected) and "call 3" in str(ei.value)
    assert sink.opens == 3


def test_no_restart_without_a_checkpoint_dir(tmp_path):
    sink = FailOnce(JsonLinesSink(str(tmp_path / "o" / "s")), "write", (1,))
    p = fl.Pipeline(argv=argv(tmp_path, attempts=3, checkpoints=False))
    build(p, sink)
    with pytest.raises(fl.UserCodeError):
        p.run()
    assert sink.opens == 1


def test_no_restart_by_default(tmp_path):
    sink = FailOnce(JsonLinesSink(str(tmp_path / "o" / "s")), "write", (1,))
    a = [x for x in argv(tmp_path) if x not in ("--restart-attempts", "2")]
    p = fl.Pipeline(argv=a)
    build(p, sink)
    with pytest.raises(fl.UserCodeError):
        p.run()
    assert sink.opens == 1


def test_checkpoint_mismatch_is_not_retried(tmp_path):
    p1 = fl.Pipeline(argv=argv(tmp_path))
    build(p1, JsonLinesSink(str(tmp_path / "o" / "a")))
    p1.run()
    sink = FailOnce(JsonLinesSink(str(tmp_path / "o" / "b")), "write", ())
    p2 = fl.Pipeline(argv=argv(tmp_path, attempts=5))
    _ = p2 | "Read" >> fl.Read(Numbers()) | "Out" >> fl.Write(sink)  # a different graph
    with pytest.raises(fl.CheckpointMismatchError):
        p2.run()
    assert sink.opens == 1


def test_construction_error_in_a_sink_is_not_retried(tmp_path):
    db = str(tmp_path / "out.db")
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE sums (key TEXT, window_start INTEGER, total INTEGER)")
    sink = FailOnce(SqliteSink(db, "sums", ["key", "window_start"]), "write", ())
    p = fl.Pipeline(argv=argv(tmp_path, attempts=5))
    build(p, sink)
    with pytest.raises(fl.PipelineConstructionError, match="no PRIMARY KEY"):
        p.run()
    assert sink.opens == 1


def test_restart_options_parse_and_validate():
    o = fl.PipelineOptions.from_argv(["--restart-attempts", "3", "--restart-delay", "0.5"])
    assert (o.restart_attempts, o.restart_delay) == (3, 0.5)
    d = fl.PipelineOptions.from_argv([])
    assert (d.restart_attempts, d.restart_delay) == (0, 1.0)
    with pytest.raises(fl.PipelineConstructionError, match="restart-attempts"):
        fl.PipelineOptions.from_argv(["--restart-attempts", "-1"])
    with pytest.raises(fl.PipelineConstructionError, match="restart-delay"):
        fl.PipelineOptions.from_argv(["--restart-delay", "-2"])


def test_fresh_run_removes_parts_of_a_run_that_died_before_its_first_checkpoint(tmp_path):
    from fluvial.values import GLOBAL_WINDOWS, WindowedValue

    class Ctx:
        label = "Out"

    prefix = str(tmp_path / "out" / "sums")
    dead = JsonLinesSink(prefix).open(Ctx())
    dead.write([WindowedValue({"n": 1}, 0, GLOBAL_WINDOWS, None)])
    dead.current[0].fh.flush()  # the process dies here: no abort, no checkpoint
    assert len(leftovers(tmp_path / "out")) == 1
    fresh = JsonLinesSink(prefix).open(Ctx())
    fresh.write([WindowedValue({"n": 2}, 0, GLOBAL_WINDOWS, None)])
    fresh.snapshot(1)
    fresh.notify_checkpoint_complete(1)
    fresh.close()
    assert leftovers(tmp_path / "out") == []
    with open(prefix + "-00000-of-00001.jsonl") as f:
        assert f.read() == '{"n":2}\n'


def test_bad_records_are_never_retried():
    from fluvial.errors import BadRecordError
    from fluvial.runners.direct.restart import is_restartable

    assert not is_restartable(BadRecordError("Write", {"id": None}, "key column 'id' is None"))
    assert is_restartable(OSError("disk full"))
