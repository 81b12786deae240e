"""Timestamps: timestamp combiners of grouped panes, DoFn timestamps and re-timestamping.

Rules: OUTPUT_AT_EOW gives a pane the window's max_timestamp; OUTPUT_AT_EARLIEST / LATEST the
min / max timestamp of the elements that arrived since the previous pane of the window and
placed a watermark hold: an element holds only if its window has not ended and its timestamp is
not behind the grouping's output watermark (Beam Java's WatermarkHold). With no holding element
the pane carries the window's max timestamp.
"""

from __future__ import annotations

from fluvial.combine import CombinePerKey
from fluvial.combiners import SumCombineFn
from fluvial.dofn import DoFn
from fluvial.pardo import ParDo
from fluvial.testing.conformance.case import Case
from fluvial.testing.conformance.cases_common import Out, early, on_time, tv, tvs, unknown
from fluvial.testing.test_stream import TestStream
from fluvial.triggers import AccumulationMode, AfterCount, AfterWatermark
from fluvial.values import TimestampedValue
from fluvial.window import FixedWindows, Sessions
from fluvial.windowing import TimestampCombiner
from fluvial.windowinto import WindowInto

W60 = (0, 60)


def _tc(tc):
    def build(p):
        ts = (
            TestStream()
            .add_elements(tvs("k", [(1, 10), (2, 5), (4, 30)]))
            .advance_watermark_to_infinity()
        )
        w = WindowInto(FixedWindows(60), timestamp_combiner=tc)
        return p | ts | w | CombinePerKey(SumCombineFn())

    return build


def _tc_earliest_early(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 20), (2, 10)]))
        .add_elements(tvs("k", [(4, 40)]))
        .advance_watermark_to(60)
        .advance_watermark_to_infinity()
    )
    w = WindowInto(
        FixedWindows(60),
        trigger=AfterWatermark(early=AfterCount(2)),
        accumulation_mode=AccumulationMode.DISCARDING,
        timestamp_combiner=TimestampCombiner.OUTPUT_AT_EARLIEST,
    )
    return p | ts | w | CombinePerKey(SumCombineFn())


def _sessions_latest(p):
    ts = (
        TestStream()
        .add_elements([*tvs("a", [(1, 2), (2, 6), (3, 9)]), *tvs("b", [(5, 4)])])
        .advance_watermark_to_infinity()
    )
    w = WindowInto(Sessions(10), timestamp_combiner=TimestampCombiner.OUTPUT_AT_LATEST)
    return p | ts | w | CombinePerKey(SumCombineFn())


def _sessions_earliest(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(1, 9), (2, 6), (3, 2)]))
        .advance_watermark_to_infinity()
    )
    w = WindowInto(Sessions(10), timestamp_combiner=TimestampCombiner.OUTPUT_AT_EARLIEST)
    return p | ts | w | CombinePerKey(SumCombineFn())


def _earliest_behind(rewindow: bool):
    """1@5, watermark 8, then 2@3 (on time: the window ends at 10) into FixedWindows(10) with
    EARLIEST; optionally re-keyed, re-windowed into FixedWindows(4) and summed again."""

    def build(p):
        ts = (
            TestStream()
            .add_elements(tvs("k", [(1, 5)]))
            .advance_watermark_to(8)
            .add_elements(tvs("k", [(2, 3)]))
            .advance_watermark_to_infinity()
        )
        w = WindowInto(FixedWindows(10), timestamp_combiner=TimestampCombiner.OUTPUT_AT_EARLIEST)
        first = p | ts | w | "First" >> CombinePerKey(SumCombineFn())
        if not rewindow:
            return first
        return (first | ParDo(ReKey("total")) | "Rewindow" >> WindowInto(FixedWindows(4))
                | "Second" >> CombinePerKey(SumCombineFn()))

    return build


