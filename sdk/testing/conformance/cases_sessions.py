"""Sessions (merging windows): merging, triggers on merged windows, late data that bridges two
sessions, late data past the allowed lateness.

Rules: an element at t gets the proto-session [t, t+gap); intersecting windows of a key merge into
their span; merged windows combine contents and trigger state and continue pane indices from the
largest among them. Expiry is checked on the element's own proto-window before merging.
"""

from __future__ import annotations

from fluvial.testing.conformance.case import Case
from fluvial.testing.conformance.cases_common import Out, early, gbk_sorted, late, on_time, tvs
from fluvial.testing.test_stream import TestStream
from fluvial.triggers import (
    AccumulationMode,
    AfterCount,
    AfterProcessingTime,
    AfterWatermark,
    Repeatedly,
)
from fluvial.window import Sessions
from fluvial.windowinto import WindowInto

ACC = AccumulationMode.ACCUMULATING
DIS = AccumulationMode.DISCARDING


def _sessions_gbk(p):
    ts = (
        TestStream()
        .add_elements([*tvs("a", [(1, 1), (5, 5), (30, 30)]), *tvs("b", [(2, 2)])])
        .advance_watermark_to_infinity()
    )
    return gbk_sorted(p | ts | WindowInto(Sessions(10)))


def _sessions_early(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(1, 1), (2, 3)]))
        .add_elements(tvs("a", [(3, 20)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(Sessions(10), trigger=AfterWatermark(early=AfterCount(2)), accumulation_mode=ACC)
    return gbk_sorted(p | ts | w)


def _late_merge(mode):
    def build(p):
        ts = (
            TestStream()
            .add_elements(tvs("a", [(1, 1), (15, 15)]))
            .advance_watermark_to(30)
            .add_elements(tvs("a", [(10, 10)]))
            .advance_watermark_to_infinity()
        )
        w = WindowInto(Sessions(10), accumulation_mode=mode, allowed_lateness=100)
        return gbk_sorted(p | ts | w)

    return build


def _sessions_early_late_merge(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(1, 1), (15, 15)]))
        .advance_watermark_to(30)
        .add_elements(tvs("a", [(10, 10)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        Sessions(10),
        trigger=AfterWatermark(early=AfterCount(1), late=AfterCount(1)),
        accumulation_mode=ACC,
        allowed_lateness=100,
    )
    return gbk_sorted(p | ts | w)


def _sessions_late_dropped(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(1, 1)]))
        .advance_watermark_to(20)
        .add_elements(tvs("a", [(5, 5)]))
        .add_elements(tvs("a", [(25, 25)]))
        .advance_watermark_to_infinity()
    )
    return gbk_sorted(p | ts | WindowInto(Sessions(10)))


