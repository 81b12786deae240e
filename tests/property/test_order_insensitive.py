"""For order-insensitive configurations (default trigger, built-in combiners, fixed / sliding
windows and sessions) the direct runner's output depends neither on the input order, nor on
batch boundaries, nor on how elements are split across TestStream events. The expected output
is computed in plain Python (property_support.reference), never by the engine."""

from __future__ import annotations

import math

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from property_support import Collected, CollectSink, reference

import fluvial as fl
from fluvial.combiners import (
    CountCombineFn,
    MaxCombineFn,
    MeanCombineFn,
    MinCombineFn,
    SumCombineFn,
)
from fluvial.testing import TestStream
from fluvial.window import GlobalWindow

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

COMBINERS = {
    "sum": SumCombineFn,
    "count": CountCombineFn,
    "min": MinCombineFn,
    "max": MaxCombineFn,
    "mean": MeanCombineFn,
}


class _Identity(fl.DoFn):
    def process(self, x):
        yield x


class _SortGrouped(fl.DoFn):
    def process(self, kv):
        yield (kv[0], sorted(kv[1]))


offset_st = st.sampled_from([0, 0, 0, 1_000, 2_500, -3_000])
windows_st = st.one_of(
    st.tuples(st.just("fixed"), st.sampled_from([1_000, 2_000, 5_000, 10_000, 1_500]), offset_st),
    st.builds(
        lambda sp, off: ("sliding", sp[0], sp[1], off),
        st.sampled_from([(10_000, 5_000), (6_000, 2_000), (5_000, 1_000), (7_000, 3_000), (3_000, 3_000)]),
        offset_st,
    ),
    st.tuples(st.just("sessions"), st.sampled_from([500, 1_000, 3_000, 7_000])),
)

key_st = st.one_of(st.sampled_from([0, 1, 2, 7]), st.sampled_from(["a", "b", "c"]))
events_st = st.lists(
    st.tuples(key_st, st.integers(-50, 100), st.integers(-20_000, 60_000)), min_size=0, max_size=60
)


def window_fn(w):
    if w[0] == "fixed":
        return fl.FixedWindows(w[1] / 1000, offset=w[2] / 1000)
    if w[0] == "sliding":
        return fl.SlidingWindows(w[1] / 1000, w[2] / 1000, offset=w[3] / 1000)
    return fl.Sessions(w[1] / 1000)


def homogeneous(events):
    """Keys of one type per run (int keys take the vectorised path, str keys the Python one)."""
    return events if len({type(k) for k, _, _ in events}) <= 1 else [e for e in events if isinstance(e[0], int)]


def run(events, w, kind, *, batch_size, chunks=None, fused=True):
    p = fl.Pipeline(argv=["--batch-size", str(batch_size)])
    if chunks is None:
        src = p | fl.Create([fl.TimestampedValue((k, v), t / 1000) for k, v, t in events])
    else:
        ts = TestStream()
        i = 0
        for n in chunks:
            part = events[i : i + n]
            i += n
            ts = ts.add_elements([fl.TimestampedValue((k, v), t / 1000) for k, v, t in part])
        src = p | ts.advance_watermark_to_infinity()
    pc = src | "Window" >> fl.WindowInto(window_fn(w))
    if not fused:
        pc = pc | "Unfuse" >> fl.ParDo(_Identity())
    if kind == "list":
        out_pc = pc | fl.GroupByKey() | fl.ParDo(_SortGrouped())
    else:
        out_pc = pc | fl.CombinePerKey(COMBINERS[kind]())
    box = Collected()
    out_pc | fl.Write(CollectSink(box))
    p.run()
    got = []
    for (k, r), ts_ms, ws, pane in box.records:
        (win,) = ws
        assert not isinstance(win, GlobalWindow)
        # default trigger: one ON_TIME pane per key and window, stamped at the window's end
        assert ts_ms == win.end_ms - 1
        assert (pane.timing.value, pane.is_first, pane.is_last, pane.index) == ("ON_TIME", True, True, 0)
        got.append((k, win.start_ms, win.end_ms, r))
    return sorted(got, key=repr)


def same(got, expected):
    if len(got) != len(expected):
        return False
    for g, e in zip(got, expected):
        if g[:3] != e[:3]:
            return False
        if isinstance(e[3], float):
            if not math.isclose(g[3], e[3], rel_tol=1e-12, abs_tol=1e-12):
                return False
        elif g[3] != e[3] or type(g[3]) is not type(e[3]):
            return False
    return True


@SETTINGS
@given(
    events=events_st,
    w=windows_st,
    kind=st.sampled_from(sorted(COMBINERS) + ["list"]),
    batch_size=st.integers(1, 50),
    fused=st.booleans(),
    perm=st.randoms(use_true_random=False),
)
def test_create_output_independent_of_order_and_batches(events, w, kind, batch_size, fused, perm):
    events = homogeneous(events)
    expected = reference(events, w, kind)
    shuffled = list(events)
    perm.shuffle(shuffled)
    got = run(shuffled, w, kind, batch_size=batch_size, fused=fused)
    assert same(got, expected), (got, expected)


@SETTINGS
@given(
    events=events_st,
    w=windows_st,
    kind=st.sampled_from(sorted(COMBINERS) + ["list"]),
    cuts=st.lists(st.integers(0, 60), max_size=8),
    perm=st.randoms(use_true_random=False),
    fused=st.booleans(),
)
def test_test_stream_output_independent_of_order_and_splits(events, w, kind, cuts, perm, fused):
    events = homogeneous(events)
    expected = reference(events, w, kind)
    shuffled = list(events)
    perm.shuffle(shuffled)
    bounds = sorted({min(c, len(shuffled)) for c in cuts} | {0, len(shuffled)})
    chunks = [b - a for a, b in zip(bounds, bounds[1:])] or [0]
    got = run(shuffled, w, kind, batch_size=4096, chunks=chunks, fused=fused)
    assert same(got, expected), (got, expected)


@SETTINGS
@given(events=events_st, w=windows_st, kind=st.sampled_from(sorted(COMBINERS)), b1=st.integers(1, 50),
       b2=st.integers(1, 50))
def test_fused_and_general_paths_agree_across_batch_sizes(events, w, kind, b1, b2):
    events = homogeneous(events)
    a = run(events, w, kind, batch_size=b1, fused=True)
    b = run(list(reversed(events)), w, kind, batch_size=b2, fused=False)
    assert same(a, b), (a, b)
