"""Windows and window functions: FixedWindows, SlidingWindows, Sessions, GlobalWindows.

Sizes are given in seconds as in Beam; window bounds are kept in integer milliseconds
(``start_ms``, ``end_ms``) with :class:`~fluvial.timeutil.Timestamp` views ``start``/``end``.

>>> w = FixedWindows(60).assign(61_500, None)[0]
>>> (w.start_ms, w.end_ms)
(60000, 120000)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
from fluvial.errors import PipelineConstructionError
from fluvial.timeutil import GLOBAL_WINDOW_MAX_MS, MIN_TIMESTAMP_MS, Timestamp, to_millis


class BoundedWindow:
    """A window with a maximum timestamp (inclusive), in milliseconds."""

    __slots__ = ()

    @property
    def max_timestamp_ms(self) -> int:
        raise NotImplementedError

    def max_timestamp(self) -> Timestamp:
        return Timestamp.of_millis(self.max_timestamp_ms)


class IntervalWindow(BoundedWindow):
    """The half-open interval ``[start_ms, end_ms)``."""

    __slots__ = ("start_ms", "end_ms", "_hash")

    def __init__(self, start_ms: int, end_ms: int) -> None:
        self.start_ms = start_ms
        self.end_ms = end_ms
        self._hash = hash((start_ms, end_ms))

    @property
    def max_timestamp_ms(self) -> int:
        return self.end_ms - 1

    @property
    def start(self) -> Timestamp:
        return Timestamp.of_millis(self.start_ms)

    @property
    def end(self) -> Timestamp:
        return Timestamp.of_millis(self.end_ms)

    def intersects(self, other: IntervalWindow) -> bool:
        return self.start_ms < other.end_ms and other.start_ms < self.end_ms

    def span(self, other: IntervalWindow) -> IntervalWindow:
        return IntervalWindow(min(self.start_ms, other.start_ms), max(self.end_ms, other.end_ms))

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is IntervalWindow
            and self.start_ms == other.start_ms  # type: ignore[attr-defined]
            and self.end_ms == other.end_ms  # type: ignore[attr-defined]
        )

    def __lt__(self, other: IntervalWindow) -> bool:
        return (self.end_ms, self.start_ms) < (other.end_ms, other.start_ms)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"IntervalWindow({self.start!r}, {self.end!r})"

    def __reduce__(self):
        return (IntervalWindow, (self.start_ms, self.end_ms))


class GlobalWindow(BoundedWindow):
    """The single window of all time (a singleton)."""

    __slots__ = ()
    _instance: GlobalWindow | None = None

    def __new__(cls) -> GlobalWindow:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    @property
    def max_timestamp_ms(self) -> int:
        return GLOBAL_WINDOW_MAX_MS

    @property
    def start_ms(self) -> int:
        return MIN_TIMESTAMP_MS

    @property
    def end_ms(self) -> int:
        return GLOBAL_WINDOW_MAX_MS + 1

    def __eq__(self, other: object) -> bool:
        return type(other) is GlobalWindow

    def __lt__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0x5151

    def __repr__(self) -> str:
        return "GlobalWindow()"

    def __reduce__(self):
        return (GlobalWindow, ())


GLOBAL_WINDOW = GlobalWindow()


class WindowFn:
    """Assigns elements to windows. Subclass for a custom WindowFn:

    >>> class EvenOdd(WindowFn):
    ...     def assign(self, timestamp_ms, element):
    ...         return [IntervalWindow(0, 10) if element % 2 == 0 else IntervalWindow(10, 20)]
    >>> EvenOdd().assign(0, 3)
    [IntervalWindow(Timestamp(10), Timestamp(20))]
    """

    is_merging: bool = False

    def assign(self, timestamp_ms: int, element: object) -> Sequence[BoundedWindow]:
        raise NotImplementedError

    def merge(self, windows: Iterable[BoundedWindow]) -> list[tuple[list[BoundedWindow], BoundedWindow]]:
        """For merging WindowFns: groups of windows to merge and their result."""
        return []

    def validate(self, label: str) -> None:
        """Raise PipelineConstructionError if misconfigured."""


def _positive_ms(value: object, what: str, cls: str) -> int:
    try:
        ms = to_millis(value)
    except TypeError as e:
        raise PipelineConstructionError(f"{cls}: {what} {e}") from None
    if ms <= 0:
        raise PipelineConstructionError(
            f"{cls}: {what} must be a positive duration in seconds (at least 0.001), got {value!r}"
        )
    return ms


@attrs.frozen
class FixedWindows(WindowFn):
    """Tumbling windows of ``size`` seconds, shifted by ``offset`` seconds."""

    size: object
    offset: object = 0
    size_ms: int = attrs.field(init=False)
    offset_ms: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        size_ms = _positive_ms(self.size, "size", "FixedWindows")
        object.__setattr__(self, "size_ms", size_ms)
        object.__setattr__(self, "offset_ms", to_millis(self.offset) % size_ms)

    def assign(self, timestamp_ms: int, element: object) -> list[BoundedWindow]:
        start = timestamp_ms - (timestamp_ms - self.offset_ms) % self.size_ms
        return [IntervalWindow(start, start + self.size_ms)]


@attrs.frozen
class SlidingWindows(WindowFn):
    """Overlapping windows of ``size`` seconds starting every ``period`` seconds."""

    size: object
    period: object
    offset: object = 0
    size_ms: int = attrs.field(init=False)
    period_ms: int = attrs.field(init=False)
    offset_ms: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        size_ms = _positive_ms(self.size, "size", "SlidingWindows")
        period_ms = _positive_ms(self.period, "period", "SlidingWindows")
        if period_ms > size_ms:
            raise PipelineConstructionError(
                f"SlidingWindows: period ({self.period}) must not exceed size ({self.size}); "
                "use FixedWindows for gaps between windows"
            )
        object.__setattr__(self, "size_ms", size_ms)
        object.__setattr__(self, "period_ms", period_ms)
        object.__setattr__(self, "offset_ms", to_millis(self.offset) % period_ms)

    def assign(self, timestamp_ms: int, element: object) -> list[BoundedWindow]:
        period, size = self.period_ms, self.size_ms
        last_start = timestamp_ms - (timestamp_ms - self.offset_ms) % period
        out: list[BoundedWindow] = []
        start = last_start
        while start > timestamp_ms - size:
            out.append(IntervalWindow(start, start + size))
            start -= period
        return out


@attrs.frozen
class Sessions(WindowFn):
    """Merging windows: elements closer than ``gap_size`` seconds share a session."""

    gap_size: object
    gap_ms: int = attrs.field(init=False)
    is_merging: bool = attrs.field(init=False, default=True)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "gap_ms", _positive_ms(self.gap_size, "gap_size", "Sessions"))

    def assign(self, timestamp_ms: int, element: object) -> list[BoundedWindow]:
        return [IntervalWindow(timestamp_ms, timestamp_ms + self.gap_ms)]

    def merge(self, windows: Iterable[BoundedWindow]) -> list[tuple[list[BoundedWindow], BoundedWindow]]:
        return merge_overlapping_intervals(windows)


def merge_overlapping_intervals(
    windows: Iterable[BoundedWindow],
) -> list[tuple[list[BoundedWindow], BoundedWindow]]:
    """Group intersecting interval windows; returns (members, union) for groups of 2+."""
    ws = sorted(windows, key=lambda w: (w.start_ms, w.end_ms))  # type: ignore[attr-defined]
    out: list[tuple[list[BoundedWindow], BoundedWindow]] = []
    group: list[IntervalWindow] = []
    union: IntervalWindow | None = None
    for w in ws:
        assert isinstance(w, IntervalWindow)
        if union is not None and w.start_ms < union.end_ms:
            group.append(w)
            union = union.span(w)
        else:
            if len(group) > 1 and union is not None:
                out.append((list(group), union))
            group, union = [w], w
    if len(group) > 1 and union is not None:
        out.append((list(group), union))
    return out


@attrs.frozen
class GlobalWindows(WindowFn):
    """One window for all elements (the default)."""

    def assign(self, timestamp_ms: int, element: object) -> list[BoundedWindow]:
        return [GLOBAL_WINDOW]
