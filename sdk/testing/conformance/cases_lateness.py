"""Late data: inside and past allowed lateness, the late-data output, exact boundaries.

Rules: a window [s, e) expires when ``e - 0.001 + allowed_lateness < watermark``; elements for an
expired window are dropped and counted as ``dropped_due_to_lateness`` (namespace "fluvial"), or
routed to the ``late`` output of ``GroupByKey().with_late_output()`` /
``CombinePerKey(...).with_late_output()`` with their original timestamp, in the window they were
dropped from, pane UNKNOWN. Routed elements are still counted as ``dropped_due_to_lateness``
(the window driver reports both), so the late-output cases check the counter too. The default
trigger fires once per late element.
"""

from __future__ import annotations

from fluvial.combine import CombinePerKey
from fluvial.combiners import SumCombineFn
from fluvial.gbk import GroupByKey
from fluvial.pardo import ParDo
from fluvial.testing.conformance.case import Case
from fluvial.testing.conformance.cases_common import (
    Out,
    SortValues,
    gbk_sorted,
    late,
    on_time,
    tvs,
    unknown,
)
from fluvial.testing.test_stream import TestStream
from fluvial.triggers import AccumulationMode
from fluvial.window import FixedWindows, SlidingWindows
from fluvial.windowinto import WindowInto

ACC = AccumulationMode.ACCUMULATING
DIS = AccumulationMode.DISCARDING
W60 = (0, 60)
EOW60 = 59.999


def _late_dropped(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 10)]))
        .advance_watermark_to(60)
        .add_elements(tvs("k", [(2, 20)]))
        .add_elements(tvs("k", [(3, 70)]))
        .advance_watermark_to_infinity()
    )
    return p | ts | WindowInto(FixedWindows(60)) | CombinePerKey(SumCombineFn())


def _default_late_firings(mode):
    def build(p):
        ts = (
            TestStream()
            .add_elements(tvs("k", [(1, 10)]))
            .advance_watermark_to(60)
            .add_elements(tvs("k", [(2, 20)]))
            .add_elements(tvs("k", [(3, 30)]))
            .advance_watermark_to(120)
            .add_elements(tvs("k", [(4, 40)]))
            .advance_watermark_to_infinity()
        )
        w = WindowInto(FixedWindows(60), accumulation_mode=mode, allowed_lateness=60)
        return p | ts | w | CombinePerKey(SumCombineFn())

    return build


