"""Window kinds with the default trigger: fixed, fixed with offset, sliding, global, custom.

Derivations use: window [s, e) has max_timestamp e - 0.001; the default trigger fires the
ON_TIME pane when the watermark passes max_timestamp; with allowed_lateness 0 the window
expires in the same watermark advance, so that pane is also the last one; OUTPUT_AT_EOW gives
the pane the timestamp e - 0.001.
"""

from __future__ import annotations

from fluvial.combine import CombinePerKey
from fluvial.combiners import SumCombineFn
from fluvial.create import Create
from fluvial.dofn import DoFn
from fluvial.pardo import ParDo
from fluvial.testing.conformance.case import Case
from fluvial.testing.conformance.cases_common import Out, gbk_sorted, on_time, tv, unknown
from fluvial.testing.test_stream import TestStream
from fluvial.window import FixedWindows, IntervalWindow, SlidingWindows, WindowFn
from fluvial.windowinto import WindowInto


class BucketWindows(WindowFn):
    """A custom WindowFn: windows between consecutive boundaries (seconds), e.g. [0, 10, 30, 100]
    gives [0,10), [10,30), [30,100). Timestamps outside go to the first / last bucket."""

    def __init__(self, bounds: list[int]) -> None:
        self.bounds = [int(b) * 1000 for b in bounds]

    def assign(self, timestamp_ms, element):
        b = self.bounds
        for lo, hi in zip(b, b[1:]):
            if timestamp_ms < hi:
                return [IntervalWindow(lo, hi)]
        return [IntervalWindow(b[-2], b[-1])]

    def __eq__(self, other):
        return isinstance(other, BucketWindows) and other.bounds == self.bounds

    def __hash__(self):
        return hash(tuple(self.bounds))


class WithWindowStart(DoFn):
    """x -> (x, window start in seconds): one output per window of the element."""

    def process(self, x, w=DoFn.WindowParam):
        yield (x, w.start_ms / 1000)


def _fixed_default_gbk(p):
    ts = (
        TestStream()
        .add_elements([tv(("a", 1), 1), tv(("a", 2), 30), tv(("b", 5), 45), tv(("a", 3), 70)])
        .advance_watermark_to(60)
        .advance_watermark_to(120)
        .advance_watermark_to_infinity()
    )
    pc = p | ts | WindowInto(FixedWindows(60))
    return gbk_sorted(pc)


def _fixed_offset_sum(p):
    ts = (
        TestStream()
        .add_elements([tv(("k", 1), 3), tv(("k", 2), 7), tv(("k", 3), 14)])
        .advance_watermark_to_infinity()
    )
    return p | ts | WindowInto(FixedWindows(10, offset=5)) | CombinePerKey(SumCombineFn())


def _window_boundary(p):
    ts = (
        TestStream()
        .add_elements([tv(("k", 1), 0), tv(("k", 2), 59.999)])
        .advance_watermark_to(59.999)
        .add_elements([tv(("k", 3), 59.999), tv(("k", 4), 60)])
        .advance_watermark_to(60)
        .advance_watermark_to_infinity()
    )
    return gbk_sorted(p | ts | WindowInto(FixedWindows(60)))


def _sliding_sum(p):
    ts = (
        TestStream()
        .add_elements([tv(("k", 1), 3), tv(("k", 2), 7), tv(("k", 4), 12)])
        .advance_watermark_to_infinity()
    )
    return p | ts | WindowInto(SlidingWindows(10, 5)) | CombinePerKey(SumCombineFn())


def _sliding_window_param(p):
    ts = TestStream().add_elements([tv(1, 7), tv(2, 10)]).advance_watermark_to_infinity()
    return p | ts | WindowInto(SlidingWindows(10, 5)) | ParDo(WithWindowStart())


def _global_create_gbk(p):
    return gbk_sorted(p | Create([("a", 1), ("b", 2), ("a", 3)]))


