"""The direct runner's sliced path (WindowInto + CombinePerKey fused and vectorised) is the
general path's semantics: on random scripts with out-of-order elements, watermark steps and late
data (dropped, counted per window), the fused pipeline and the unfused one (an identity ParDo
between WindowInto and CombinePerKey keeps the window driver in charge) give the same panes and
the same drop counts; and a sliced operator restored from a pickled snapshot mid-stream carries
on exactly as one that never stopped."""

from __future__ import annotations

import math
import pickle
from collections import Counter

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from property_support import Collected, CollectSink

import fluvial as fl
from fluvial.combiners import (
    CountCombineFn,
    MaxCombineFn,
    MeanCombineFn,
    MinCombineFn,
    SumCombineFn,
)
from fluvial.metrics import MetricsContainer
from fluvial.runners.direct.operators.base import Operator
from fluvial.runners.direct.operators.sliced_combine import SlicedCombineOperator
from fluvial.testing import TestStream
from fluvial.values import GLOBAL_WINDOWS, WindowedValue
from fluvial.windowing import Windowing

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COMBINERS = {"sum": SumCombineFn, "count": CountCombineFn, "min": MinCombineFn, "max": MaxCombineFn,
             "mean": MeanCombineFn}
WINDOW_FNS = [fl.FixedWindows(5), fl.FixedWindows(2, offset=1), fl.SlidingWindows(6, 2),
              fl.SlidingWindows(10, 5, offset=3), fl.SlidingWindows(3, 3)]


class _Identity(fl.DoFn):
    def process(self, x):
        yield x


@st.composite
def scripts(draw):
    """Steps ("e", key, value, t_ms) and ("w", watermark_ms); elements land around the
    watermark: on time, and behind it (late: dropped in the windows that have expired)."""
    int_keys = draw(st.booleans())
    keys = [0, 1, 2, 7] if int_keys else ["a", "b", "c"]
    steps, wm = [], 0
    for _ in range(draw(st.integers(0, 50))):
        # times near whole seconds, where windows begin, end and expire
        jitter = draw(st.sampled_from([-1, 0, 0, 1, 500]))
        if draw(st.integers(0, 4)) == 0:
            wm = max(wm, wm + draw(st.integers(0, 8)) * 1000 + jitter)
            steps.append(("w", wm))
        else:
            t = wm + draw(st.integers(-12, 12)) * 1000 + jitter
            steps.append(("e", draw(st.sampled_from(keys)), draw(st.integers(-20, 50)), t))
    return steps


def _run(steps, window_fn, kind, fused):
    p = fl.Pipeline(argv=[])
    ts = TestStream()
    for s in steps:
        if s[0] == "e":
            ts = ts.add_elements([fl.TimestampedValue((s[1], s[2]), s[3] / 1000)])
        else:
            ts = ts.advance_watermark_to(s[1] / 1000)
    pc = p | ts.advance_watermark_to_infinity() | "Window" >> fl.WindowInto(window_fn)
    if not fused:
        pc = pc | "Unfuse" >> fl.ParDo(_Identity())
    box = Collected()
    pc | "Combine" >> fl.CombinePerKey(COMBINERS[kind]()) | fl.Write(CollectSink(box))
    result = p.run()
    dropped = result.metrics().query().counter("dropped_due_to_lateness")
    out = Counter()
    for (k, v), ts_ms, ws, pane in box.records:
        v = round(v, 9) if isinstance(v, float) and not math.isnan(v) else v
        out[(repr(k), ws[0].start_ms, ws[0].end_ms, repr(v), ts_ms, repr(pane))] += 1
    return out, int(dropped)


@SETTINGS
@given(scripts(), st.sampled_from(WINDOW_FNS), st.sampled_from(sorted(COMBINERS)))
def test_sliced_path_equals_window_driver_with_late_data(steps, window_fn, kind):
    assert _run(steps, window_fn, kind, fused=True) == _run(steps, window_fn, kind, fused=False)


class _Collect(Operator):
    def __init__(self) -> None:
        super().__init__("collect")
        self.items: list = []

    def process(self, idx, batch):
        self.items.extend((wv.value, wv.timestamp, wv.windows, wv.pane) for wv in batch)


def _operator(window_fn, kind):
    op = SlicedCombineOperator("Combine", "Window", Windowing(window_fn), COMBINERS[kind]())
    sink = _Collect()
    op.add_consumer(None, sink, 0)
    op.open(MetricsContainer())
    return op, sink


def _feed(op, steps):
    for s in steps:
        if s[0] == "e":
            op.process(0, [WindowedValue((s[1], s[2]), s[3], GLOBAL_WINDOWS)])
        else:
            op.receive_watermark(0, s[1])


@SETTINGS
@given(scripts(), st.sampled_from(WINDOW_FNS), st.sampled_from(sorted(COMBINERS)),
       st.integers(0, 50))
def test_sliced_operator_restored_from_a_snapshot_carries_on(steps, window_fn, kind, cut):
    cut = min(cut, len(steps))
    whole, whole_out = _operator(window_fn, kind)
    _feed(whole, steps + [("w", 10**9)])

    first, first_out = _operator(window_fn, kind)
    _feed(first, steps[:cut])
    snap = pickle.loads(pickle.dumps(first.snapshot()))
    second, second_out = _operator(window_fn, kind)
    second.restore(snap)
    _feed(second, steps[cut:] + [("w", 10**9)])

    assert Counter(map(repr, first_out.items + second_out.items)) == Counter(map(repr, whole_out.items))
