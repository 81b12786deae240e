"""Checkpoints of the direct runner: atomic files, restore from the latest, graph mismatch,
and the sink's two-phase-commit hooks."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from unit_support import Crash, CrashOnce, MapFn, StagingSink, pipeline, tv

import fluvial as fl
from fluvial.testing import TestStream

SEEN = fl.Metrics.counter("test", "seen")


class CountSeen(fl.DoFn):
    def process(self, x):
        SEEN.inc()
        yield x


def build(p, stream, sink, crash=None, extra_step=False):
    pc = p | "Source" >> stream
    if crash is not None:
        pc = pc | "Crash" >> fl.ParDo(crash)
    pc = pc | "Seen" >> fl.ParDo(CountSeen())
    if extra_step:
        pc = pc | "Extra" >> fl.ParDo(MapFn(lambda kv: kv))
    grouped = pc | "Window" >> fl.WindowInto(fl.FixedWindows(10)) | "Sum" >> fl.CombinePerKey(sum)
    grouped | "Write" >> fl.Write(sink)


def stream():
    ts = TestStream()
    for i in range(12):
        ts = ts.add_elements([tv(("a", i), i * 2.5), tv(("b", 10 * i), i * 2.5 + 1)])
        if i % 3 == 2:
            ts = ts.advance_watermark_to(i * 2.5)
    return ts.advance_watermark_to_infinity()


EXPECTED = sorted(
    [
        [["a", 0 + 1 + 2 + 3], 9_999, [0, 10_000]],
        [["a", 4 + 5 + 6 + 7], 19_999, [10_000, 20_000]],
        [["a", 8 + 9 + 10 + 11], 29_999, [20_000, 30_000]],
        [["b", 0 + 10 + 20 + 30], 9_999, [0, 10_000]],
        [["b", 40 + 50 + 60 + 70], 19_999, [10_000, 20_000]],
        [["b", 80 + 90 + 100 + 110], 29_999, [20_000, 30_000]],
    ]
)


def ckpt_files(d):
    """The checkpoint files (``chk-*``; the directory also holds ``.key`` and ``.lock``)."""
    return sorted(n for n in os.listdir(d) if n.startswith("chk-")) if os.path.isdir(d) else []


def test_uninterrupted_run_commits_everything_and_calls_hooks_in_order(tmp_path):
    sink = StagingSink(tmp_path / "sink")
    p = pipeline("--checkpoint-dir", str(tmp_path / "ck"), "--checkpoint-interval", "0")
    build(p, stream(), sink)
    result = p.run()
    assert sorted(sink.committed()) == EXPECTED
    n = result.info["checkpoints_taken"]
    assert n > 5
    ev = sink.events()
    assert ev[0] == "open" and ev[-1] == "close"
    expected_hooks = []
    for cid in range(1, n + 1):
        expected_hooks += [f"snapshot {cid}", f"notify {cid}"]
    assert ev[1:-1] == expected_hooks
    assert not [f for f in os.listdir(tmp_path / "sink") if f.startswith("staged-")]


def test_checkpoint_files_are_atomic_and_at_most_two_kept(tmp_path):
    ck = tmp_path / "ck"
    p = pipeline("--checkpoint-dir", str(ck), "--checkpoint-interval", "0")
    build(p, stream(), StagingSink(tmp_path / "sink"))
    result = p.run()
    n = result.info["checkpoints_taken"]
    assert sorted(os.listdir(ck)) == [".key", ".lock", f"chk-{n - 1:010d}.ckpt",
                                      f"chk-{n:010d}.ckpt"]


def test_no_checkpoint_dir_still_commits_at_the_end(tmp_path):
    sink = StagingSink(tmp_path / "sink")
    p = pipeline()
    build(p, stream(), sink)
    result = p.run()
    assert sorted(sink.committed()) == EXPECTED
    assert sink.events() == ["open", "snapshot 1", "notify 1", "close"]
    assert result.info["checkpoints_taken"] == 0


def test_restart_resumes_from_the_latest_checkpoint(tmp_path):
    ck = str(tmp_path / "ck")
    sink = StagingSink(tmp_path / "sink")
    marker = tmp_path / "crashed"
    crash = CrashOnce(("a", 6), marker)

    p1 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build(p1, stream(), sink, crash=crash)
    with pytest.raises(fl.UserCodeError) as ei:
        p1.run()
    assert isinstance(ei.value.cause, Crash)
    assert marker.exists()
    latest = max(int(f[4:14]) for f in ckpt_files(ck))
    committed_before = sorted(sink.committed())
    # the watermark reached 12.5 s before the crash (at the element at 15 s): the windows
    # [0, 10) fired and were committed by the next checkpoint; nothing else was
    assert committed_before == [r for r in EXPECTED if r[2] == [0, 10_000]]

    p2 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build(p2, stream(), sink, crash=crash)
    result = p2.run()
    assert result.info["restored_from"] == latest
    assert sorted(sink.committed()) == EXPECTED
    ev = sink.events()
    first_run = ev[: ev.index("open", 1)]
    assert first_run[-1] == "abort" and "close" not in first_run
    assert ev[ev.index("open", 1) + 1] == f"restore {latest}"
    assert ev[-1] == "close"
    assert ev.count("open") == 2
    # committed metrics: the elements replayed after the restore are not counted twice
    assert result.metrics().query(namespace="test").counter("seen") == 24


def test_restart_of_a_finished_pipeline_emits_nothing_new(tmp_path):
    ck = str(tmp_path / "ck")
    sink = StagingSink(tmp_path / "sink")
    p1 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build(p1, stream(), sink)
    n = p1.run().info["checkpoints_taken"]
    p2 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build(p2, stream(), sink)
    r2 = p2.run()
    assert r2.info["restored_from"] == n
    assert sorted(sink.committed()) == EXPECTED


def test_changed_graph_raises_checkpoint_mismatch(tmp_path):
    ck = str(tmp_path / "ck")
    p1 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build(p1, stream(), StagingSink(tmp_path / "sink1"))
    p1.run()
    p2 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build(p2, stream(), StagingSink(tmp_path / "sink2"), extra_step=True)
    with pytest.raises(fl.CheckpointMismatchError) as ei:
        p2.run()
    msg = str(ei.value)
    assert "different pipeline graph" in msg
    assert ck in msg
    assert "--checkpoint-dir" in msg


def test_renamed_step_is_a_changed_graph(tmp_path):
    ck = str(tmp_path / "ck")

    def build_named(name):
        p = pipeline("--checkpoint-dir", ck)
        _ = p | fl.Create([1, 2]) | name >> fl.ParDo(MapFn(lambda x: x))
        return p

    build_named("One").run()
    with pytest.raises(fl.CheckpointMismatchError):
        build_named("Two").run()


def test_crash_before_first_checkpoint_restarts_from_scratch(tmp_path):
    ck = str(tmp_path / "ck")
    sink = StagingSink(tmp_path / "sink")
    crash = CrashOnce(("a", 0), tmp_path / "crashed")
    p1 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build(p1, stream(), sink, crash=crash)
    with pytest.raises(fl.UserCodeError):
        p1.run()
    assert ckpt_files(ck) == []
    assert sink.committed() == []
    p2 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build(p2, stream(), sink, crash=crash)
    r = p2.run()
    assert r.info["restored_from"] is None
    assert sorted(sink.committed()) == EXPECTED


def test_restore_with_stateful_dofn_and_timers(tmp_path):
    BAG = fl.BagStateSpec("bag")
    PENDING = fl.ValueStateSpec("pending")
    T = fl.TimerSpec("t")

    class Buffer(fl.DoFn):
        def process(
            self,
            kv,
            bag=fl.DoFn.StateParam(BAG),
            pending=fl.DoFn.StateParam(PENDING),
            t=fl.DoFn.TimerParam(T),
            ts=fl.DoFn.TimestampParam,
        ):
            bag.add(kv[1])
            if pending.read() is None:
                pending.write(ts.seconds + 4)
                t.set(ts.seconds + 4)
            return []

        @fl.on_timer(T)
        def flush(
            self,
            key=fl.DoFn.KeyParam,
            bag=fl.DoFn.StateParam(BAG),
            pending=fl.DoFn.StateParam(PENDING),
            ts=fl.DoFn.TimestampParam,
        ):
            yield (key, sorted(bag.read()), ts.seconds)
            bag.clear()
            pending.clear()

    def build_stateful(p, sink, crash=None):
        pc = p | "Source" >> stream()
        if crash is not None:
            pc = pc | "Crash" >> fl.ParDo(crash)
        pc | "Buffer" >> fl.ParDo(Buffer()) | "Write" >> fl.Write(sink)

    ref_sink = StagingSink(tmp_path / "ref")
    p = pipeline()
    build_stateful(p, ref_sink)
    p.run()
    expected = sorted(ref_sink.committed())
    assert len(expected) >= 6, expected

    ck = str(tmp_path / "ck")
    sink = StagingSink(tmp_path / "sink")
    crash = CrashOnce(("b", 70), tmp_path / "crashed")
    p1 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build_stateful(p1, sink, crash)
    with pytest.raises(fl.UserCodeError):
        p1.run()
    p2 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build_stateful(p2, sink, crash)
    p2.run()
    assert Counter(map(repr, sink.committed())) == Counter(map(repr, expected))


class _LambdaStateWriter(fl.SinkWriter):
    def write(self, batch):
        pass

    def snapshot(self, checkpoint_id):
        return lambda: checkpoint_id  # cannot be pickled


class LambdaStateSink(fl.Sink):
    opens = 0

    def open(self, ctx):
        LambdaStateSink.opens += 1
        return _LambdaStateWriter()


def test_a_state_that_cannot_be_pickled_names_the_transform_and_is_not_retried(tmp_path):
    ck = tmp_path / "ck"
    p = pipeline("--checkpoint-dir", str(ck), "--checkpoint-interval", "0",
                 "--restart-attempts", "2", "--restart-delay", "0")
    _ = p | fl.Create([1, 2]) | "Out" >> fl.Write(LambdaStateSink())
    LambdaStateSink.opens = 0
    with pytest.raises(fl.PipelineConstructionError) as ei:
        p.run()
    assert str(ei.value).startswith(
        f"checkpoint {ck}/chk-0000000001.ckpt cannot be written: the state of transform 'Out' "
        "cannot be pickled")
    assert LambdaStateSink.opens == 1
    assert ckpt_files(ck) == []



def test_a_checkpoint_dir_that_is_a_file_is_refused(tmp_path):
    from fluvial.errors import CheckpointError

    path = tmp_path / "ck"
    path.write_text("not a directory")
    p = pipeline("--checkpoint-dir", str(path), "--restart-attempts", "2")
    _ = p | fl.Create([1])
    with pytest.raises(CheckpointError, match=f"--checkpoint-dir {path} exists and is not a "
                                              "directory"):
        p.run()
