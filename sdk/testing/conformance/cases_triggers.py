"""Triggers × window kinds × accumulation modes.

Rules used (sdk/window_driver.py, sdk/triggers.py): triggers are evaluated after every element;
panes before the watermark passes the window's max_timestamp are EARLY (nonspeculative index
-1); the first pane after it is ON_TIME when fired at the end of the window or holding elements
that arrived before; a finished (once) root trigger closes the window and later elements are
dropped as ``dropped_due_to_closed_window``; at expiry unemitted elements form a final pane.
Processing time is the TestStream's clock (starts at 0, moves only by advance_processing_time);
pending processing-time timers are dropped at the end of the stream.
"""

from __future__ import annotations

from fluvial.combine import CombinePerKey
from fluvial.combiners import SumCombineFn
from fluvial.testing.conformance.case import Case
from fluvial.testing.conformance.cases_common import Out, early, gbk_sorted, late, on_time, tvs
from fluvial.testing.test_stream import TestStream
from fluvial.triggers import (
    AccumulationMode,
    AfterAll,
    AfterAny,
    AfterCount,
    AfterEach,
    AfterProcessingTime,
    AfterWatermark,
    Never,
    OrFinally,
    Repeatedly,
)
from fluvial.window import FixedWindows, GlobalWindows, SlidingWindows
from fluvial.windowinto import WindowInto

ACC = AccumulationMode.ACCUMULATING
DIS = AccumulationMode.DISCARDING
EOW60 = 59.999


def _seq(n: int, key: str = "k"):
    """k:1@1 ... k:n@n"""
    return tvs(key, [(i, i) for i in range(1, n + 1)])


# -- AfterWatermark(early=AfterCount(2)) on fixed windows -----------------------------------------
def _early_count(mode):
    def build(p):
        ts = (
            TestStream()
            .add_elements(_seq(3))
            .advance_watermark_to(60)
            .advance_watermark_to_infinity()
        )
        w = WindowInto(
            FixedWindows(60), trigger=AfterWatermark(early=AfterCount(2)), accumulation_mode=mode
        )
        return gbk_sorted(p | ts | w)

    return build


# -- Repeatedly(AfterCount(2)) on fixed windows ----------------------------------------------------
def _fixed_repeated_count(mode):
    def build(p):
        ts = (
            TestStream()
            .add_elements(_seq(5))
            .advance_watermark_to(60)
            .advance_watermark_to_infinity()
        )
        w = WindowInto(FixedWindows(60), trigger=Repeatedly(AfterCount(2)), accumulation_mode=mode)
        return gbk_sorted(p | ts | w)

    return build


def _global_repeated_count(p):
    ts = TestStream().add_elements(_seq(5)).advance_watermark_to_infinity()
    w = WindowInto(GlobalWindows(), trigger=Repeatedly(AfterCount(2)), accumulation_mode=DIS)
    return gbk_sorted(p | ts | w)


# -- processing time ------------------------------------------------------------------------------
def _global_processing_time(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 1), (2, 2)]))
        .advance_processing_time(5)
        .advance_processing_time(5)
        .add_elements(tvs("k", [(3, 3)]))
        .advance_processing_time(20)
        .add_elements(tvs("k", [(4, 4)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        GlobalWindows(), trigger=Repeatedly(AfterProcessingTime(10)), accumulation_mode=DIS
    )
    return gbk_sorted(p | ts | w)


def _fixed_early_processing_time(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 1), (2, 2)]))
        .advance_processing_time(5)
        .add_elements(tvs("k", [(3, 3)]))
        .advance_watermark_to(60)
        .advance_processing_time(10)
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        FixedWindows(60),
        trigger=AfterWatermark(early=AfterProcessingTime(5)),
        accumulation_mode=ACC,
    )
    return gbk_sorted(p | ts | w)