class ReKey(DoFn):
    """(k, v) -> (key, v)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def process(self, kv):
        yield (self.key, kv[1])


def _two_stage(tc):
    def build(p):
        ts = (
            TestStream()
            .add_elements([*tvs("a", [(1, 10)]), *tvs("b", [(2, 20)]), *tvs("a", [(3, 70)])])
            .advance_watermark_to(60)
            .advance_watermark_to(120)
            .advance_watermark_to_infinity()
        )
        w = WindowInto(FixedWindows(60), timestamp_combiner=tc)
        per_key = p | ts | w | "PerKey" >> CombinePerKey(SumCombineFn())
        total = per_key | ParDo(ReKey("total")) | "Total" >> CombinePerKey(SumCombineFn())
        return total

    return build


class WithTimestamp(DoFn):
    def process(self, x, ts=DoFn.TimestampParam):
        yield (x, ts.seconds)


class ShiftTimestamp(DoFn):
    def __init__(self, by: float) -> None:
        self.by = by

    def process(self, x, ts=DoFn.TimestampParam):
        yield TimestampedValue(x, ts.seconds + self.by)


def _pardo_timestamp(p):
    ts = TestStream().add_elements([tv("x", 1.5), tv("y", 3)]).advance_watermark_to_infinity()
    return p | ts | ParDo(WithTimestamp())


def _retimestamp(p):
    ts = (
        TestStream()
        .add_elements(tvs("k", [(1, 5), (2, 15), (4, 70)]))
        .advance_watermark_to_infinity()
    )
    shifted = p | ts | ParDo(ShiftTimestamp(60))
    return shifted | WindowInto(FixedWindows(60)) | CombinePerKey(SumCombineFn())


CASES = [
    Case(
        "timestamp_combiner_end_of_window",
        ("test_stream", "fixed_windows", "combine_per_key"),
        _tc(TimestampCombiner.OUTPUT_AT_EOW),
        (Out(["k", 7], W60, on_time(), 59.999),),
        "OUTPUT_AT_EOW: 1@10 + 2@5 + 4@30 = 7 at the window's max_timestamp 59.999.",
    ),
    Case(
        "timestamp_combiner_earliest",
        ("test_stream", "fixed_windows", "combine_per_key", "timestamp_combiner"),
        _tc(TimestampCombiner.OUTPUT_AT_EARLIEST),
        (Out(["k", 7], W60, on_time(), 5),),
        "OUTPUT_AT_EARLIEST: min(10, 5, 30) = 5.",
    ),
    Case(
        "timestamp_combiner_latest",
        ("test_stream", "fixed_windows", "combine_per_key", "timestamp_combiner"),
        _tc(TimestampCombiner.OUTPUT_AT_LATEST),
        (Out(["k", 7], W60, on_time(), 30),),
        "OUTPUT_AT_LATEST: max(10, 5, 30) = 30.",
    ),
    Case(
        "timestamp_combiner_earliest_per_pane",
        (
            "test_stream", "fixed_windows", "combine_per_key", "count_triggers", "early_firings",
            "timestamp_combiner",
        ),
        _tc_earliest_early,
        (
            Out(["k", 3], W60, early(0), 10),
            Out(["k", 4], W60, on_time(1, first=False, ns=0), 40),
        ),
        "EARLIEST with early=AfterCount(2), discarding: EARLY pane of 1@20, 2@10 → ts 10; the "
        "ON_TIME pane holds only 4@40 → ts 40.",
    ),
    Case(
        "sessions_timestamp_latest",
        ("test_stream", "merging_windows", "combine_per_key", "timestamp_combiner"),
        _sessions_latest,
        (
            Out(["a", 6], (2, 19), on_time(), 9),
            Out(["b", 5], (4, 14), on_time(), 4),
        ),
        "Sessions(10), LATEST: a@2,6,9 merge into [2,19), sum 6 at max ts 9; b@4 alone [4,14) at 4.",
    ),
    Case(
        "sessions_timestamp_earliest",
        ("test_stream", "merging_windows", "combine_per_key", "timestamp_combiner"),
        _sessions_earliest,
        (Out(["a", 6], (2, 19), on_time(), 2),),
        "Sessions(10), EARLIEST, out of order a@9,6,2: merged [2,19), sum 6 at min ts 2.",
    ),
    Case(
        "pardo_timestamp_param",
        ("test_stream",),
        _pardo_timestamp,
        (
            Out(["x", 1.5], None, unknown(), 1.5),
            Out(["y", 3], None, unknown(), 3),
        ),
        "DoFn.TimestampParam is the element's event time; outputs keep it, global window, UNKNOWN.",
    ),
    Case(
        "pardo_retimestamp_then_window",
        ("test_stream", "fixed_windows", "combine_per_key", "output_timestamps"),
        _retimestamp,
        (
            Out(["k", 3], (60, 120), on_time(), 119.999),
            Out(["k", 4], (120, 180), on_time(), 179.999),
        ),
        "TimestampedValue from a DoFn shifts 5, 15, 70 to 65, 75, 130; FixedWindows(60) after "
        "that: [60,120) 1+2, [120,180) 4.",
    ),
    Case(
        "two_stage_end_of_window",
        ("test_stream", "fixed_windows", "combine_per_key", "watermark_holds"),
        _two_stage(TimestampCombiner.OUTPUT_AT_EOW),
        (
            Out(["total", 3], W60, on_time(), 59.999),
            Out(["total", 3], (60, 120), on_time(), 119.999),
        ),
        "Stage 1 sums per key: a 1, b 2 in [0,60) at ts 59.999, a 3 in [60,120). Stage 2 (same "
        "windows, default trigger) re-keys and sums: the outputs of stage 1 must reach it before "
        "its watermark passes 59.999 (watermark hold), so [0,60) total 3 is ON_TIME, not dropped.",
    ),
    Case(
        "two_stage_earliest",
        (
            "test_stream", "fixed_windows", "combine_per_key", "timestamp_combiner",
            "watermark_holds",
        ),
        _two_stage(TimestampCombiner.OUTPUT_AT_EARLIEST),
        (
            Out(["total", 3], W60, on_time(), 10),
            Out(["total", 3], (60, 120), on_time(), 70),
        ),
        "As two_stage_end_of_window with EARLIEST: stage 1 emits a:1@10 and b:2@20 (hold at 10), "
        "stage 2 inherits EARLIEST → total 3 at 10; [60,120) total 3 at 70.",
    ),
    Case(
        "timestamp_combiner_earliest_behind_output_watermark",
        ("test_stream", "late_data", "fixed_windows", "combine_per_key", "timestamp_combiner"),
        _earliest_behind(False),
        (Out(["k", 3], (0, 10), on_time(), 5),),
        "EARLIEST, FixedWindows(10): 1@5 holds the output watermark at 5; the watermark advances "
        "to 8, so the output watermark is min(8, 5) = 5; 2@3 is on time (the window ends at 10) "
        "but behind the output watermark, so it places no hold. The ON_TIME pane 1+2 = 3 is "
        "stamped with the hold, 5 (not 3: a pane at 3 would be late downstream).",
    ),
    Case(
        "timestamp_combiner_earliest_behind_output_watermark_downstream",
        (
            "test_stream", "late_data", "fixed_windows", "combine_per_key", "timestamp_combiner",
            "watermark_holds", "drop_counters",
        ),
        _earliest_behind(True),
        (Out(["total", 3], (4, 8), on_time(), 7.999),),
        "As timestamp_combiner_earliest_behind_output_watermark, then re-keyed to 'total', "
        "re-windowed into FixedWindows(4) and summed: the pane at 5 lands in [4,8), which the "
        "second grouping's watermark (5 while the first holds) has not passed: ON_TIME total 3 "
        "at 7.999, nothing dropped.",
        counters=(("dropped_due_to_lateness", 0),),
    ),
]