def _lateness_boundary(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 5)]))
        .advance_watermark_to(60)
        .advance_watermark_to(69.999)
        .add_elements(tvs("k", [(2, 6)]))
        .advance_watermark_to(70)
        .add_elements(tvs("k", [(3, 7)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(FixedWindows(60), allowed_lateness=10)
    return gbk_sorted(p | ts | w)


def _late_output_stream():
    return (
        TestStream()
        .add_elements(tvs("a", [(1, 10)]))
        .advance_watermark_to(60)
        .add_elements(tvs("a", [(2, 20)]))
        .advance_watermark_to(100)
        .add_elements([*tvs("a", [(3, 30)]), *tvs("b", [(4, 50)])])
        .add_elements(tvs("a", [(5, 100)]))
        .advance_watermark_to_infinity()
    )


def _late_output_gbk_main(p):
    pc = p | _late_output_stream() | WindowInto(FixedWindows(60), allowed_lateness=30)
    outs = pc | GroupByKey().with_late_output()
    return outs.main | "SortValues" >> ParDo(SortValues())


def _late_output_gbk_late(p):
    pc = p | _late_output_stream() | WindowInto(FixedWindows(60), allowed_lateness=30)
    outs = pc | GroupByKey().with_late_output()
    return outs["late"]


def _late_output_combine_late(p):
    pc = p | _late_output_stream() | WindowInto(FixedWindows(60), allowed_lateness=30)
    outs = pc | CombinePerKey(SumCombineFn()).with_late_output()
    return outs["late"]


def _late_output_combine_main(p):
    pc = p | _late_output_stream() | WindowInto(FixedWindows(60), allowed_lateness=30)
    outs = pc | CombinePerKey(SumCombineFn()).with_late_output()
    return outs.main


def _sliding_late(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 3), (2, 7)]))
        .advance_watermark_to(10)
        .add_elements(tvs("k", [(4, 4)]))
        .advance_watermark_to(15)
        .add_elements(tvs("k", [(8, 2)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(SlidingWindows(10, 5), accumulation_mode=ACC, allowed_lateness=10)
    return p | ts | w | CombinePerKey(SumCombineFn())


_LATE_STREAM_DOC = (
    "stream: a:1@10; wm 60; a:2@20 (late, within lateness 30); wm 100 (window [0,60) expires: "
    "59.999+30 < 100); a:3@30 and b:4@50 are past lateness; a:5@100 is on time in [60,120). "
)

CASES = [
    Case(
        "late_dropped_no_lateness",
        ("test_stream", "late_data", "fixed_windows", "combine_per_key", "drop_counters"),
        _late_dropped,
        (
            Out(["k", 1], W60, on_time(), EOW60),
            Out(["k", 3], (60, 120), on_time(), 119.999),
        ),
        "allowed_lateness 0: wm 60 fires and expires [0,60) (ON_TIME last); k:2@20 then arrives "
        "for an expired window → dropped_due_to_lateness 1; k:3@70 → [60,120) at ∞.",
        counters=(("dropped_due_to_lateness", 1),),
    ),
    Case(
        "default_late_firings_discarding",
        (
            "test_stream", "late_data", "fixed_windows", "combine_per_key", "late_firings",
            "allowed_lateness", "drop_counters",
        ),
        _default_late_firings(DIS),
        (
            Out(["k", 1], W60, on_time(0, last=False), EOW60),
            Out(["k", 2], W60, late(1, 1), EOW60),
            Out(["k", 3], W60, late(2, 2), EOW60),
        ),
        "default trigger, lateness 60: wm 60 → ON_TIME 1 (not last: expiry only at wm > 119.999); "
        "k:2, k:3 each fire a LATE pane (#1 ns1, #2 ns2); wm 120 expires with nothing new (no "
        "extra pane); k:4 → dropped 1.",
        counters=(("dropped_due_to_lateness", 1),),
    ),
    Case(
        "default_late_firings_accumulating",
        (
            "test_stream", "late_data", "fixed_windows", "combine_per_key", "late_firings",
            "accumulating", "allowed_lateness", "drop_counters",
        ),
        _default_late_firings(ACC),
        (
            Out(["k", 1], W60, on_time(0, last=False), EOW60),
            Out(["k", 3], W60, late(1, 1), EOW60),
            Out(["k", 6], W60, late(2, 2), EOW60),
        ),
        "As default_late_firings_discarding, accumulating: 1, 1+2, 1+2+3.",
        counters=(("dropped_due_to_lateness", 1),),
    ),
    Case(
        "lateness_boundary",
        (
            "test_stream", "late_data", "fixed_windows", "group_by_key", "late_firings",
            "allowed_lateness", "drop_counters",
        ),
        _lateness_boundary,
        (
            Out(["k", [1]], W60, on_time(0, last=False), EOW60),
            Out(["k", [2]], W60, late(1, 1), EOW60),
        ),
        "lateness 10: expiry when 59.999+10 < wm. At wm 69.999 the window is still alive → k:2@6 "
        "fires LATE #1; at wm 70 it expires → k:3@7 dropped.",
        counters=(("dropped_due_to_lateness", 1),),
    ),
    Case(
        "late_output_gbk_main",
        (
            "test_stream", "late_data", "fixed_windows", "group_by_key", "late_firings",
            "allowed_lateness", "late_output", "drop_counters",
        ),
        _late_output_gbk_main,
        (
            Out(["a", [1]], W60, on_time(0, last=False), EOW60),
            Out(["a", [2]], W60, late(1, 1), EOW60),
            Out(["a", [5]], (60, 120), on_time(), 119.999),
        ),
        _LATE_STREAM_DOC + "Main output: ON_TIME [1], LATE [2], and [60,120) ON_TIME [5] at ∞.",
        counters=(("dropped_due_to_lateness", 2),),
    ),
    Case(
        "late_output_gbk_late",
        (
            "test_stream", "late_data", "fixed_windows", "group_by_key", "allowed_lateness",
            "late_output", "drop_counters",
        ),
        _late_output_gbk_late,
        (
            Out(["a", 3], W60, unknown(), 30),
            Out(["b", 4], W60, unknown(), 50),
        ),
        _LATE_STREAM_DOC + "Late output: the two dropped (key, value) elements, their own "
        "timestamps, window [0,60), pane UNKNOWN.",
        counters=(("dropped_due_to_lateness", 2),),
    ),
    Case(
        "late_output_combine_main",
        (
            "test_stream", "late_data", "fixed_windows", "combine_per_key", "late_firings",
            "allowed_lateness", "late_output", "drop_counters",
        ),
        _late_output_combine_main,
        (
            Out(["a", 1], W60, on_time(0, last=False), EOW60),
            Out(["a", 2], W60, late(1, 1), EOW60),
            Out(["a", 5], (60, 120), on_time(), 119.999),
        ),
        _LATE_STREAM_DOC + "Main output of CombinePerKey(Sum) (discarding): 1, 2, and 5.",
        counters=(("dropped_due_to_lateness", 2),),
    ),
    Case(
        "late_output_combine_late",
        (
            "test_stream", "late_data", "fixed_windows", "combine_per_key", "allowed_lateness",
            "late_output", "drop_counters",
        ),
        _late_output_combine_late,
        (
            Out(["a", 3], W60, unknown(), 30),
            Out(["b", 4], W60, unknown(), 50),
        ),
        _LATE_STREAM_DOC + "Late output of CombinePerKey(Sum): the raw dropped inputs.",
        counters=(("dropped_due_to_lateness", 2),),
    ),
    Case(
        "sliding_sum_late_accumulating",
        (
            "test_stream", "late_data", "sliding_windows", "combine_per_key", "late_firings",
            "accumulating", "allowed_lateness", "drop_counters",
        ),
        _sliding_late,
        (
            Out(["k", 1], (-5, 5), on_time(0, last=False), 4.999),
            Out(["k", 5], (-5, 5), late(1, 1), 4.999),
            Out(["k", 3], (0, 10), on_time(0, last=False), 9.999),
            Out(["k", 7], (0, 10), late(1, 1), 9.999),
            Out(["k", 15], (0, 10), late(2, 2), 9.999),
            Out(["k", 2], (5, 15), on_time(0, last=False), 14.999),
        ),
        "SlidingWindows(10,5), lateness 10, accumulating Sum: 1@3 → [-5,5),[0,10); 2@7 → "
        "[0,10),[5,15). wm 10 → ON_TIME [-5,5)=1, [0,10)=3 (not last: expiry at wm > max+10). "
        "Late 4@4 → LATE [-5,5)=5, [0,10)=7. wm 15 → [5,15) ON_TIME 2, [-5,5) expires "
        "(14.999 < 15). 8@2 → [0,10) LATE 15; its [-5,5) copy is dropped (counter 1).",
        counters=(("dropped_due_to_lateness", 1),),
    ),
]
