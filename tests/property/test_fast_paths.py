"""Every fused grouping of the direct runner is the window driver's semantics: on random
scripts (keys, out-of-order elements, watermark steps, late and expired elements, several
elements per batch) a pipeline WindowInto → CombinePerKey / GroupByKey gives the same panes
(values, windows, timestamps, pane info), late outputs and drop counters with the fast paths on
(the sliced path, the sessions operator, the fused batched driver) and with
``--direct-fast-paths off`` (the window driver one element at a time). And each fused operator
restored from a pickled snapshot mid-stream carries on exactly as one that never stopped."""

from __future__ import annotations

import pickle
from collections import Counter

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from property_support import Collected, CollectSink

import fluvial as fl
from fluvial.combine import as_combine_fn
from fluvial.combiners import CountCombineFn, SumCombineFn
from fluvial.metrics import MetricsContainer
from fluvial.runners.direct.fast_paths import fuse_window_into
from fluvial.runners.direct.operators.base import Operator
from fluvial.testing import TestStream
from fluvial.values import GLOBAL_WINDOWS, WindowedValue
from fluvial.windowing import Windowing

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EACH = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class SumAndCount(fl.CombineFn):
    """A user CombineFn that mutates accumulators in place: in ``add_input``, and the first one
    in ``merge_accumulators`` (as Beam's contract allows)."""

    def create_accumulator(self):
        return [0, 0]

    def add_input(self, acc, x):
        acc[0] += x
        acc[1] += 1
        return acc

    def merge_accumulators(self, accs):
        it = iter(accs)
        out = next(it)
        for a in it:
            out[0] += a[0]
            out[1] += a[1]
        return out

    def extract_output(self, acc):
        return tuple(acc)


class FixedOnly(fl.CombineFn):
    """A user CombineFn that cannot merge (fine on fixed windows, not sliced on sliding ones)."""

    def create_accumulator(self):
        return ()

    def add_input(self, acc, x):
        return acc + (x,)

    def extract_output(self, acc):
        return sorted(acc)


class Picky(fl.CombineFn):
    """Fails for some elements (``add_input``, leaving the accumulator as it was) and for some
    panes (``extract_output``), so the error policy isolates them."""

    def create_accumulator(self):
        return (0, 0)

    def add_input(self, acc, x):
        if x % 7 == 3:
            raise ValueError(f"no {x}")
        return (acc[0] + x, acc[1] + 1)

    def merge_accumulators(self, accs):
        return (sum(a[0] for a in accs), sum(a[1] for a in accs))

    def extract_output(self, acc):
        if acc[0] % 11 == 5:
            raise ArithmeticError(f"no pane for {acc}")
        return acc


COMBINES = {
    "gbk": None,
    "sum-builtin": SumCombineFn,
    "count-builtin": CountCombineFn,
    "user-mutable": SumAndCount,
    "callable-sum": lambda: sum,
    "no-merge": FixedOnly,
    "picky": Picky,
}
SLICED_FNS = [fl.FixedWindows(5), fl.FixedWindows(2, offset=1), fl.SlidingWindows(6, 2),
              fl.SlidingWindows(10, 5, offset=3), fl.SlidingWindows(3, 3)]
SESSION_FNS = [fl.Sessions(3), fl.Sessions(1), fl.Sessions(0.5)]
TRIGGERS = [  # anything but the default trigger without lateness: the fused batched driver
    dict(allowed_lateness=4),
    dict(trigger=fl.AfterWatermark(early=fl.AfterCount(2)),
         accumulation_mode=fl.AccumulationMode.ACCUMULATING),
    dict(trigger=fl.AfterWatermark(early=fl.AfterCount(3), late=fl.AfterCount(1)),
         allowed_lateness=6),
    dict(trigger=fl.Repeatedly(fl.AfterCount(2))),
    dict(timestamp_combiner=fl.TimestampCombiner.OUTPUT_AT_EARLIEST),
    dict(timestamp_combiner=fl.TimestampCombiner.OUTPUT_AT_LATEST, allowed_lateness=2),
]
# (window fns, windowing options, combines): the sliced path, the sessions operator, the
# fused batched driver
GOOD = [c for c in sorted(COMBINES) if c != "picky"]  # "picky" fails on purpose: policies
PATHS = {
    "sliced": (SLICED_FNS, [{}], GOOD),
    "sessions": (SESSION_FNS, [{}], [c for c in GOOD if c != "no-merge"]),
    "batched": (SLICED_FNS, TRIGGERS, GOOD),
}