def _sessions_processing_time(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(1, 1), (2, 4)]))
        .advance_processing_time(5)
        .add_elements(tvs("a", [(3, 30)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(Sessions(10), trigger=Repeatedly(AfterProcessingTime(5)), accumulation_mode=DIS)
    return gbk_sorted(p | ts | w)


CASES = [
    Case(
        "sessions_gbk",
        ("test_stream", "merging_windows", "group_by_key"),
        _sessions_gbk,
        (
            Out(["a", [1, 5]], (1, 15), on_time(), 14.999),
            Out(["a", [30]], (30, 40), on_time(), 39.999),
            Out(["b", [2]], (2, 12), on_time(), 11.999),
        ),
        "Sessions(10): a@1 [1,11) and a@5 [5,15) merge into [1,15); a@30 alone [30,40); b is its "
        "own key [2,12). All ON_TIME only panes at ∞.",
    ),
    Case(
        "sessions_early_count_accumulating",
        (
            "test_stream", "merging_windows", "group_by_key", "count_triggers", "early_firings",
            "accumulating",
        ),
        _sessions_early,
        (
            Out(["a", [1, 2]], (1, 13), early(0), 12.999),
            Out(["a", [1, 2]], (1, 13), on_time(1, first=False, ns=0), 12.999),
            Out(["a", [3]], (20, 30), on_time(), 29.999),
        ),
        "a:1@1 [1,11) count 1; a:2@3 [3,13) merges → [1,13), merged count 1+1 = 2 → EARLY #0 "
        "[1,2]; a:3@20 own session; ∞ → [1,13) ON_TIME #1 [1,2] (accumulated), [20,30) ON_TIME.",
    ),
    Case(
        "sessions_late_merge_accumulating",
        (
            "test_stream", "late_data", "merging_windows", "group_by_key", "late_firings",
            "accumulating", "allowed_lateness",
        ),
        _late_merge(ACC),
        (
            Out(["a", [1]], (1, 11), on_time(0, last=False), 10.999),
            Out(["a", [15]], (15, 25), on_time(0, last=False), 24.999),
            Out(["a", [1, 10, 15]], (1, 25), late(1, 1), 24.999),
        ),
        "lateness 100: wm 30 fires [1,11) and [15,25) ON_TIME (not last). Late a@10 → [10,20) "
        "bridges both → merged [1,25) continues at pane #1 (max of merged indices); the default "
        "trigger fires LATE #1 ns 1 with all accumulated values; nothing new at ∞.",
    ),
    Case(
        "sessions_late_merge_discarding",
        (
            "test_stream", "late_data", "merging_windows", "group_by_key", "late_firings",
            "allowed_lateness",
        ),
        _late_merge(DIS),
        (
            Out(["a", [1]], (1, 11), on_time(0, last=False), 10.999),
            Out(["a", [15]], (15, 25), on_time(0, last=False), 24.999),
            Out(["a", [10]], (1, 25), late(1, 1), 24.999),
        ),
        "As sessions_late_merge_accumulating, discarding: the merged LATE pane holds only [10].",
    ),
    Case(
        "sessions_late_dropped",
        ("test_stream", "late_data", "merging_windows", "group_by_key", "drop_counters"),
        _sessions_late_dropped,
        (
            Out(["a", [1]], (1, 11), on_time(), 10.999),
            Out(["a", [25]], (25, 35), on_time(), 34.999),
        ),
        "lateness 0: wm 20 fires+expires [1,11); a@5's window [5,15) is expired (14.999 < 20) → "
        "dropped before merging (dropped_due_to_lateness 1); a@25 → [25,35) at ∞.",
        counters=(("dropped_due_to_lateness", 1),),
    ),
    Case(
        "sessions_processing_time",
        (
            "test_stream", "processing_time", "merging_windows", "group_by_key",
            "processing_time_triggers", "repeated_triggers", "early_firings",
        ),
        _sessions_processing_time,
        (
            Out(["a", [1, 2]], (1, 14), early(0), 13.999),
            Out(["a", [3]], (30, 40), on_time(), 39.999),
        ),
        "Repeatedly(AfterProcessingTime(5)): a@1 sets deadline 5, a@4 merges into [1,14) keeping "
        "it; clock 5 → EARLY [1,2]; a@30 at clock 5 → deadline 10 never reached; ∞ → [30,40) "
        "final pane ON_TIME; [1,14) has nothing new.",
    ),
    Case(
        "sessions_early_late_merge",
        (
            "test_stream", "late_data", "merging_windows", "group_by_key", "count_triggers",
            "early_firings", "late_firings", "accumulating", "allowed_lateness",
        ),
        _sessions_early_late_merge,
        (
            Out(["a", [1]], (1, 11), early(0), 10.999),
            Out(["a", [1]], (1, 11), on_time(1, first=False, last=False, ns=0), 10.999),
            Out(["a", [15]], (15, 25), early(0), 24.999),
            Out(["a", [15]], (15, 25), on_time(1, first=False, last=False, ns=0), 24.999),
            Out(["a", [1, 10, 15]], (1, 25), late(2, 1), 24.999),
        ),
        "AfterWatermark(early=AfterCount(1), late=AfterCount(1)), lateness 100: each session "
        "fires EARLY #0 on its element, then ON_TIME #1 at wm 30 (always fired, accumulated). Late "
        "a@10 merges both into [1,25): both were in the late phase and wm is past 24.999, so the "
        "merged trigger is in the late phase; index continues at max(2,2) = 2, ns at 1 → LATE #2 "
        "ns 1 [1,10,15].",
    ),
]
