"""A run checkpointed after every batch (``--checkpoint-interval 0``) and killed at an arbitrary
element, then restarted on the same checkpoint directory, commits exactly the output of an
uninterrupted run (compared as multisets through a sink that commits on checkpoint completion).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from property_support import Crash, CrashOnce, StagingSink

import fluvial as fl
from fluvial.testing import TestStream

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NEVER = ("never", "crash")

BAG = fl.BagStateSpec("bag")
PENDING = fl.ValueStateSpec("pending")
COUNT = fl.CombiningStateSpec("count", sum)
FLUSH = fl.TimerSpec("flush")


class BufferAndFlush(fl.DoFn):
    """Stateful: buffers values per key and window, flushes 3 s of event time after the first
    (or when the window expires: its end - 1 ms + the 2 s allowed lateness, if that is sooner)."""

    def process(self, kv, bag=fl.DoFn.StateParam(BAG), pending=fl.DoFn.StateParam(PENDING),
                count=fl.DoFn.StateParam(COUNT), t=fl.DoFn.TimerParam(FLUSH), ts=fl.DoFn.TimestampParam,
                w=fl.DoFn.WindowParam):
        bag.add(kv[1])
        count.add(1)
        if pending.read() is None:
            pending.write(True)
            t.set(min(ts.seconds + 3, (w.end_ms - 1 + 2_000) / 1000))
        yield (kv[0], "seen", count.read())

    @fl.on_timer(FLUSH)
    def flush(self, key=fl.DoFn.KeyParam, bag=fl.DoFn.StateParam(BAG), pending=fl.DoFn.StateParam(PENDING)):
        yield (key, "flush", sorted(bag.read()))
        bag.clear()
        pending.clear()

    @fl.on_window_expiration
    def expire(self, key=fl.DoFn.KeyParam, count=fl.DoFn.StateParam(COUNT)):
        yield (key, "expired", count.read())


class Strip(fl.DoFn):
    def process(self, kv):
        yield (kv[0], kv[1][1])


CONFIGS = {
    "fixed-sum-sliced": (lambda: fl.FixedWindows(5), {}, "sum_builtin"),
    "sliding-sum-sliced": (lambda: fl.SlidingWindows(6, 2), {}, "sum_builtin"),
    "fixed-gbk": (lambda: fl.FixedWindows(4), {}, "gbk"),
    "sessions-sum": (lambda: fl.Sessions(2), {}, "sum"),
    "fixed-early-late": (
        lambda: fl.FixedWindows(5),
        dict(trigger=fl.AfterWatermark(early=fl.AfterCount(2), late=fl.AfterCount(1)),
             accumulation_mode=fl.AccumulationMode.ACCUMULATING, allowed_lateness=4),
        "gbk",
    ),
    "global-count-trigger": (
        lambda: fl.GlobalWindows(),
        dict(trigger=fl.Repeatedly(fl.AfterAny(fl.AfterCount(3), fl.AfterProcessingTime(2)))),
        "sum",
    ),
    "fixed-stateful": (lambda: fl.FixedWindows(8), dict(allowed_lateness=2), "stateful"),
}


class _SortValues(fl.DoFn):
    def process(self, kv):
        yield (kv[0], sorted(kv[1]))


def build(p, source, config, crash):
    from fluvial.combiners import SumCombineFn

    wfn, kwargs, agg = CONFIGS[config]
    pc = p | "Source" >> source | "Crash" >> fl.ParDo(crash) | "Strip" >> fl.ParDo(Strip())
    pc = pc | "Window" >> fl.WindowInto(wfn(), **kwargs)
    if agg == "sum_builtin":
        out = pc | "Agg" >> fl.CombinePerKey(SumCombineFn())
    elif agg == "sum":
        out = pc | "Agg" >> fl.CombinePerKey(sum)
    elif agg == "gbk":
        out = pc | "Agg" >> fl.GroupByKey() | "Sort" >> fl.ParDo(_SortValues())
    else:
        out = pc | "Agg" >> fl.ParDo(BufferAndFlush())
    out | "Write" >> fl.Write(StagingSink(p._sink_dir))


def make_source(kind, events):
    """events: list of ("e", key, value, ts_ms) | ("wm", ts_ms) | ("pt", ms); elements carry a
    sequence number so that each is unique (the crash point)."""
    if kind == "create":
        return fl.Create([fl.TimestampedValue((k, (i, v)), t / 1000)
                          for i, (_, k, v, t) in enumerate(e for e in events if e[0] == "e")])
    ts = TestStream()
    wm = -10**9
    i = 0
    pending = []
    for ev in events:
        if ev[0] == "e":
            _, k, v, t = ev
            pending.append(fl.TimestampedValue((k, (i, v)), t / 1000))
            i += 1
            continue
        if pending:
            ts = ts.add_elements(pending)
            pending = []
        if ev[0] == "wm" and ev[1] > wm:
            wm = ev[1]
            ts = ts.advance_watermark_to(wm / 1000)
        elif ev[0] == "pt":
            ts = ts.advance_processing_time(ev[1] / 1000)
    if pending:
        ts = ts.add_elements(pending)
    return ts.advance_watermark_to_infinity()


def run_once(tmp, name, source_kind, events, config, crash_at, batch_size, checkpoint_dir=None):
    argv = ["--batch-size", str(batch_size)]
    if checkpoint_dir:
        argv += ["--checkpoint-dir", checkpoint_dir, "--checkpoint-interval", "0"]
    p = fl.Pipeline(argv=argv)
    p._sink_dir = os.path.join(tmp, name)
    build(p, make_source(source_kind, events), config,
          CrashOnce(crash_at, os.path.join(tmp, name + ".crashed"), key=lambda x: x[1][0]))
    return p.run(), StagingSink(p._sink_dir)


event_st = st.one_of(
    st.tuples(st.just("e"), st.sampled_from(["a", "b", "c"]), st.integers(0, 9), st.integers(0, 30_000)),
    st.tuples(st.just("wm"), st.integers(0, 40_000)),
    st.tuples(st.just("pt"), st.integers(1, 3_000)),
)


@SETTINGS
@given(
    events=st.lists(event_st, min_size=1, max_size=40).filter(lambda es: any(e[0] == "e" for e in es)),
    config=st.sampled_from(sorted(CONFIGS)),
    source_kind=st.sampled_from(["teststream", "create"]),
    batch_size=st.integers(1, 8),
    data=st.data(),
)
def test_crash_and_restore_commits_the_same_output(events, config, source_kind, batch_size, data):
    n_elements = sum(1 for e in events if e[0] == "e")
    crash_at = data.draw(st.integers(0, n_elements - 1), label="crash_at")
    with tempfile.TemporaryDirectory() as tmp:
        ref_result, ref = run_once(tmp, "ref", source_kind, events, config, -1, batch_size)
        expected = Counter(map(repr, ref.committed()))

        ck = os.path.join(tmp, "ck")
        try:
            run_once(tmp, "crashy", source_kind, events, config, crash_at, batch_size, ck)
            raise AssertionError("the first run should have crashed")
        except fl.UserCodeError as e:
            assert isinstance(e.cause, Crash)
        result, sink = run_once(tmp, "crashy", source_kind, events, config, crash_at, batch_size, ck)
        got = Counter(map(repr, sink.committed()))
        assert got == expected, (sorted((got - expected).elements()), sorted((expected - got).elements()))
        assert not [f for f in os.listdir(os.path.join(tmp, "crashy")) if f.startswith("staged-")]
        assert not [f for f in os.listdir(ck) if f.endswith(".tmp")]
        assert len([n for n in os.listdir(ck) if n.startswith("chk-")]) <= 2
        # metrics are restored with the checkpoint: the totals match the uninterrupted run
        written = "elements_written"
        assert result.metrics().query().counter(written) == ref_result.metrics().query().counter(written)
