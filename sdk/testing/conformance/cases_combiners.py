"""Combiners: CombineGlobally (windowed, bounded, empty input default), the built-in CombineFns
(Sum, Count, Mean, Min, Max, Top), a plain callable and a custom CombineFn under accumulating
early panes (extract_output must not consume the accumulator)."""

from __future__ import annotations

from fluvial.combine import CombineFn, CombineGlobally, CombinePerKey
from fluvial.combiners import (
    CountCombineFn,
    MaxCombineFn,
    MeanCombineFn,
    MinCombineFn,
    SumCombineFn,
    TopCombineFn,
)
from fluvial.create import Create
from fluvial.testing.conformance.case import Case
from fluvial.testing.conformance.cases_common import Out, early, on_time, tv, tvs
from fluvial.testing.test_stream import TestStream
from fluvial.triggers import AccumulationMode, AfterCount, AfterWatermark
from fluvial.window import FixedWindows, GlobalWindows
from fluvial.windowinto import WindowInto

W10 = (0, 10)


class ConcatSorted(CombineFn):
    """Joins strings in sorted order."""

    def create_accumulator(self):
        return []

    def add_input(self, acc, x):
        acc.append(x)
        return acc

    def merge_accumulators(self, accs):
        out = []
        for a in accs:
            out.extend(a)
        return out

    def extract_output(self, acc):
        return "".join(sorted(acc))


def _stream():
    """a: 5, 1, 9, 3 ; b: 2, 6 — all in [0,10)."""
    return (
        TestStream()
        .add_elements(
            [*tvs("a", [(5, 1), (1, 2)]), *tvs("b", [(2, 3)]), *tvs("a", [(9, 4), (3, 5)])]
        )
        .add_elements(tvs("b", [(6, 6)]))
        .advance_watermark_to_infinity()
    )


def _per_key(fn):
    def build(p):
        return p | _stream() | WindowInto(FixedWindows(10)) | CombinePerKey(fn)

    return build


def _globally_fixed(p):
    ts = (
        TestStream()
        .add_elements([tv(1, 1), tv(2, 5), tv(3, 12)])
        .advance_watermark_to(10)
        .add_elements([tv(4, 18)])
        .advance_watermark_to_infinity()
    )
    return p | ts | WindowInto(FixedWindows(10)) | CombineGlobally(SumCombineFn())


def _globally_create(p):
    return p | Create([1, 2, 3, 4]) | CombineGlobally(SumCombineFn())


def _globally_empty(p):
    return p | Create([]) | CombineGlobally(SumCombineFn())


def _globally_global_count(p):
    ts = (
        TestStream()
        .add_elements([tv("x", 1), tv("y", 2), tv("z", 3)])
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        GlobalWindows(),
        trigger=AfterWatermark(early=AfterCount(2)),
        accumulation_mode=AccumulationMode.ACCUMULATING,
    )
    return p | ts | w | CombineGlobally(CountCombineFn())


def _custom_acc(p):
    ts = (
        TestStream()
        .add_elements([tv(("k", "b"), 1), tv(("k", "a"), 2)])
        .add_elements([tv(("k", "c"), 3)])
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        FixedWindows(10),
        trigger=AfterWatermark(early=AfterCount(2)),
        accumulation_mode=AccumulationMode.ACCUMULATING,
    )
    return p | ts | w | CombinePerKey(ConcatSorted())