def _global_early_processing_time(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 1), (2, 2)]))
        .advance_processing_time(10)
        .add_elements(tvs("k", [(3, 3)]))
        .advance_processing_time(10)
        .add_elements(tvs("k", [(4, 4)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        GlobalWindows(),
        trigger=AfterWatermark(early=AfterProcessingTime(10)),
        accumulation_mode=ACC,
    )
    return gbk_sorted(p | ts | w)


def _sliding_early_count(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 6), (2, 8)]))
        .advance_watermark_to(10)
        .add_elements(tvs("k", [(4, 12)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        SlidingWindows(10, 5), trigger=AfterWatermark(early=AfterCount(2)), accumulation_mode=ACC
    )
    return p | ts | w | CombinePerKey(SumCombineFn())


def _sum_repeated_count_one_batch(p):
    ts = TestStream().add_elements(_seq(5)).advance_watermark_to_infinity()
    w = WindowInto(FixedWindows(60), trigger=Repeatedly(AfterCount(2)), accumulation_mode=DIS)
    return p | ts | w | CombinePerKey(SumCombineFn())


def _sliding_sum_repeated_count(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 6), (2, 7), (3, 8)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(SlidingWindows(10, 5), trigger=Repeatedly(AfterCount(2)), accumulation_mode=ACC)
    return p | ts | w | CombinePerKey(SumCombineFn())


# -- composites -----------------------------------------------------------------------------------
def _after_each(p):
    ts = TestStream().add_elements(_seq(7)).advance_watermark_to_infinity()
    w = WindowInto(
        FixedWindows(100), trigger=AfterEach(AfterCount(2), AfterCount(3)), accumulation_mode=DIS
    )
    return gbk_sorted(p | ts | w)


def _repeated_after_each(p):
    ts = TestStream().add_elements(_seq(6)).advance_watermark_to_infinity()
    w = WindowInto(
        GlobalWindows(),
        trigger=Repeatedly(AfterEach(AfterCount(1), AfterCount(2))),
        accumulation_mode=DIS,
    )
    return gbk_sorted(p | ts | w)


def _repeated_after_any(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 1), (2, 2)]))
        .advance_processing_time(10)
        .add_elements(tvs("k", [(3, 3), (4, 4), (5, 5)]))
        .add_elements(tvs("k", [(6, 6)]))
        .advance_processing_time(10)
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        GlobalWindows(),
        trigger=Repeatedly(AfterAny(AfterCount(3), AfterProcessingTime(10))),
        accumulation_mode=DIS,
    )
    return gbk_sorted(p | ts | w)


def _after_all(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 1)]))
        .advance_processing_time(5)
        .add_elements(tvs("k", [(2, 2)]))
        .add_elements(tvs("k", [(3, 3)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        FixedWindows(100),
        trigger=AfterAll(AfterCount(2), AfterProcessingTime(5)),
        accumulation_mode=DIS,
    )
    return gbk_sorted(p | ts | w)


def _or_finally(p):
    ts = TestStream().add_elements(_seq(7)).advance_watermark_to_infinity()
    w = WindowInto(
        FixedWindows(100),
        trigger=OrFinally(Repeatedly(AfterCount(2)), AfterCount(5)),
        accumulation_mode=DIS,
    )
    return gbk_sorted(p | ts | w)


def _never(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 10), (2, 20)]))
        .advance_watermark_to(60)
        .add_elements(tvs("k", [(3, 30)]))
        .advance_watermark_to(100)
        .add_elements(tvs("k", [(4, 40)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(FixedWindows(60), trigger=Never(), allowed_lateness=30)
    return gbk_sorted(p | ts | w)


# -- AfterWatermark(early, late) with allowed lateness -------------------------------------------
def _early_late(mode):
    def build(p):
        ts = (
            TestStream()
            .add_elements(tvs("k", [(1, 10)]))
            .advance_watermark_to(30)
            .add_elements(tvs("k", [(2, 20)]))
            .advance_watermark_to(60)
            .add_elements(tvs("k", [(3, 40)]))
            .add_elements(tvs("k", [(4, 50)]))
            .advance_watermark_to(200)
            .add_elements(tvs("k", [(5, 55)]))
            .advance_watermark_to_infinity()
        )
        w = WindowInto(
            FixedWindows(60),
            trigger=AfterWatermark(early=AfterCount(2), late=AfterCount(1)),
            accumulation_mode=mode,
            allowed_lateness=120,
        )
        return gbk_sorted(p | ts | w)

    return build


def _late_count_final(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 1)]))
        .advance_watermark_to(60)
        .add_elements(tvs("k", [(2, 2), (3, 3)]))
        .add_elements(tvs("k", [(4, 4)]))
        .advance_watermark_to(200)
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        FixedWindows(60),
        trigger=AfterWatermark(late=AfterCount(2)),
        accumulation_mode=DIS,
        allowed_lateness=100,
    )
    return gbk_sorted(p | ts | w)


