"""Conformance cases where the Beam runner's output differs from fluvial's model, and why.

Each reason names the Beam Python behaviour responsible. The Beam test suite asserts that exactly
these cases deviate, so a Beam upgrade that fixes one shows up as a failing test, prompting its
removal from this list. Features the runner refuses are missing capabilities
(:mod:`fluvial.runners.beam.capabilities`), not deviations.
"""

from __future__ import annotations

_NO_DROP_COUNTER = (
    "output records match; Beam Python's trigger driver drops late elements without counting "
    "them, so the counter dropped_due_to_lateness stays 0"
)
_NO_CLOSED_COUNTER = (
    "output records match; Beam Python's trigger driver ignores elements of a window whose "
    "trigger has finished without counting them, so dropped_due_to_closed_window stays 0"
)
_LATE_BOUNDARY = (
    "Beam Python drops an element only when watermark > window.end + allowed_lateness; the "
    "model (and Beam Java) drops it when watermark > window.max_timestamp + allowed_lateness, "
    "1 ms earlier. The element arriving when the watermark equals window.end + allowed_lateness "
    "is kept and fires an extra LATE pane; dropped elements are not counted "
    "(dropped_due_to_lateness stays 0)"
)
_STALL = (
    "Beam Python's trigger driver has no end-of-window garbage collection: the window's "
    "leftover elements are never emitted as the model's final pane at expiry and their "
    "watermark hold is never released, so Beam's DirectRunner stops with 'pipeline stall'"
)
_MERGE_INDEX = (
    "Beam Python's trigger driver clears the pane index when session windows merge, so the "
    "merged window's next pane restarts at index 0 / is_first=True; the model continues the "
    "indices of the merged windows"
)
_PROCESSING_TIME = (
    "Beam's BundleBasedDirectRunner does not fire a processing-time trigger set after the "
    "first pane when the TestStream clock passes its deadline; the elements wait for the next "
    "firing (different pane contents)"
)

_TIMER_HOLD = (
    "Beam Python's DirectRunner does not hold a stateful DoFn's output watermark for its pending "
    "timers (apache_beam/runners/direct/direct_userstate.py: 'add corresponding watermark holds "
    "after the DirectRunner allows for keyed watermark holds'): when the watermark jumps past a "
    "timer, the DoFn's output watermark moves with it before the timer fires, so the timer's "
    "output reaches the next grouping after that grouping's window has expired and is dropped "
    "as late"
)

KNOWN_DEVIATIONS: dict[str, str] = {
    # processing-time triggers under TestStream
    "global_processing_time_repeated": _PROCESSING_TIME,
    "repeated_after_any": _PROCESSING_TIME,
    # windows that need the model's final pane at expiry
    "after_all_closes_window": _STALL
    + " (AfterAll(AfterCount, AfterProcessingTime) whose processing-time part does not fire)",
    "never_with_lateness": _STALL + " (Never() with allowed lateness)",
    "afterwatermark_late_count_final_pane": _STALL
    + " (late elements short of the late trigger's count)",
    # counters
    "after_each_closes_window": _NO_CLOSED_COUNTER,
    "or_finally": _NO_CLOSED_COUNTER,
    "afterwatermark_early_late_accumulating": _NO_DROP_COUNTER,
    "afterwatermark_early_late_discarding": _NO_DROP_COUNTER,
    "sessions_late_dropped": _NO_DROP_COUNTER,
    # the lateness boundary
    "late_dropped_no_lateness": _LATE_BOUNDARY,
    "default_late_firings_discarding": _LATE_BOUNDARY,
    "default_late_firings_accumulating": _LATE_BOUNDARY,
    "lateness_boundary": _LATE_BOUNDARY,
    "sliding_sum_late_accumulating": _LATE_BOUNDARY,
    # merging
    "sessions_late_merge_accumulating": _MERGE_INDEX,
    "sessions_late_merge_discarding": _MERGE_INDEX,
    "sessions_early_late_merge": _MERGE_INDEX,
    # watermark holds
    "event_timer_output_grouped_at_end": _TIMER_HOLD,
    "timestamp_combiner_earliest_per_pane": (
        "Beam Python's trigger driver keeps a window's watermark hold across an early pane when "
        "the trigger has an on-time pane, so with OUTPUT_AT_EARLIEST the ON_TIME pane carries "
        "the earliest timestamp of all the window's elements, not of the pane's own"
    ),
}