def _custom_windowfn(p):
    ts = (
        TestStream()
        .add_elements([tv(("k", 1), 5), tv(("k", 2), 15), tv(("k", 4), 25), tv(("k", 8), 50)])
        .advance_watermark_to(30)
        .advance_watermark_to_infinity()
    )
    return p | ts | WindowInto(BucketWindows([0, 10, 30, 100])) | CombinePerKey(SumCombineFn())


CASES = [
    Case(
        "fixed_default_gbk",
        ("test_stream", "fixed_windows", "group_by_key"),
        _fixed_default_gbk,
        (
            Out(["a", [1, 2]], (0, 60), on_time(), 59.999),
            Out(["b", [5]], (0, 60), on_time(), 59.999),
            Out(["a", [3]], (60, 120), on_time(), 119.999),
        ),
        "FixedWindows(60): [0,60) a:1+2, b:5 fire at wm 60 → ON_TIME first last (lateness 0 → "
        "expires in the same advance); [60,120) a:3 at wm 120.",
    ),
    Case(
        "fixed_offset_sum",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _fixed_offset_sum,
        (
            Out(["k", 1], (-5, 5), on_time(), 4.999),
            Out(["k", 5], (5, 15), on_time(), 14.999),
        ),
        "FixedWindows(10, offset=5): t=3 → [-5,5); t=7,14 → [5,15); sums 1 and 2+3=5 ON_TIME at ∞.",
    ),
    Case(
        "window_boundary_timestamps",
        ("test_stream", "fixed_windows", "group_by_key"),
        _window_boundary,
        (
            Out(["k", [1, 2, 3]], (0, 60), on_time(), 59.999),
            Out(["k", [4]], (60, 120), on_time(), 119.999),
        ),
        "t=0 and t=59.999 are in [0,60), t=60 in [60,120); wm 59.999 does not pass max_timestamp "
        "59.999 so k:3@59.999 is still on time; wm 60 fires [1,2,3] ON_TIME.",
    ),
    Case(
        "sliding_sum",
        ("test_stream", "sliding_windows", "combine_per_key"),
        _sliding_sum,
        (
            Out(["k", 1], (-5, 5), on_time(), 4.999),
            Out(["k", 3], (0, 10), on_time(), 9.999),
            Out(["k", 6], (5, 15), on_time(), 14.999),
            Out(["k", 4], (10, 20), on_time(), 19.999),
        ),
        "SlidingWindows(10,5): t=3 → [-5,5),[0,10); t=7 → [0,10),[5,15); t=12 → [5,15),[10,20); "
        "sums 1, 1+2, 2+4, 4, each ON_TIME only pane.",
    ),
    Case(
        "sliding_pardo_window_param",
        ("test_stream", "sliding_windows"),
        _sliding_window_param,
        (
            Out([1, 0], (0, 10), unknown(), 7),
            Out([1, 5], (5, 15), unknown(), 7),
            Out([2, 5], (5, 15), unknown(), 10),
            Out([2, 10], (10, 20), unknown(), 10),
        ),
        "A ParDo after WindowInto(SlidingWindows(10,5)) sees each element once per window: "
        "t=7 → [0,10),[5,15); t=10 → [5,15),[10,20); no grouping → pane UNKNOWN, own timestamp.",
    ),
    Case(
        "global_create_gbk",
        ("bounded_input", "global_window", "group_by_key"),
        _global_create_gbk,
        (
            Out(["a", [1, 3]], None, on_time()),
            Out(["b", [2]], None, on_time()),
        ),
        "Create (bounded, global window): the watermark jumps to ∞ after the input, firing the "
        "single ON_TIME pane per key (timestamp = end of the global window, not checked).",
    ),
    Case(
        "custom_windowfn_buckets",
        ("test_stream", "custom_window_fn", "combine_per_key"),
        _custom_windowfn,
        (
            Out(["k", 1], (0, 10), on_time(), 9.999),
            Out(["k", 6], (10, 30), on_time(), 29.999),
            Out(["k", 8], (30, 100), on_time(), 99.999),
        ),
        "BucketWindows([0,10,30,100]): t=5 → [0,10); t=15,25 → [10,30) = 2+4; t=50 → [30,100); "
        "wm 30 fires the first two, ∞ the last; each ON_TIME only pane.",
    ),
]
