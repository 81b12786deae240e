"""Windows and window functions: FixedWindows, SlidingWindows, Sessions, GlobalWindows.

Sizes are given in seconds as in Beam; window bounds are kept in integer milliseconds
(``start_ms``, ``end_ms``) with :class:`~fluvial.timeutil.Timestamp` views ``start``/``end``.

>>> w = FixedWindows(60).assign(61_500, None)[0]
>>> (w.start_ms, w.end_ms)
(60000, 120000)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import attrs

from fluvial.errors import PipelineConstructionError
from fluvial.timeutil import (
    GLOBAL_WINDOW_MAX_MS,
    MAX_TIMESTAMP_MS,
    MIN_TIMESTAMP_MS,
    Timestamp,
    to_millis,
)


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


def expiry_time(window: BoundedWindow, allowed_lateness_ms: int) -> int:
    """The last instant of ``window``'s life: its max timestamp plus the allowed lateness, capped
    1 ms before the end of time so that every window (the global one with any lateness
    included) expires when the input ends. The window is expired, its state garbage-collected
    and its elements dropped as too late, once ``watermark > expiry_time``.

    >>> expiry_time(IntervalWindow(0, 60_000), 5_000)
    64999
    """
    return min(window.max_timestamp_ms + allowed_lateness_ms, MAX_TIMESTAMP_MS - 1)


def is_expired(window: BoundedWindow, allowed_lateness_ms: int, watermark: int) -> bool:
    """Whether ``window`` has expired at ``watermark`` (see :func:`expiry_time`)."""
    return expiry_time(window, allowed_lateness_ms) < watermark


def expired_below(watermark: int, allowed_lateness_ms: int) -> float:
    """The windows whose max timestamp is below this have expired at ``watermark``, the others
    have not (:func:`is_expired` on plain numbers; at the end of time every window has, those
    ending after it included: infinity).

    >>> expired_below(60_000, 5_000), is_expired(IntervalWindow(0, 55_000), 5_000, 60_000)
    (55000, True)
    >>> expired_below(MAX_TIMESTAMP_MS, 0) > MAX_TIMESTAMP_MS + 86_400_000 * 365
    True
    """
    if watermark >= MAX_TIMESTAMP_MS:
        return math.inf
    return watermark - allowed_lateness_ms


@attrs.frozen
class Slicing:
    """Windows that are runs of ``per_window`` consecutive *slices* of ``period_ms`` (fixed
    windows: one slice each; sliding windows whose size is a multiple of the period). Slice
    ``s`` covers ``[s * period + offset, (s + 1) * period + offset)``; window ``j`` is slices
    ``j .. j + per_window - 1``; an element's windows are those of its slice. A runner may keep
    one partial aggregate per slice and share it between the overlapping windows.

    >>> sl = SlidingWindows(10, 5).slicing()
    >>> sl.slice_of(12_000), [sl.window(j) for j in sl.windows_of_slice(2)]
    (2, [IntervalWindow(Timestamp(5), Timestamp(15)), IntervalWindow(Timestamp(10), Timestamp(20))])
    """

    period_ms: int
    size_ms: int
    offset_ms: int

    @property
    def per_window(self) -> int:
        return self.size_ms // self.period_ms

    def slice_of(self, t: int) -> int:
        return (t - self.offset_ms) // self.period_ms

    def window(self, j: int) -> IntervalWindow:
        start = j * self.period_ms + self.offset_ms
        return IntervalWindow(start, start + self.size_ms)

    def windows_of_slice(self, s: int) -> range:
        return range(s - self.per_window + 1, s + 1)

    def last_expired(self, watermark: int, allowed_lateness_ms: int) -> int:
        """The largest window index whose window has expired at ``watermark``
        (:func:`is_expired`: ``watermark > max timestamp + lateness``, every window at the end
        of time); windows grow with their index."""
        if watermark >= MAX_TIMESTAMP_MS:
            return self.slice_of(MAX_TIMESTAMP_MS)
        return (watermark - self.offset_ms - self.size_ms - allowed_lateness_ms) // self.period_ms


class _Invalid(Exception):
    pass


class WindowFn:
    """Assigns elements to windows. Subclass for a custom WindowFn:

    >>> class EvenOdd(WindowFn):
    ...     def assign(self, timestamp_ms, element):
    ...         if element % 2 == 0:
    ...             return [IntervalWindow(0, 10_000)]   # milliseconds
    ...         return [IntervalWindow(10_000, 20_000)]
    >>> EvenOdd().assign(0, 3)
    [IntervalWindow(Timestamp(10), Timestamp(20))]
    """

    is_merging: bool = False

    def assign(self, timestamp_ms: int, element: object) -> Sequence[BoundedWindow]:
        raise NotImplementedError

    def slicing(self) -> Slicing | None:
        """How the windows decompose into shared slices, or None (see :class:`Slicing`)."""
        return None

    def merge(self, windows: Iterable[BoundedWindow]) -> list[tuple[list[BoundedWindow], BoundedWindow]]:
        """For merging WindowFns: groups of windows to merge and their result."""
        return []

    def validate(self, label: str) -> None:
        """Raise PipelineConstructionError, naming the transform, if misconfigured."""
        problem = getattr(self, "problem", None)
        if problem:
            raise PipelineConstructionError(f"transform '{label}': {problem}")


def _positive_ms(value: object, what: str, cls: str) -> int:
    try:
        ms = to_millis(value)
    except TypeError as e:
        raise _Invalid(f"{cls}: {what} {e}") from None
    if ms <= 0:
        raise _Invalid(
            f"{cls}: {what} must be a positive duration in seconds (at least 0.001), got {value!r}"
        )
    return ms


def _record(obj: object, fields: dict, problem: str | None) -> None:
    for k, v in fields.items():
        object.__setattr__(obj, k, v)
    object.__setattr__(obj, "problem", problem)


def _check(obj: object) -> None:
    problem = getattr(obj, "problem", None)
    if problem:
        raise PipelineConstructionError(problem)


@attrs.frozen
class FixedWindows(WindowFn):
    """Tumbling windows of ``size`` seconds, shifted by ``offset`` seconds."""

    size: object
    offset: object = 0
    size_ms: int = attrs.field(init=False)
    offset_ms: int = attrs.field(init=False)
    problem: str | None = attrs.field(init=False, default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        try:
            size_ms = _positive_ms(self.size, "size", "FixedWindows")
            _record(self, {"size_ms": size_ms, "offset_ms": to_millis(self.offset) % size_ms}, None)
        except (_Invalid, TypeError) as e:
            _record(self, {"size_ms": 1, "offset_ms": 0}, f"{e}; e.g. FixedWindows(60) for one-minute windows")

    def assign(self, timestamp_ms: int, element: object) -> list[BoundedWindow]:
        _check(self)
        start = timestamp_ms - (timestamp_ms - self.offset_ms) % self.size_ms
        return [IntervalWindow(start, start + self.size_ms)]

    def slicing(self) -> Slicing | None:
        _check(self)
        return Slicing(self.size_ms, self.size_ms, self.offset_ms)


@attrs.frozen
class SlidingWindows(WindowFn):
    """Overlapping windows of ``size`` seconds starting every ``period`` seconds."""

    size: object
    period: object
    offset: object = 0
    size_ms: int = attrs.field(init=False)
    period_ms: int = attrs.field(init=False)
    offset_ms: int = attrs.field(init=False)
    problem: str | None = attrs.field(init=False, default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        try:
            size_ms = _positive_ms(self.size, "size", "SlidingWindows")
            period_ms = _positive_ms(self.period, "period", "SlidingWindows")
            if period_ms > size_ms:
                raise _Invalid(
                    f"SlidingWindows: period ({self.period}) must not exceed size ({self.size}); "
                    "use FixedWindows for windows with gaps between them"
                )
            offset_ms = to_millis(self.offset) % period_ms
            _record(self, {"size_ms": size_ms, "period_ms": period_ms, "offset_ms": offset_ms}, None)
        except (_Invalid, TypeError) as e:
            _record(self, {"size_ms": 1, "period_ms": 1, "offset_ms": 0},
                    f"{e}; e.g. SlidingWindows(600, 60) for 10-minute windows every minute")

    def assign(self, timestamp_ms: int, element: object) -> list[BoundedWindow]:
        _check(self)
        period, size = self.period_ms, self.size_ms
        last_start = timestamp_ms - (timestamp_ms - self.offset_ms) % period
        out: list[BoundedWindow] = []
        start = last_start
        while start > timestamp_ms - size:
            out.append(IntervalWindow(start, start + size))
            start -= period
        return out

    def slicing(self) -> Slicing | None:
        _check(self)
        if self.size_ms % self.period_ms:
            return None
        return Slicing(self.period_ms, self.size_ms, self.offset_ms)


@attrs.frozen
class Sessions(WindowFn):
    """Merging windows: elements closer than ``gap_size`` seconds share a session."""

    gap_size: object
    gap_ms: int = attrs.field(init=False)
    is_merging: bool = attrs.field(init=False, default=True)
    problem: str | None = attrs.field(init=False, default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        try:
            _record(self, {"gap_ms": _positive_ms(self.gap_size, "gap_size", "Sessions")}, None)
        except (_Invalid, TypeError) as e:
            _record(self, {"gap_ms": 1}, f"{e}; e.g. Sessions(600) for a 10-minute inactivity gap")

    def assign(self, timestamp_ms: int, element: object) -> list[BoundedWindow]:
        _check(self)
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
