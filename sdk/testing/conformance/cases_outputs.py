"""ParDo outputs: tagged side outputs (global and windowed), side outputs with new timestamps,
Flatten, and a bounded Create pipeline."""

from __future__ import annotations

from fluvial.combine import CombinePerKey
from fluvial.combiners import SumCombineFn
from fluvial.create import Create
from fluvial.dofn import DoFn
from fluvial.flatten import Flatten
from fluvial.pardo import ParDo
from fluvial.testing.conformance.case import Case
from fluvial.testing.conformance.cases_common import Out, Tag, on_time, tv, unknown
from fluvial.testing.test_stream import TestStream
from fluvial.values import TaggedOutput, TimestampedValue
from fluvial.window import FixedWindows
from fluvial.windowinto import WindowInto

U = unknown()


class Parity(DoFn):
    """Even numbers to the main output, odd ones to 'odd'."""

    def process(self, x):
        if x % 2 == 0:
            yield x
        else:
            yield TaggedOutput("odd", x)


class KeyedParity(DoFn):
    """x -> ('even', x) on main or ('odd', x) on the 'odd' output."""

    def process(self, x):
        if x % 2 == 0:
            yield ("even", x)
        else:
            yield TaggedOutput("odd", ("odd", x))


class SplitAndShift(DoFn):
    """x to main; x*10 to 'shifted' at timestamp + 100 s."""

    def process(self, x, ts=DoFn.TimestampParam):
        yield x
        yield TaggedOutput("shifted", TimestampedValue(x * 10, ts.seconds + 100))


class Double(DoFn):
    def process(self, x):
        yield 2 * x


def _tagged_flatten(p):
    ts = TestStream().add_elements([tv(i, i) for i in range(1, 5)]).advance_watermark_to_infinity()
    outs = p | ts | ParDo(Parity()).with_outputs("odd", main="even")
    evens = outs.main | "MarkEven" >> ParDo(Tag("even"))
    odds = outs.odd | "MarkOdd" >> ParDo(Tag("odd"))
    return (evens, odds) | Flatten()


def _tagged_windowed(p):
    ts = (
        TestStream()
        .add_elements([tv(1, 1), tv(2, 2), tv(3, 3), tv(4, 4), tv(5, 12), tv(6, 13)])
        .advance_watermark_to(10)
        .advance_watermark_to_infinity()
    )
    outs = p | ts | WindowInto(FixedWindows(10)) | ParDo(KeyedParity()).with_outputs("odd")
    evens = outs.main | "SumEven" >> CombinePerKey(SumCombineFn())
    odds = outs["odd"] | "SumOdd" >> CombinePerKey(SumCombineFn())
    return (evens, odds) | Flatten()


def _tagged_timestamped(p):
    ts = TestStream().add_elements([tv(1, 1), tv(2, 2.5)]).advance_watermark_to_infinity()
    outs = p | ts | ParDo(SplitAndShift()).with_outputs("shifted")
    return outs.shifted


def _create_pardo(p):
    return p | Create([1, 2, 3]) | ParDo(Double())


def _create_timestamped_window(p):
    pc = p | Create([tv(("k", 1), 5), tv(("k", 2), 15), tv(("k", 3), 8)])
    return pc | WindowInto(FixedWindows(10)) | CombinePerKey(SumCombineFn())


CASES = [
    Case(
        "tagged_outputs_flatten",
        ("test_stream", "side_outputs", "flatten"),
        _tagged_flatten,
        (
            Out(["odd", 1], None, U, 1),
            Out(["even", 2], None, U, 2),
            Out(["odd", 3], None, U, 3),
            Out(["even", 4], None, U, 4),
        ),
        "with_outputs('odd', main='even'): evens on main, odds on 'odd'; each marked and "
        "flattened; elements keep timestamps, global window, UNKNOWN.",
    ),
    Case(
        "tagged_outputs_windowed_sum",
        ("test_stream", "fixed_windows", "combine_per_key", "side_outputs", "flatten"),
        _tagged_windowed,
        (
            Out(["even", 6], (0, 10), on_time(), 9.999),
            Out(["odd", 4], (0, 10), on_time(), 9.999),
            Out(["even", 6], (10, 20), on_time(), 19.999),
            Out(["odd", 5], (10, 20), on_time(), 19.999),
        ),
        "Side outputs keep the input's windowing: [0,10) even 2+4, odd 1+3 (wm 10); [10,20) even "
        "6, odd 5 (∞).",
    ),
    Case(
        "tagged_output_timestamped",
        ("test_stream", "output_timestamps", "side_outputs"),
        _tagged_timestamped,
        (
            Out(10, None, U, 101),
            Out(20, None, U, 102.5),
        ),
        "A TaggedOutput wrapping a TimestampedValue sets the side output's timestamp: 1@1 → "
        "10@101, 2@2.5 → 20@102.5.",
    ),
    Case(
        "create_pardo_global",
        ("bounded_input",),
        _create_pardo,
        (Out(2, None, U), Out(4, None, U), Out(6, None, U)),
        "Create([1,2,3]) | Double: global window, pane UNKNOWN (timestamp = minimum, not checked).",
    ),
    Case(
        "create_timestamped_fixed_sum",
        ("bounded_input", "fixed_windows", "combine_per_key"),
        _create_timestamped_window,
        (
            Out(["k", 4], (0, 10), on_time(), 9.999),
            Out(["k", 2], (10, 20), on_time(), 19.999),
        ),
        "Create with TimestampedValues 1@5, 2@15, 3@8 then FixedWindows(10): [0,10) 1+3, "
        "[10,20) 2; the bounded source's watermark goes to ∞ at the end → ON_TIME.",
    ),
]