def _mean_early_acc(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(2, 1), (4, 2)]))
        .add_elements(tvs("k", [(6, 3)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        FixedWindows(10),
        trigger=AfterWatermark(early=AfterCount(2)),
        accumulation_mode=AccumulationMode.ACCUMULATING,
    )
    return p | ts | w | CombinePerKey(MeanCombineFn())


def _many_keys(p):
    # i = 0..199 at ts i/2 seconds, key "k{i % 7}", value i
    ts = TestStream().add_elements([tv((f"k{i % 7}", i), i / 2) for i in range(200)])
    return (
        p
        | ts.advance_watermark_to_infinity()
        | WindowInto(FixedWindows(10))
        | CombinePerKey(SumCombineFn())
    )


def _many_keys_expected():
    # window j = [10j, 10j+10) holds i with 20j <= i < 20j+20 (ts i/2); arithmetic oracle
    out = []
    for j in range(10):
        for r in range(7):
            vals = [i for i in range(20 * j, 20 * j + 20) if i % 7 == r]
            if vals:
                out.append(
                    Out([f"k{r}", sum(vals)], (10 * j, 10 * j + 10), on_time(), 10 * j + 9.999)
                )
    return tuple(out)


E10 = 9.999

CASES = [
    Case(
        "combine_globally_fixed",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _globally_fixed,
        (
            Out(3, W10, on_time(), E10),
            Out(7, (10, 20), on_time(), 19.999),
        ),
        "CombineGlobally(Sum) per window: [0,10) 1+2 at wm 10, [10,20) 3+4 at ∞; no default "
        "value for windows without input.",
    ),
    Case(
        "combine_globally_create",
        ("bounded_input", "global_window", "combine_per_key", "flatten"),
        _globally_create,
        (Out(10, None, on_time()),),
        "Create([1,2,3,4]) | CombineGlobally(Sum) → one value 10 in the global window.",
    ),
    Case(
        "combine_globally_empty_default",
        ("bounded_input", "global_window", "combine_per_key", "flatten"),
        _globally_empty,
        (Out(0, None, on_time()),),
        "Empty input, global window, default trigger: CombineGlobally yields the combiner's empty "
        "result, Sum → 0 (as Beam).",
    ),
    Case(
        "combine_globally_global_early_count",
        (
            "test_stream", "global_window", "combine_per_key", "count_triggers", "early_firings",
            "accumulating",
        ),
        _globally_global_count,
        (
            Out(2, None, early(0)),
            Out(3, None, on_time(1, first=False, ns=0)),
        ),
        "GlobalWindows, early=AfterCount(2), accumulating, Count: EARLY 2 after x,y; ∞ → ON_TIME 3.",
    ),
    Case(
        "combiner_sum",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _per_key(SumCombineFn()),
        (Out(["a", 18], W10, on_time(), E10), Out(["b", 8], W10, on_time(), E10)),
        "Sum: a 5+1+9+3 = 18, b 2+6 = 8.",
    ),
    Case(
        "combiner_count",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _per_key(CountCombineFn()),
        (Out(["a", 4], W10, on_time(), E10), Out(["b", 2], W10, on_time(), E10)),
        "Count: a 4 elements, b 2.",
    ),
    Case(
        "combiner_mean",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _per_key(MeanCombineFn()),
        (Out(["a", 4.5], W10, on_time(), E10), Out(["b", 4], W10, on_time(), E10)),
        "Mean: a 18/4 = 4.5, b 8/2 = 4.0.",
    ),
    Case(
        "combiner_min",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _per_key(MinCombineFn()),
        (Out(["a", 1], W10, on_time(), E10), Out(["b", 2], W10, on_time(), E10)),
        "Min: a 1, b 2.",
    ),
    Case(
        "combiner_max",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _per_key(MaxCombineFn()),
        (Out(["a", 9], W10, on_time(), E10), Out(["b", 6], W10, on_time(), E10)),
        "Max: a 9, b 6.",
    ),
    Case(
        "combiner_top",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _per_key(TopCombineFn(2)),
        (Out(["a", [9, 5]], W10, on_time(), E10), Out(["b", [6, 2]], W10, on_time(), E10)),
        "Top(2), largest first: a [9,5], b [6,2].",
    ),
    Case(
        "combiner_top_smallest",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _per_key(TopCombineFn(3, reverse=True)),
        (Out(["a", [1, 3, 5]], W10, on_time(), E10), Out(["b", [2, 6]], W10, on_time(), E10)),
        "Top(3, reverse=True), smallest first: a [1,3,5], b [2,6] (fewer than 3).",
    ),
    Case(
        "combine_callable",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _per_key(max),
        (Out(["a", 9], W10, on_time(), E10), Out(["b", 6], W10, on_time(), E10)),
        "CombinePerKey(max) with a plain function over an iterable: a 9, b 6.",
    ),
    Case(
        "custom_combinefn_accumulating_early",
        (
            "test_stream", "fixed_windows", "combine_per_key", "count_triggers", "early_firings",
            "accumulating",
        ),
        _custom_acc,
        (
            Out(["k", "ab"], W10, early(0), E10),
            Out(["k", "abc"], W10, on_time(1, first=False, ns=0), E10),
        ),
        "Custom CombineFn under early=AfterCount(2), accumulating: EARLY 'ab' after b, a; the "
        "accumulator survives extract_output, ON_TIME 'abc' at ∞.",
    ),
    Case(
        "mean_accumulating_early",
        (
            "test_stream", "fixed_windows", "combine_per_key", "count_triggers", "early_firings",
            "accumulating",
        ),
        _mean_early_acc,
        (
            Out(["k", 3], W10, early(0), E10),
            Out(["k", 4], W10, on_time(1, first=False, ns=0), E10),
        ),
        "Mean, early=AfterCount(2), accumulating: EARLY mean(2,4) = 3.0; ON_TIME mean(2,4,6) = 4.0.",
    ),
    Case(
        "sum_many_keys_windows",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _many_keys,
        _many_keys_expected(),
        "200 elements i at ts i/2, key k(i mod 7), value i, in one batch; FixedWindows(10): window "
        "[10j,10j+10) holds i in [20j, 20j+20); expected sums from that arithmetic (70 records, "
        "each ON_TIME only pane at ∞).",
    ),
]
