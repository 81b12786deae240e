"""Side inputs (:mod:`fluvial.side_inputs`): each view of a bounded side input, a windowed side
input with Beam's default window mapping (fixed and sliding side windows), an AsSingleton's
default for an empty side window, and unbounded side inputs the main input waits for.

Rules the goldens follow: a main element is processed once per window and sees the side input's
contents in the side window its window maps to (the side WindowFn assigns the main window's max
timestamp; the last window assigned, i.e. for sliding windows the earliest-starting one); it
waits until the side input's watermark has passed that side window, so it sees every element
the side window gets before then, including those that arrive after the main element. Outputs
keep the main element's timestamp and window, pane UNKNOWN.
"""

from __future__ import annotations

from fluvial.combine import CombinePerKey
from fluvial.combiners import SumCombineFn
from fluvial.create import Create
from fluvial.dofn import DoFn
from fluvial.pardo import ParDo
from fluvial.side_inputs import AsDict, AsIter, AsList, AsSingleton
from fluvial.testing.conformance.case import Case
from fluvial.testing.conformance.cases_common import Out, on_time, tv, unknown
from fluvial.testing.test_stream import TestStream
from fluvial.window import FixedWindows, SlidingWindows
from fluvial.windowinto import WindowInto

U = unknown()


class Scale(DoFn):
    """x -> x * factor (a singleton side input)."""

    def process(self, x, factor):
        yield x * factor


class Lookup(DoFn):
    """key -> (key, table.get(key)) (an AsDict side input passed by keyword)."""

    def process(self, key, table=None):
        yield (key, table.get(key))


class SumAndList(DoFn):
    """x -> (x, sum of an iterable side input, sorted list side input)."""

    def process(self, x, numbers, words):
        yield (x, sum(numbers), sorted(words))


class Attach(DoFn):
    """x -> (x, sorted side list)."""

    def process(self, x, side):
        yield (x, sorted(side))


class AddSingleton(DoFn):
    """x -> x + the side singleton."""

    def process(self, x, extra):
        yield x + extra


class Pair(DoFn):
    """x -> (x, the side singleton)."""

    def process(self, x, side):
        yield (x, side)


