"""Conversions between fluvial's model objects and apache_beam's: timestamps (fluvial: int ms,
Beam: Timestamp in micros, exactly x1000), windows, panes, window functions, triggers and
windowing strategies. Everything maps one to one; what Beam cannot express raises
:class:`~fluvial.errors.UnsupportedFeatureError` naming the transform.

>>> to_beam_ts(1500).micros
1500000
>>> from_beam_ts(to_beam_ts(-7))
-7
"""

from __future__ import annotations

from typing import Any

from apache_beam.transforms import trigger as bt
from apache_beam.transforms import window as bw
from apache_beam.utils import windowed_value as bwv
from apache_beam.utils.timestamp import MAX_TIMESTAMP, MIN_TIMESTAMP, Duration, Timestamp

from fluvial import triggers as ft
from fluvial import window as fw
from fluvial.errors import UnsupportedFeatureError
from fluvial.pane import PaneInfo, PaneTiming
from fluvial.timeutil import GLOBAL_WINDOW_MAX_MS, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.windowing import TimestampCombiner, Windowing

RUNNER = "beam"


# -- time ----------------------------------------------------------------------------------------
# Beam computes the global window's end through float seconds: its max timestamp is ~2 ms off
# "end of time - 1 day" exactly. The two instants are mapped onto each other.
# Portable runners (FnApiRunner) carry timestamps in whole milliseconds, so the floor is mapped too.
_BEAM_GLOBAL_MAX = bw.GlobalWindow().max_timestamp()
_GLOBAL_MAX_FLOOR = _BEAM_GLOBAL_MAX.micros // 1000 * 1000


def to_beam_ts(ms: int) -> Timestamp:
    """fluvial milliseconds to a Beam Timestamp (exact; the ends of time and the global
    window's max timestamp map to Beam's)."""
    if ms <= MIN_TIMESTAMP_MS:
        return MIN_TIMESTAMP
    if ms >= MAX_TIMESTAMP_MS:
        return MAX_TIMESTAMP
    if ms == GLOBAL_WINDOW_MAX_MS:
        return _BEAM_GLOBAL_MAX
    return Timestamp(micros=int(ms) * 1000)


def from_beam_ts(ts: Any) -> int:
    """A Beam Timestamp (or seconds) to fluvial milliseconds (floor; whole ms are exact)."""
    micros = ts.micros if hasattr(ts, "micros") else int(round(float(ts) * 1_000_000))
    if micros <= MIN_TIMESTAMP.micros:
        return MIN_TIMESTAMP_MS
    if micros >= MAX_TIMESTAMP.micros:
        return MAX_TIMESTAMP_MS
    if _GLOBAL_MAX_FLOOR <= micros <= _BEAM_GLOBAL_MAX.micros:
        return GLOBAL_WINDOW_MAX_MS
    return micros // 1000


def to_beam_duration(ms: int) -> Duration:
    return Duration(micros=int(ms) * 1000)


# -- windows and panes ---------------------------------------------------------------------------
def from_beam_window(w: Any) -> Any:
    if isinstance(w, bw.GlobalWindow):
        return fw.GLOBAL_WINDOW
    if isinstance(w, bw.IntervalWindow):
        return fw.IntervalWindow(from_beam_ts(w.start), from_beam_ts(w.end))
    return w


def to_beam_window(w: Any) -> Any:
    if isinstance(w, fw.GlobalWindow):
        return bw.GlobalWindow()
    if isinstance(w, fw.IntervalWindow):
        return bw.IntervalWindow(to_beam_ts(w.start_ms), to_beam_ts(w.end_ms))
    return w


_TIMING_FROM = {
    bwv.PaneInfoTiming.EARLY: PaneTiming.EARLY,
    bwv.PaneInfoTiming.ON_TIME: PaneTiming.ON_TIME,
    bwv.PaneInfoTiming.LATE: PaneTiming.LATE,
    bwv.PaneInfoTiming.UNKNOWN: PaneTiming.UNKNOWN,
}
_TIMING_TO = {v: k for k, v in _TIMING_FROM.items()}


def from_beam_pane(p: Any) -> PaneInfo:
    if p is None:
        return PaneInfo.NO_FIRING  # type: ignore[attr-defined]
    return PaneInfo(
        bool(p.is_first), bool(p.is_last), _TIMING_FROM[p.timing], int(p.index),
        int(p.nonspeculative_index),
    )


def to_beam_pane(p: PaneInfo) -> Any:
    return bwv.PaneInfo(p.is_first, p.is_last, _TIMING_TO[p.timing], p.index, p.nonspeculative_index)


# -- window functions ----------------------------------------------------------------------------
class _CustomWindowFn(bw.NonMergingWindowFn):
    """A fluvial custom (non-merging) WindowFn as a Beam WindowFn."""

    def __init__(self, fn: fw.WindowFn, label: str) -> None:
        self.fn = fn
        self.label = label

    def assign(self, context: Any) -> list:
        out = []
        for w in self.fn.assign(from_beam_ts(context.timestamp), context.element):
            if not isinstance(w, (fw.IntervalWindow, fw.GlobalWindow)):
                raise UnsupportedFeatureError(
                    RUNNER, self.label,
                    f"custom WindowFn {type(self.fn).__name__} returned {type(w).__name__}; on Beam "
                    "a custom WindowFn must return IntervalWindow or GlobalWindow",
                )
            out.append(to_beam_window(w))
        return out

    def get_window_coder(self) -> Any:
        from apache_beam.coders.coders import IntervalWindowCoder

        return IntervalWindowCoder()