@st.composite
def configs(draw, path, combine=None):
    fns, options, combines = PATHS[path]
    return (draw(st.sampled_from(fns)), draw(st.sampled_from(options)),
            combine or draw(st.sampled_from(combines)), draw(st.booleans()))


def _cases(path):
    return [(path, c) for c in PATHS[path][2]]


NOT_KEYED = "<not a (key, value) pair>"


@st.composite
def scripts(draw, bad=False):
    """Steps ("e", [(key, value, t_ms), ...]) — one batch — and ("w", watermark_ms); elements
    land around the watermark: on time, late, expired; in order or not."""
    keys = draw(st.sampled_from([[0, 1, 2, 7], ["a", "b", "c"], ["only"]]))
    steps, wm = [], 0
    for _ in range(draw(st.integers(0, 30))):
        jitter = draw(st.sampled_from([-1, 0, 0, 1, 500]))
        if draw(st.integers(0, 3)) == 0:
            wm = max(wm, wm + draw(st.integers(0, 8)) * 1000 + jitter)
            steps.append(("w", wm))
        else:
            batch = []
            for _ in range(draw(st.integers(1, 4))):
                t = wm + draw(st.integers(-12, 12)) * 1000 + jitter
                key = draw(st.sampled_from(keys))
                if bad and draw(st.integers(0, 9)) == 0:
                    key = draw(st.sampled_from([NOT_KEYED, ["unhashable"]]))
                batch.append((key, draw(st.integers(-20, 50)), t))
            steps.append(("e", batch))
    return steps


def _windowed(steps, window_fn, kwargs, argv):
    p = fl.Pipeline(argv=argv)
    ts = TestStream()
    for s in steps:
        if s[0] == "e":
            ts = ts.add_elements([fl.TimestampedValue(v if k is NOT_KEYED else (k, v), t / 1000)
                                  for k, v, t in s[1]])
        else:
            ts = ts.advance_watermark_to(s[1] / 1000)
    return p, p | ts.advance_watermark_to_infinity() | "Window" >> fl.WindowInto(window_fn, **kwargs)


def _norm(v):
    if isinstance(v, list):
        return sorted(v)
    return v


def _run(steps, window_fn, kwargs, combine, late_output, fast, policy=None):
    argv = ([] if fast else ["--direct-fast-paths", "off"]) + (
        ["--on-error", policy] if policy else [])
    p, pc = _windowed(steps, window_fn, kwargs, argv)
    make = COMBINES[combine]
    t = fl.GroupByKey() if make is None else fl.CombinePerKey(make())
    dead = Collected()
    if policy == "dead_letter":
        p.dead_letters() | "Dead" >> fl.Write(CollectSink(dead))
    if late_output:
        t = t.with_late_output()
    out = pc | "Agg" >> t
    main, late = (out.main, out.late) if late_output else (out, None)
    box, late_box = Collected(), Collected()
    main | "Main" >> fl.Write(CollectSink(box))
    if late is not None:
        late | "Late" >> fl.Write(CollectSink(late_box))
    result = p.run()
    q = result.metrics().query(namespace="fluvial")
    got = Counter()
    for (k, v), ts_ms, ws, pane in box.records:
        got[(repr(k), repr(ws), repr(_norm(v)), ts_ms, repr(pane))] += 1
    lates = Counter(repr(r) for r in late_box.records)
    dead_letters = Counter((r.transform, r.error_type, repr(r.payload), r.timestamp_ms)
                           for r, *_ in dead.records)
    return got, lates, dead_letters, (
        q.counter("dropped_due_to_lateness"), q.counter("dropped_due_to_closed_window"),
        q.counter("errors_skipped"))


@pytest.mark.parametrize("path,combine", _cases("sliced") + _cases("sessions") + _cases("batched"))
@EACH
@given(data=st.data())
def test_fused_grouping_equals_the_window_driver(path, combine, data):
    steps = data.draw(scripts(), "steps")
    window_fn, kwargs, combine, late_output = data.draw(configs(path, combine), "config")
    if path == "sliced":
        late_output = False  # with late output the window driver's operator runs
    assert (_run(steps, window_fn, kwargs, combine, late_output, fast=True)
            == _run(steps, window_fn, kwargs, combine, late_output, fast=False))


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("policy", ["dead_letter", "skip"])
@EACH
@given(data=st.data())
def test_fused_grouping_isolates_failures_as_the_window_driver(path, policy, data):
    # elements that are not (key, value) pairs, unhashable keys, a CombineFn failing for some
    # elements and some panes: the same outputs, dead letters and counters
    steps = data.draw(scripts(bad=True), "steps")
    window_fn, kwargs, _, late_output = data.draw(configs(path), "config")
    combine = data.draw(st.sampled_from(["picky", "gbk"]), "combine")
    if path == "sliced":
        late_output = False
    assert (_run(steps, window_fn, kwargs, combine, late_output, True, policy)
            == _run(steps, window_fn, kwargs, combine, late_output, False, policy))