class Pick(DoFn):
    """(tag, v) -> v for the elements tagged ``tag``."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def process(self, tv_):
        if tv_[0] == self.tag:
            yield tv_[1]


class KeyNone(DoFn):
    def process(self, x):
        yield (None, x)


class DropKey(DoFn):
    def process(self, kv):
        yield kv[1]


def _bounded_singleton(p):
    factor = p | "Factor" >> Create([10])
    return p | Create([1, 2, 3]) | ParDo(Scale(), AsSingleton(factor))


def _as_dict(p):
    table = p | "Table" >> Create([("a", 1), ("b", 2)])
    return p | Create(["a", "b", "c"]) | ParDo(Lookup(), table=AsDict(table))


def _iter_and_list(p):
    numbers = p | "Numbers" >> Create([1, 2, 3])
    words = p | "Words" >> Create(["y", "x"])
    return p | Create([1, 2]) | ParDo(SumAndList(), AsIter(numbers), words=AsList(words))


def _singleton_default(p):
    side = p | "Side" >> Create([tv(100, 3), tv(300, 22)])
    side = side | "SideWindows" >> WindowInto(FixedWindows(10))
    main = p | Create([tv(1, 5), tv(2, 15), tv(3, 25)]) | WindowInto(FixedWindows(10))
    return main | ParDo(AddSingleton(), AsSingleton(side, default_value=0))


def _fixed_mapping(p):
    side = p | "Side" >> Create([tv(1, 1), tv(2, 12), tv(3, 25), tv(4, 31)])
    side = side | "SideWindows" >> WindowInto(FixedWindows(30))
    main = p | Create([tv("a", 5), tv("b", 15), tv("c", 35)]) | WindowInto(FixedWindows(10))
    return main | ParDo(Attach(), AsList(side))


def _sliding_mapping(p):
    side = p | "Side" >> Create([tv(1, 5), tv(2, 12), tv(3, 25)])
    side = side | "SideWindows" >> WindowInto(SlidingWindows(20, 10))
    main = p | Create([tv("a", 15), tv("b", 25)]) | WindowInto(FixedWindows(10))
    return main | ParDo(Attach(), AsList(side))


def _split(p, ts):
    both = p | ts
    main = both | "Main" >> ParDo(Pick("main")) | "MainWindows" >> WindowInto(FixedWindows(10))
    side = both | "Side" >> ParDo(Pick("side")) | "SideWindows" >> WindowInto(FixedWindows(10))
    return main, side


def _unbounded_waits(p):
    ts = (
        TestStream()
        .add_elements([tv(("main", "m1"), 2), tv(("side", 100), 1)])
        .advance_watermark_to(5)
        .add_elements([tv(("side", 200), 7), tv(("main", "m2"), 12), tv(("side", 300), 11)])
        .advance_watermark_to(10)
        .add_elements([tv(("side", 400), 15)])
        .advance_watermark_to_infinity()
    )
    main, side = _split(p, ts)
    return main | "Attach" >> ParDo(Attach(), AsList(side))


class AddSum(DoFn):
    """x -> ("k", x + sum of the side list)."""

    def process(self, x, side):
        yield ("k", x + sum(side))


def _wait_holds_watermark(p):
    ts = (
        TestStream()
        .add_elements([tv(("main", 1), 2), tv(("side", 100), 1)])
        .advance_watermark_to(30)
        .add_elements([tv(("side", 200), 40)])
        .advance_watermark_to(60)
        .advance_watermark_to_infinity()
    )
    both = p | ts
    main = both | "Main" >> ParDo(Pick("main")) | "MainWindows" >> WindowInto(FixedWindows(10))
    side = both | "Side" >> ParDo(Pick("side")) | "SideWindows" >> WindowInto(FixedWindows(60))
    added = main | "AddSum" >> ParDo(AddSum(), AsList(side))
    return added | "Sum" >> CombinePerKey(SumCombineFn())


def _unbounded_combined(p):
    ts = (
        TestStream()
        .add_elements([tv(("main", 5), 2), tv(("side", 100), 1)])
        .add_elements([tv(("side", 200), 7), tv(("main", 50), 14)])
        .advance_watermark_to(10)
        .add_elements([tv(("side", 30), 11)])
        .advance_watermark_to_infinity()
    )
    main, side = _split(p, ts)
    total = (side | "KeyNone" >> ParDo(KeyNone()) | "Total" >> CombinePerKey(SumCombineFn())
             | "DropKey" >> ParDo(DropKey()))
    return main | "Pair" >> ParDo(Pair(), AsSingleton(total))


CASES = [
    Case(
        "side_input_bounded_singleton",
        ("bounded_input", "side_inputs"),
        _bounded_singleton,
        (Out(10, None, U), Out(20, None, U), Out(30, None, U)),
        "Create([1,2,3]) with AsSingleton(Create([10])): the global side window is ready when the "
        "side Create ends; each element times 10.",
    ),
    Case(
        "side_input_as_dict_lookup",
        ("bounded_input", "side_inputs"),
        _as_dict,
        (Out(["a", 1], None, U), Out(["b", 2], None, U), Out(["c", None], None, U)),
        "AsDict(Create([('a',1),('b',2)])) passed by keyword: a → 1, b → 2, c → missing (None).",
    ),
    Case(
        "side_input_as_iter_and_list",
        ("bounded_input", "side_inputs"),
        _iter_and_list,
        (Out([1, 6, ["x", "y"]], None, U), Out([2, 6, ["x", "y"]], None, U)),
        "Two side inputs: AsIter(Create([1,2,3])) positional (summed: 6) and "
        "AsList(Create(['y','x'])) by keyword (sorted).",
    ),
    Case(
        "side_input_singleton_default",
        ("bounded_input", "fixed_windows", "side_inputs"),
        _singleton_default,
        (
            Out(101, (0, 10), U, 5),
            Out(2, (10, 20), U, 15),
            Out(303, (20, 30), U, 25),
        ),
        "Main and side in FixedWindows(10); side 100@3 in [0,10), 300@22 in [20,30), nothing in "
        "[10,20): 1@5 + 100, 2@15 + the default 0, 3@25 + 300.",
    ),
    Case(
        "side_input_windowed_mapping",
        ("bounded_input", "fixed_windows", "side_inputs"),
        _fixed_mapping,
        (
            Out(["a", [1, 2, 3]], (0, 10), U, 5),
            Out(["b", [1, 2, 3]], (10, 20), U, 15),
            Out(["c", [4]], (30, 40), U, 35),
        ),
        "Main FixedWindows(10), side FixedWindows(30): [0,10) and [10,20) end before 30 s → side "
        "window [0,30) = 1@1, 2@12, 3@25; [30,40) → [30,60) = 4@31.",
    ),
    Case(
        "side_input_sliding_mapping",
        ("bounded_input", "fixed_windows", "sliding_windows", "side_inputs"),
        _sliding_mapping,
        (
            Out(["a", [1, 2]], (10, 20), U, 15),
            Out(["b", [2, 3]], (20, 30), U, 25),
        ),
        "Side SlidingWindows(20, 10): main [10,20) max timestamp 19.999 is in [0,20) and [10,30); "
        "the last window assigned, the earliest-starting one, [0,20) = 1@5, 2@12; main [20,30) "
        "→ [10,30) = 2@12, 3@25.",
    ),
    Case(
        "side_input_unbounded_waits",
        ("test_stream", "fixed_windows", "side_inputs"),
        _unbounded_waits,
        (
            Out(["m1", [100, 200]], (0, 10), U, 2),
            Out(["m2", [300, 400]], (10, 20), U, 12),
        ),
        "One TestStream split into main and side, both FixedWindows(10). m1@2 arrives with side "
        "100@1 and waits: 200@7 comes after it; the watermark 10 makes side [0,10) ready → m1 sees "
        "[100,200]. m2@12 waits for [10,20), which gets 300@11 and 400@15 before ∞.",
    ),
    Case(
        "side_input_wait_holds_watermark",
        ("test_stream", "fixed_windows", "combine_per_key", "side_inputs"),
        _wait_holds_watermark,
        (Out(["k", 301], (0, 10), on_time(), 9.999),),
        "Main FixedWindows(10), side FixedWindows(60): 1@2 waits for side [0,60) until the "
        "watermark reaches 60; while it waits it holds the ParDo's output watermark at 2, so at "
        "watermark 30 the Sum's window [0,10) has not ended; at 60 it gets 1+100+200 and fires "
        "it ON_TIME.",
    ),
    Case(
        "side_input_unbounded_combined_singleton",
        ("test_stream", "fixed_windows", "combine_per_key", "side_inputs"),
        _unbounded_combined,
        (
            Out([5, 300], (0, 10), U, 2),
            Out([50, 30], (10, 20), U, 14),
        ),
        "The side input is a per-window sum (CombinePerKey) read as AsSingleton: 5@2 waits for "
        "the [0,10) total 100+200 (fired at watermark 10); 50@14 waits for [10,20): 30, fired at "
        "∞.",
    ),
]
