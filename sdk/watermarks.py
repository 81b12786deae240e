"""Watermark strategies a source declares: bounded out-of-orderness, monotonic, idle timeout.

The watermark says "no more elements earlier than this are expected". Elements behind it are
late. A multi-input operator's watermark is the minimum of its inputs; an idle input (no data
for ``idle_timeout`` seconds of processing time) is left out of that minimum.

>>> g = BoundedOutOfOrderness(5).create()
>>> g.on_event(100_000); g.current()
95000
"""

from __future__ import annotations

import attrs

from fluvial.errors import PipelineConstructionError
from fluvial.timeutil import MIN_TIMESTAMP_MS, to_millis


class WatermarkGenerator:
    """Tracks one input split's watermark."""

    def __init__(self, delay_ms: int, idle_ms: int | None) -> None:
        self.delay_ms = delay_ms
        self.idle_ms = idle_ms
        self.max_ts = MIN_TIMESTAMP_MS
        self.last_active: int | None = None

    def on_event(self, ts_ms: int, now_ms: int | None = None) -> None:
        if ts_ms > self.max_ts:
            self.max_ts = ts_ms
        if now_ms is not None:
            self.last_active = now_ms

    def current(self) -> int:
        if self.max_ts == MIN_TIMESTAMP_MS:
            return MIN_TIMESTAMP_MS
        return self.max_ts - self.delay_ms

    def is_idle(self, now_ms: int) -> bool:
        if self.idle_ms is None or self.last_active is None:
            return False
        return now_ms - self.last_active >= self.idle_ms

    def snapshot(self) -> tuple:
        return (self.max_ts, self.last_active)

    def restore(self, st: tuple) -> None:
        self.max_ts, self.last_active = st


class WatermarkStrategy:
    delay_ms: int
    idle_ms: int | None

    def create(self) -> WatermarkGenerator:
        return WatermarkGenerator(self.delay_ms, self.idle_ms)


def _idle(v: object) -> int | None:
    if v is None:
        return None
    ms = to_millis(v)
    if ms <= 0:
        raise PipelineConstructionError(f"idle_timeout must be positive seconds, got {v!r}")
    return ms


@attrs.frozen
class BoundedOutOfOrderness(WatermarkStrategy):
    """Watermark = highest timestamp seen − ``max_delay`` seconds."""

    max_delay: object
    idle_timeout: object = None
    delay_ms: int = attrs.field(init=False)
    idle_ms: int | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        d = to_millis(self.max_delay)
        if d < 0:
            raise PipelineConstructionError(f"BoundedOutOfOrderness: max_delay must be >= 0, got {self.max_delay!r}")
        object.__setattr__(self, "delay_ms", d)
        object.__setattr__(self, "idle_ms", _idle(self.idle_timeout))


@attrs.frozen
class Monotonic(WatermarkStrategy):
    """Timestamps never decrease: watermark = highest timestamp seen."""

    idle_timeout: object = None
    delay_ms: int = attrs.field(init=False, default=0)
    idle_ms: int | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "idle_ms", _idle(self.idle_timeout))


def combined_watermark(gens: list[WatermarkGenerator], now_ms: int) -> int | None:
    """Minimum over non-idle generators; None when all are idle (hold the previous value)."""
    active = [g.current() for g in gens if not g.is_idle(now_ms)]
    return min(active) if active else None