# -- snapshot and restore of each fused operator -----------------------------------------------
class _Collect(Operator):
    def __init__(self) -> None:
        super().__init__("collect")
        self.items: list = []

    def process(self, idx, batch):
        from fluvial.runners.direct.rows import as_windowed_values

        for wv in as_windowed_values(batch):
            v = wv.value
            if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], list):
                v = (v[0], sorted(v[1]))
            self.items.append(repr((v, wv.timestamp, wv.windows, wv.pane)))


class _Node:
    def __init__(self, transform):
        self.transform = transform
        self.full_label = "Agg"


def _fused(window_fn, kwargs, combine):
    """The operator the direct runner builds for Window → Agg, or None when they run apart."""
    windowing = Windowing.build("Window", window_fn, kwargs.get("trigger"),
                                kwargs.get("accumulation_mode"), kwargs.get("allowed_lateness", 0),
                                kwargs.get("timestamp_combiner"))
    make = COMBINES[combine]
    t = fl.GroupByKey() if make is None else fl.CombinePerKey(make())
    if make is not None:
        t.combine_fn = as_combine_fn(t.fn_arg, "Agg")
    return fuse_window_into("Window", windowing, _Node(t), fl.PipelineOptions())


def _operator(window_fn, kwargs, combine):
    op = _fused(window_fn, kwargs, combine)
    sink = _Collect()
    op.add_consumer(None, sink, 0)
    op.open(MetricsContainer())
    return op, sink


def _feed(op, steps):
    for s in steps:
        if s[0] == "e":
            op.process(0, [WindowedValue((k, v), t, GLOBAL_WINDOWS) for k, v, t in s[1]])
        else:
            op.receive_watermark(0, s[1])


@SETTINGS
@given(scripts(), st.sampled_from(sorted(PATHS)).flatmap(configs), st.integers(0, 30))
def test_fused_operator_restored_from_a_snapshot_carries_on(steps, config, cut):
    window_fn, kwargs, combine, _ = config
    cut = min(cut, len(steps))
    whole, whole_out = _operator(window_fn, kwargs, combine)
    _feed(whole, steps + [("w", 10**9)])

    first, first_out = _operator(window_fn, kwargs, combine)
    _feed(first, steps[:cut])
    snap = pickle.loads(pickle.dumps(first.snapshot()))
    second, second_out = _operator(window_fn, kwargs, combine)
    second.restore(snap)
    _feed(second, steps[cut:] + [("w", 10**9)])

    assert Counter(first_out.items + second_out.items) == Counter(whole_out.items)


def test_the_fused_operator_chosen_for_each_shape():
    def op(window_fn, combine="sum-builtin", **kwargs):
        fused = _fused(window_fn, kwargs, combine)
        return None if fused is None else type(fused).__name__

    early = fl.AfterWatermark(early=fl.AfterCount(2))
    assert op(fl.FixedWindows(5)) == "SlicedCombineOperator"
    assert op(fl.FixedWindows(5), "gbk") == "SlicedCombineOperator"
    assert op(fl.FixedWindows(5), "no-merge") == "SlicedCombineOperator"
    assert op(fl.SlidingWindows(6, 2), "user-mutable") == "SlicedCombineOperator"
    assert op(fl.SlidingWindows(6, 2), "no-merge") == "GroupOperator"
    assert op(fl.SlidingWindows(6, 4), "gbk") is None  # size not a multiple of the period
    assert op(fl.FixedWindows(5), trigger=early) == "GroupOperator"
    assert op(fl.FixedWindows(5), allowed_lateness=3) == "GroupOperator"
    assert op(fl.Sessions(3), "gbk") == "SessionsOperator"
    assert op(fl.Sessions(3), "user-mutable") == "SessionsOperator"
    assert op(fl.Sessions(3), allowed_lateness=4) is None
    assert op(fl.Sessions(3), trigger=early) is None
    assert op(fl.GlobalWindows(), trigger=fl.Repeatedly(fl.AfterCount(2))) is None