class _CustomMergingWindowFn(_CustomWindowFn, bw.WindowFn):
    """A fluvial custom merging WindowFn as a Beam WindowFn."""

    def merge(self, merge_context: Any) -> None:
        windows = [from_beam_window(w) for w in merge_context.windows]
        for members, result in self.fn.merge(windows):
            merge_context.merge([to_beam_window(w) for w in members], to_beam_window(result))

    def is_merging(self) -> bool:
        return True


def to_beam_window_fn(fn: fw.WindowFn, label: str) -> Any:
    if isinstance(fn, fw.GlobalWindows):
        return bw.GlobalWindows()
    if isinstance(fn, fw.FixedWindows):
        return bw.FixedWindows(to_beam_duration(fn.size_ms), to_beam_ts(fn.offset_ms))
    if isinstance(fn, fw.SlidingWindows):
        return bw.SlidingWindows(
            to_beam_duration(fn.size_ms), to_beam_duration(fn.period_ms), to_beam_ts(fn.offset_ms)
        )
    if isinstance(fn, fw.Sessions):
        return bw.Sessions(to_beam_duration(fn.gap_ms))
    if fn.is_merging:
        return _CustomMergingWindowFn(fn, label)
    return _CustomWindowFn(fn, label)


# -- triggers ------------------------------------------------------------------------------------
def to_beam_trigger(t: ft.Trigger, label: str) -> Any:
    """fluvial trigger -> Beam trigger, one to one."""
    if isinstance(t, ft.DefaultTrigger):
        return bt.DefaultTrigger()
    if isinstance(t, ft.Never):
        return bt._Never()
    if isinstance(t, ft.AfterProcessingTime):
        return bt.AfterProcessingTime(t.delay_ms / 1000 if t.delay_ms % 1000 else t.delay_ms // 1000)
    if isinstance(t, ft.AfterCount):
        return bt.AfterCount(t.count)
    if isinstance(t, ft.Repeatedly):
        return bt.Repeatedly(to_beam_trigger(t.underlying, label))
    if isinstance(t, ft.AfterWatermark):
        return bt.AfterWatermark(
            early=None if t.early is None else to_beam_trigger(t.early, label),
            late=None if t.late is None else to_beam_trigger(t.late, label),
        )
    if isinstance(t, ft.AfterAny):
        return bt.AfterAny(*[to_beam_trigger(s, label) for s in t.triggers])
    if isinstance(t, ft.AfterAll):
        return bt.AfterAll(*[to_beam_trigger(s, label) for s in t.triggers])
    if isinstance(t, ft.AfterEach):
        return bt.AfterEach(*[to_beam_trigger(s, label) for s in t.triggers])
    if isinstance(t, ft.OrFinally):
        return bt.OrFinally(to_beam_trigger(t.main, label), to_beam_trigger(t.until, label))
    raise UnsupportedFeatureError(
        RUNNER, label, f"trigger {type(t).__name__} has no Apache Beam equivalent"
    )


_TC = {
    TimestampCombiner.OUTPUT_AT_EOW: bw.TimestampCombiner.OUTPUT_AT_EOW,
    TimestampCombiner.OUTPUT_AT_EARLIEST: bw.TimestampCombiner.OUTPUT_AT_EARLIEST,
    TimestampCombiner.OUTPUT_AT_LATEST: bw.TimestampCombiner.OUTPUT_AT_LATEST,
}


def closes_at_end_of_window(w: Windowing) -> bool:
    """Whether the translation adds Beam's ``AfterWatermark()`` as a final trigger.

    fluvial's model emits a window's leftover elements as a final pane when the window expires.
    Beam Python's trigger driver has no end-of-window garbage collection: a trigger without a
    watermark part (``Repeatedly(AfterCount(2))``, ``Never()``) keeps the leftover elements and
    their watermark hold forever, and Beam's DirectRunner stops with "pipeline stall". With no
    allowed lateness the window expires at its end, so ``OrFinally(trigger, AfterWatermark())``
    fires exactly the model's final pane; an empty final pane is then dropped after the grouping
    (the model emits none). Not for once triggers other than Never: when they close the window
    first, Beam keeps the watermark hold of a finished window whose trigger has an on-time pane,
    which stalls as well.
    """
    if w.allowed_lateness_ms != 0:
        return False
    t = w.trigger
    return not isinstance(t, (ft.DefaultTrigger, ft.AfterWatermark)) and (
        not t.is_once or isinstance(t, ft.Never)
    )


def window_into_kwargs(w: Windowing, label: str) -> dict[str, Any]:
    """Keyword arguments of ``beam.WindowInto`` for a fluvial windowing strategy.

    Allowed lateness maps one to one. Beam Python's trigger driver drops an element only when
    ``watermark > window.end + allowed_lateness`` (the model: ``window.max_timestamp``, 1 ms
    earlier); that is kept, because the same driver lets a grouping's output watermark reach
    ``window.end`` before the pane at ``window.max_timestamp`` is processed downstream, and
    only its later drop rule keeps such panes from being dropped by the next grouping.
    """
    mode = (
        bt.AccumulationMode.ACCUMULATING
        if w.accumulation_mode is ft.AccumulationMode.ACCUMULATING
        else bt.AccumulationMode.DISCARDING
    )
    return {
        "windowfn": to_beam_window_fn(w.window_fn, label),
        "trigger": (
            bt.OrFinally(to_beam_trigger(w.trigger, label), bt.AfterWatermark())
            if closes_at_end_of_window(w) else to_beam_trigger(w.trigger, label)
        ),
        "accumulation_mode": mode,
        "timestamp_combiner": _TC[w.timestamp_combiner],
        "allowed_lateness": to_beam_duration(w.allowed_lateness_ms),
    }