W60 = (0, 60)
W100 = (0, 100)
E100 = 99.999

CASES = [
    Case(
        "fixed_early_count_discarding",
        ("test_stream", "fixed_windows", "group_by_key", "count_triggers", "early_firings"),
        _early_count(DIS),
        (
            Out(["k", [1, 2]], W60, early(0), EOW60),
            Out(["k", [3]], W60, on_time(1, first=False, ns=0), EOW60),
        ),
        "AfterWatermark(early=AfterCount(2)): k:1,k:2 → EARLY #0 [1,2]; k:3 waits; wm 60 → ON_TIME "
        "#1 (ns 0) [3], last (lateness 0 → trigger finishes and window expires).",
    ),
    Case(
        "fixed_early_count_accumulating",
        (
            "test_stream", "fixed_windows", "group_by_key", "count_triggers", "early_firings",
            "accumulating",
        ),
        _early_count(ACC),
        (
            Out(["k", [1, 2]], W60, early(0), EOW60),
            Out(["k", [1, 2, 3]], W60, on_time(1, first=False, ns=0), EOW60),
        ),
        "As fixed_early_count_discarding, but the ON_TIME pane accumulates: [1,2,3].",
    ),
    Case(
        "fixed_repeated_count_discarding",
        (
            "test_stream", "fixed_windows", "group_by_key", "count_triggers", "repeated_triggers",
            "early_firings",
        ),
        _fixed_repeated_count(DIS),
        (
            Out(["k", [1, 2]], W60, early(0), EOW60),
            Out(["k", [3, 4]], W60, early(1), EOW60),
            Out(["k", [5]], W60, on_time(2, first=False, ns=0), EOW60),
        ),
        "Repeatedly(AfterCount(2)): [1,2] EARLY #0, [3,4] EARLY #1; k:5 alone never reaches the "
        "count, so at wm 60 (expiry) it forms the final pane: ON_TIME #2 ns 0 last (it arrived "
        "before the end of the window).",
    ),
    Case(
        "fixed_repeated_count_accumulating",
        (
            "test_stream", "fixed_windows", "group_by_key", "count_triggers", "repeated_triggers",
            "early_firings", "accumulating",
        ),
        _fixed_repeated_count(ACC),
        (
            Out(["k", [1, 2]], W60, early(0), EOW60),
            Out(["k", [1, 2, 3, 4]], W60, early(1), EOW60),
            Out(["k", [1, 2, 3, 4, 5]], W60, on_time(2, first=False, ns=0), EOW60),
        ),
        "As fixed_repeated_count_discarding, accumulating: [1,2], [1..4], final ON_TIME [1..5].",
    ),
    Case(
        "global_repeated_count_discarding",
        (
            "test_stream", "global_window", "group_by_key", "count_triggers", "repeated_triggers",
            "early_firings",
        ),
        _global_repeated_count,
        (
            Out(["k", [1, 2]], None, early(0)),
            Out(["k", [3, 4]], None, early(1)),
            Out(["k", [5]], None, on_time(2, first=False, ns=0)),
        ),
        "GlobalWindows + Repeatedly(AfterCount(2)): panes before the end of the global window are "
        "EARLY; at ∞ the leftover k:5 is the final pane, ON_TIME #2 ns 0 last.",
    ),
    Case(
        "global_processing_time_repeated",
        (
            "test_stream", "processing_time", "global_window", "group_by_key",
            "processing_time_triggers", "repeated_triggers", "early_firings",
        ),
        _global_processing_time,
        (
            Out(["k", [1, 2]], None, early(0)),
            Out(["k", [3]], None, early(1)),
            Out(["k", [4]], None, on_time(2, first=False, ns=0)),
        ),
        "Repeatedly(AfterProcessingTime(10)): k:1 at clock 0 → deadline 10; clock 5 nothing, clock "
        "10 → EARLY [1,2]; k:3 at clock 10 → deadline 20, clock 30 → EARLY [3]; k:4 at clock 30 "
        "(deadline 40 never reached, timer dropped) → final pane at ∞ ON_TIME #2.",
    ),
    Case(
        "fixed_early_processing_time_accumulating",
        (
            "test_stream", "processing_time", "fixed_windows", "group_by_key",
            "processing_time_triggers", "early_firings", "accumulating",
        ),
        _fixed_early_processing_time,
        (
            Out(["k", [1, 2]], W60, early(0), EOW60),
            Out(["k", [1, 2, 3]], W60, on_time(1, first=False, ns=0), EOW60),
        ),
        "early=AfterProcessingTime(5): deadline 5 from k:1 → EARLY [1,2] at clock 5; k:3 → "
        "deadline 10; wm 60 first → ON_TIME [1,2,3] last; the clock reaching 10 afterwards finds "
        "the window gone (no pane).",
    ),
    Case(
        "global_early_processing_time_accumulating",
        (
            "test_stream", "processing_time", "global_window", "group_by_key",
            "processing_time_triggers", "early_firings", "accumulating",
        ),
        _global_early_processing_time,
        (
            Out(["k", [1, 2]], None, early(0)),
            Out(["k", [1, 2, 3]], None, early(1)),
            Out(["k", [1, 2, 3, 4]], None, on_time(2, first=False, ns=0)),
        ),
        "GlobalWindows, early=AfterProcessingTime(10), accumulating: clock 10 → EARLY [1,2]; "
        "clock 20 → EARLY [1,2,3]; k:4 then ∞ → ON_TIME #2 [1,2,3,4] last.",
    ),
    Case(
        "sliding_early_count_accumulating",
        (
            "test_stream", "sliding_windows", "combine_per_key", "count_triggers", "early_firings",
            "accumulating",
        ),
        _sliding_early_count,
        (
            Out(["k", 3], (0, 10), early(0), 9.999),
            Out(["k", 3], (0, 10), on_time(1, first=False, ns=0), 9.999),
            Out(["k", 3], (5, 15), early(0), 14.999),
            Out(["k", 7], (5, 15), on_time(1, first=False, ns=0), 14.999),
            Out(["k", 4], (10, 20), on_time(), 19.999),
        ),
        "SlidingWindows(10,5): 1@6 and 2@8 are in [0,10) and [5,15) → EARLY 3 in both; wm 10 → "
        "[0,10) ON_TIME 3 (accumulated); 4@12 in [5,15),[10,20); ∞ → [5,15) ON_TIME 7, "
        "[10,20) ON_TIME 4 (only pane).",
    ),
    Case(
        "after_each_closes_window",
        (
            "test_stream", "fixed_windows", "group_by_key", "count_triggers", "composite_triggers",
            "finishing_triggers", "early_firings", "drop_counters",
        ),
        _after_each,
        (
            Out(["k", [1, 2]], W100, early(0), E100),
            Out(["k", [3, 4, 5]], W100, early(1, last=True), E100),
        ),
        "AfterEach(AfterCount(2), AfterCount(3)): [1,2] EARLY #0; the second subtrigger counts "
        "from k:3 → [3,4,5] EARLY #1 and the trigger finishes (last); k:6, k:7 hit the closed "
        "window → dropped_due_to_closed_window 2; nothing at ∞.",
        counters=(("dropped_due_to_closed_window", 2),),
    ),
    Case(
        "repeated_after_each",
        (
            "test_stream", "global_window", "group_by_key", "count_triggers", "repeated_triggers",
            "composite_triggers", "early_firings",
        ),
        _repeated_after_each,
        (
            Out(["k", [1]], None, early(0)),
            Out(["k", [2, 3]], None, early(1)),
            Out(["k", [4]], None, early(2)),
            Out(["k", [5, 6]], None, early(3)),
        ),
        "Repeatedly(AfterEach(AfterCount(1), AfterCount(2))): [1], [2,3], then reset: [4], [5,6]; "
        "all EARLY (global window), nothing left at ∞.",
    ),
    Case(
        "repeated_after_any",
        (
            "test_stream", "processing_time", "global_window", "group_by_key", "count_triggers",
            "processing_time_triggers", "repeated_triggers", "composite_triggers", "early_firings",
        ),
        _repeated_after_any,
        (
            Out(["k", [1, 2]], None, early(0)),
            Out(["k", [3, 4, 5]], None, early(1)),
            Out(["k", [6]], None, early(2)),
        ),
        "Repeatedly(AfterAny(AfterCount(3), AfterProcessingTime(10))): clock 10 fires [1,2] by "
        "time; reset; k:3..5 fire by count; k:6 at clock 10 → deadline 20, clock 20 fires [6].",
    ),
    Case(
        "after_all_closes_window",
        (
            "test_stream", "processing_time", "fixed_windows", "group_by_key", "count_triggers",
            "processing_time_triggers", "composite_triggers", "finishing_triggers", "early_firings",
            "drop_counters",
        ),
        _after_all,
        (Out(["k", [1, 2]], W100, early(0, last=True), E100),),
        "AfterAll(AfterCount(2), AfterProcessingTime(5)): at clock 5 only the time part holds; k:2 "
        "completes the count → EARLY #0 first+last [1,2], trigger finished; k:3 → "
        "dropped_due_to_closed_window 1.",
        counters=(("dropped_due_to_closed_window", 1),),
    ),
    Case(
        "or_finally",
        (
            "test_stream", "fixed_windows", "group_by_key", "count_triggers", "repeated_triggers",
            "composite_triggers", "finishing_triggers", "early_firings", "drop_counters",
        ),
        _or_finally,
        (
            Out(["k", [1, 2]], W100, early(0), E100),
            Out(["k", [3, 4]], W100, early(1), E100),
            Out(["k", [5]], W100, early(2, last=True), E100),
        ),
        "OrFinally(Repeatedly(AfterCount(2)), AfterCount(5)): [1,2], [3,4]; the 5th element fires "
        "the until-trigger → [5] last; k:6, k:7 → dropped_due_to_closed_window 2.",
        counters=(("dropped_due_to_closed_window", 2),),
    ),
    Case(
        "never_with_lateness",
        (
            "test_stream", "late_data", "fixed_windows", "group_by_key", "never_trigger",
            "allowed_lateness", "drop_counters",
        ),
        _never,
        (Out(["k", [1, 2, 3]], W60, on_time(), EOW60),),
        "Never() with allowed_lateness 30: nothing at wm 60; k:3@30 accepted (expiry at wm > "
        "89.999); wm 100 expires the window → final pane [1,2,3], ON_TIME (first non-early pane, "
        "holds elements from before the end of window); k:4@40 at wm 100 dropped.",
        counters=(("dropped_due_to_lateness", 1),),
    ),
    Case(
        "afterwatermark_early_late_accumulating",
        (
            "test_stream", "late_data", "fixed_windows", "group_by_key", "count_triggers",
            "early_firings", "late_firings", "accumulating", "allowed_lateness", "drop_counters",
        ),
        _early_late(ACC),
        (
            Out(["k", [1, 2]], W60, early(0), EOW60),
            Out(["k", [1, 2]], W60, on_time(1, first=False, last=False, ns=0), EOW60),
            Out(["k", [1, 2, 3]], W60, late(2, 1), EOW60),
            Out(["k", [1, 2, 3, 4]], W60, late(3, 2), EOW60),
        ),
        "early=AfterCount(2), late=AfterCount(1), lateness 120: [1,2] EARLY #0; wm 60 → ON_TIME #1 "
        "(emitted though nothing new: on-time pane always fires) [1,2]; k:3, k:4 → LATE #2/#3 "
        "(ns 1/2); wm 200 expires (59.999+120 < 200) with nothing new; k:5 dropped.",
        counters=(("dropped_due_to_lateness", 1),),
    ),
    Case(
        "afterwatermark_early_late_discarding",
        (
            "test_stream", "late_data", "fixed_windows", "group_by_key", "count_triggers",
            "early_firings", "late_firings", "allowed_lateness", "drop_counters",
        ),
        _early_late(DIS),
        (
            Out(["k", [1, 2]], W60, early(0), EOW60),
            Out(["k", []], W60, on_time(1, first=False, last=False, ns=0), EOW60),
            Out(["k", [3]], W60, late(2, 1), EOW60),
            Out(["k", [4]], W60, late(3, 2), EOW60),
        ),
        "As the accumulating variant, discarding: the ON_TIME pane fires empty (k, []); "
        "late panes [3], [4]; k:5 dropped.",
        counters=(("dropped_due_to_lateness", 1),),
    ),
    Case(
        "afterwatermark_late_count_final_pane",
        (
            "test_stream", "late_data", "fixed_windows", "group_by_key", "count_triggers",
            "late_firings", "allowed_lateness",
        ),
        _late_count_final,
        (
            Out(["k", [1]], W60, on_time(0, last=False), EOW60),
            Out(["k", [2, 3]], W60, late(1, 1), EOW60),
            Out(["k", [4]], W60, late(2, 2, last=True), EOW60),
        ),
        "late=AfterCount(2), lateness 100: wm 60 → ON_TIME [1]; k:2,k:3 → LATE #1; k:4 alone; wm "
        "200 expires the window → final pane [4] LATE #2 last.",
    ),
    Case(
        "fixed_sum_repeated_count_one_batch",
        (
            "test_stream", "fixed_windows", "combine_per_key", "count_triggers",
            "repeated_triggers", "early_firings",
        ),
        _sum_repeated_count_one_batch,
        (
            Out(["k", 3], W60, early(0), EOW60),
            Out(["k", 7], W60, early(1), EOW60),
            Out(["k", 5], W60, on_time(2, first=False, ns=0), EOW60),
        ),
        "Incremental Sum, Repeatedly(AfterCount(2)), all five elements in one batch: the trigger "
        "is evaluated after every element → 1+2, 3+4 EARLY; 5 is the final pane at ∞ (ON_TIME #2).",
    ),
    Case(
        "sliding_sum_repeated_count_accumulating",
        (
            "test_stream", "sliding_windows", "combine_per_key", "count_triggers",
            "repeated_triggers", "early_firings", "accumulating",
        ),
        _sliding_sum_repeated_count,
        (
            Out(["k", 3], (0, 10), early(0), 9.999),
            Out(["k", 6], (0, 10), on_time(1, first=False, ns=0), 9.999),
            Out(["k", 3], (5, 15), early(0), 14.999),
            Out(["k", 6], (5, 15), on_time(1, first=False, ns=0), 14.999),
        ),
        "SlidingWindows(10,5): 1@6, 2@7, 3@8 are each in [0,10) and [5,15); per window the count "
        "reaches 2 after 2@7 → EARLY 3; 3@8 waits; ∞ → final ON_TIME #1, accumulated 6.",
    ),
]
