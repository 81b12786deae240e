"""The windowing strategy of a PCollection: window fn, trigger, accumulation, lateness, and
timestamp combiner.

>>> from fluvial.window import FixedWindows
>>> Windowing(FixedWindows(60)).allowed_lateness_ms
0
"""

from __future__ import annotations

import enum

import attrs

from fluvial.errors import PipelineConstructionError
from fluvial.timeutil import to_millis
from fluvial.triggers import AccumulationMode, DefaultTrigger, Trigger
from fluvial.window import GlobalWindows, WindowFn


class TimestampCombiner(enum.Enum):
    """Which timestamp a pane's output carries."""

    OUTPUT_AT_EOW = "OUTPUT_AT_EOW"
    OUTPUT_AT_EARLIEST = "OUTPUT_AT_EARLIEST"
    OUTPUT_AT_LATEST = "OUTPUT_AT_LATEST"

    EOW = "OUTPUT_AT_EOW"
    EARLIEST = "OUTPUT_AT_EARLIEST"
    LATEST = "OUTPUT_AT_LATEST"


@attrs.frozen
class Windowing:
    window_fn: WindowFn = attrs.field(factory=GlobalWindows)
    trigger: Trigger = attrs.field(factory=DefaultTrigger)
    accumulation_mode: AccumulationMode = AccumulationMode.DISCARDING
    allowed_lateness_ms: int = 0
    timestamp_combiner: TimestampCombiner = TimestampCombiner.OUTPUT_AT_EOW

    @property
    def is_default(self) -> bool:
        return (
            isinstance(self.window_fn, GlobalWindows)
            and isinstance(self.trigger, DefaultTrigger)
            and self.allowed_lateness_ms == 0
        )

    @property
    def one_pane_per_window(self) -> bool:
        """Whether each window gets one pane, when the watermark passes its end (or, for a
        window ending after the end of time, when the input ends), stamped with its end: the
        default trigger, no allowed lateness (a later element is dropped, not a late pane) and
        ``OUTPUT_AT_EOW``. A runner may then compute a window's result once, as it fires,
        with the pane :meth:`fluvial.window_driver.WindowDriver.end_of_window_pane` gives.

        >>> Windowing().one_pane_per_window, Windowing(allowed_lateness_ms=1).one_pane_per_window
        (True, False)
        """
        return (isinstance(self.trigger, DefaultTrigger) and self.allowed_lateness_ms == 0
                and self.timestamp_combiner is TimestampCombiner.OUTPUT_AT_EOW)

    @classmethod
    def build(
        cls,
        label: str,
        window_fn: WindowFn,
        trigger: Trigger | None,
        accumulation_mode: AccumulationMode | None,
        allowed_lateness: object,
        timestamp_combiner: TimestampCombiner | None,
    ) -> Windowing:
        if not isinstance(window_fn, WindowFn):
            raise PipelineConstructionError(
                f"transform '{label}': WindowInto needs a WindowFn such as FixedWindows(60), "
                f"got {window_fn!r}"
            )
        trig = DefaultTrigger() if trigger is None else trigger
        if not isinstance(trig, Trigger):
            raise PipelineConstructionError(
                f"transform '{label}': trigger must be a Trigger such as AfterWatermark(), got {trig!r}"
            )
        trig.validate(label)
        window_fn.validate(label)
        try:
            lateness = to_millis(allowed_lateness)
        except TypeError as e:
            raise PipelineConstructionError(f"transform '{label}': allowed_lateness {e}") from None
        if lateness < 0:
            raise PipelineConstructionError(
                f"transform '{label}': allowed_lateness must be >= 0 seconds, got {allowed_lateness!r}"
            )
        mode = accumulation_mode or AccumulationMode.DISCARDING
        if not isinstance(mode, AccumulationMode):
            raise PipelineConstructionError(
                f"transform '{label}': accumulation_mode must be AccumulationMode.DISCARDING or "
                f"AccumulationMode.ACCUMULATING, got {mode!r}"
            )
        tc = timestamp_combiner or TimestampCombiner.OUTPUT_AT_EOW
        if not isinstance(tc, TimestampCombiner):
            raise PipelineConstructionError(
                f"transform '{label}': timestamp_combiner must be a TimestampCombiner, got {tc!r}"
            )
        return cls(window_fn, trig, mode, lateness, tc)


def continuation(w: Windowing) -> Windowing:
    """The windowing of a grouping's output: windows already assigned, the trigger's
    continuation (default trigger stays default; others fire on every upstream pane)."""
    from fluvial.triggers import AfterCount, Repeatedly

    trig = w.trigger if isinstance(w.trigger, DefaultTrigger) else Repeatedly(AfterCount(1))
    return attrs.evolve(w, trigger=trig)
