"""Elements as they travel through a pipeline: value, event timestamp (ms), windows, pane."""

from __future__ import annotations

from typing import Any

from fluvial.pane import NO_FIRING, PaneInfo
from fluvial.timeutil import MIN_TIMESTAMP_MS, Timestamp, check_event_time, to_millis
from fluvial.window import GLOBAL_WINDOW


class WindowedValue:
    """One element: ``value`` at ``timestamp`` (int ms) in ``windows`` with ``pane``."""

    __slots__ = ("value", "timestamp", "windows", "pane")

    def __init__(self, value: Any, timestamp: int, windows: tuple, pane: PaneInfo = NO_FIRING) -> None:
        self.value = value
        self.timestamp = timestamp
        self.windows = windows
        self.pane = pane

    def with_value(self, value: Any) -> WindowedValue:
        return WindowedValue(value, self.timestamp, self.windows, self.pane)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WindowedValue)
            and self.value == other.value
            and self.timestamp == other.timestamp
            and self.windows == other.windows
            and self.pane == other.pane
        )

    def __repr__(self) -> str:
        return f"WindowedValue({self.value!r}, {self.timestamp}ms, {self.windows!r}, {self.pane!r})"

    def __reduce__(self):
        return (WindowedValue, (self.value, self.timestamp, self.windows, self.pane))


GLOBAL_WINDOWS: tuple = (GLOBAL_WINDOW,)


def in_global_window(value: Any, timestamp_ms: int = MIN_TIMESTAMP_MS) -> WindowedValue:
    return WindowedValue(value, timestamp_ms, GLOBAL_WINDOWS, NO_FIRING)


class TimestampedValue:
    """Yield this from a DoFn (or put it in Create) to set an element's event time (seconds).
    A time outside the supported range (:func:`fluvial.timeutil.check_event_time`) raises
    :class:`~fluvial.errors.EventTimeOutOfRangeError`: in a DoFn, the ParDo's error policy
    applies to the element (e.g. a dead-letter record saying why).

    >>> TimestampedValue("a", 1.5).timestamp_ms
    1500
    """

    __slots__ = ("value", "timestamp_ms")

    def __init__(self, value: Any, timestamp: float | int | Timestamp) -> None:
        self.value = value
        self.timestamp_ms = check_event_time(to_millis(timestamp))

    @property
    def timestamp(self) -> Timestamp:
        return Timestamp.of_millis(self.timestamp_ms)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TimestampedValue)
            and self.value == other.value
            and self.timestamp_ms == other.timestamp_ms
        )

    def __repr__(self) -> str:
        return f"TimestampedValue({self.value!r}, {self.timestamp!r})"


class TaggedOutput:
    """Yield from a DoFn to send ``value`` to the side output named ``tag``."""

    __slots__ = ("tag", "value")

    def __init__(self, tag: str, value: Any) -> None:
        if not isinstance(tag, str):
            raise TypeError(f"TaggedOutput tag must be a str, got {tag!r}")
        self.tag = tag
        self.value = value
