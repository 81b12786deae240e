"""Time in fluvial: the public API speaks seconds, the engine integer milliseconds.

Beam users write ``FixedWindows(60)`` for one-minute windows and ``TimestampedValue(x, 12.5)``;
fluvial accepts the same (int or float seconds, or a :class:`Timestamp` / :class:`Duration`).
Internally every timestamp is an ``int`` of milliseconds since the epoch: lossless on Flink
(milliseconds) and on Beam (microseconds), and exact for window arithmetic.

>>> to_millis(1.5)
1500
>>> Timestamp.of_millis(60_000)
Timestamp(60)
"""

from __future__ import annotations

import enum
import numbers

import attrs

# Beam's bounds, in milliseconds.
MIN_TIMESTAMP_MS: int = -9_223_372_036_854_775
MAX_TIMESTAMP_MS: int = 9_223_372_036_854_775
# The global window ends one day before the end of time, as in Beam.
GLOBAL_WINDOW_MAX_MS: int = MAX_TIMESTAMP_MS - 86_400_000

# The supported range of an element's event time (both ends included): Beam's minimum (also
# the time of elements without one, e.g. from Create) up to the end of the global window.
MIN_EVENT_TIME_MS: int = MIN_TIMESTAMP_MS
MAX_EVENT_TIME_MS: int = GLOBAL_WINDOW_MAX_MS


class TimeDomain(enum.Enum):
    """Which clock a timer or TTL follows (Beam's names)."""

    WATERMARK = "WATERMARK"
    REAL_TIME = "REAL_TIME"

    # Flink-style aliases
    EVENT_TIME = "WATERMARK"
    PROCESSING_TIME = "REAL_TIME"


@attrs.frozen(order=False)
class Timestamp:
    """An event-time instant. Compares with plain numbers as seconds.

    >>> Timestamp(12.5).millis
    12500
    >>> Timestamp(1) < 2
    True
    """

    millis: int = attrs.field(converter=lambda s: _seconds_to_ms(s))

    @classmethod
    def of_millis(cls, ms: int) -> Timestamp:
        t = object.__new__(cls)
        object.__setattr__(t, "millis", int(ms))
        return t

    @property
    def seconds(self) -> float:
        return self.millis / 1000.0

    def __float__(self) -> float:
        return self.millis / 1000.0

    def _other_ms(self, other: object) -> int | None:
        if isinstance(other, Timestamp):
            return other.millis
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            return _seconds_to_ms(other)
        return None

    def __eq__(self, other: object) -> bool:
        o = self._other_ms(other)
        return NotImplemented if o is None else self.millis == o  # type: ignore[return-value]

    def __hash__(self) -> int:
        return hash(self.millis)

    def __lt__(self, other: object) -> bool:
        o = self._other_ms(other)
        return NotImplemented if o is None else self.millis < o  # type: ignore[return-value]

    def __le__(self, other: object) -> bool:
        o = self._other_ms(other)
        return NotImplemented if o is None else self.millis <= o  # type: ignore[return-value]

    def __gt__(self, other: object) -> bool:
        o = self._other_ms(other)
        return NotImplemented if o is None else self.millis > o  # type: ignore[return-value]

    def __ge__(self, other: object) -> bool:
        o = self._other_ms(other)
        return NotImplemented if o is None else self.millis >= o  # type: ignore[return-value]

    def __repr__(self) -> str:
        if self.millis >= MAX_TIMESTAMP_MS:
            return "Timestamp(MAX)"
        if self.millis <= MIN_TIMESTAMP_MS:
            return "Timestamp(MIN)"
        s = self.millis / 1000
        return f"Timestamp({int(s) if s == int(s) else s})"


@attrs.frozen
class Duration:
    """A span of time; ``Duration(90)`` is ninety seconds."""

    millis: int = attrs.field(converter=lambda s: _seconds_to_ms(s))

    @property
    def seconds(self) -> float:
        return self.millis / 1000.0


def _seconds_to_ms(s: object) -> int:
    if isinstance(s, (Timestamp, Duration)):
        return s.millis
    if isinstance(s, bool) or not isinstance(s, numbers.Real):
        from fluvial.errors import bounded_repr

        raise TypeError(
            f"expected seconds as a number, got {bounded_repr(s)} ({type(s).__name__})")
    if isinstance(s, numbers.Integral):
        return int(s) * 1000
    ms = round(float(s) * 1000)
    return int(ms)


def to_millis(s: object) -> int:
    """Seconds (int, float, Timestamp or Duration) to integer milliseconds.

    >>> to_millis(2)
    2000
    """
    return _seconds_to_ms(s)


def ms_to_seconds(ms: int) -> float | int:
    """Milliseconds to seconds, an ``int`` when whole (for readable output)."""
    if ms % 1000 == 0:
        return ms // 1000
    return ms / 1000


def describe_ms(ms: int) -> str:
    """``ms`` as milliseconds and, when a calendar can show it, as an ISO-8601 UTC time.

    >>> describe_ms(1_500)
    '1500 ms (1970-01-01T00:00:01.500Z)'
    """
    import datetime as _dt

    try:
        t = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(milliseconds=ms)
    except (OverflowError, ValueError):
        return f"{ms} ms"
    return f"{ms} ms ({t.strftime('%Y-%m-%dT%H:%M:%S')}.{t.microsecond // 1000:03d}Z)"


def event_time_problem(ms: int, latest_ms: int = MAX_EVENT_TIME_MS,
                       ahead_s: float | None = None) -> str | None:
    """Why ``ms`` is not a supported event time, or None when it is. The range is
    :data:`MIN_EVENT_TIME_MS` .. :data:`MAX_EVENT_TIME_MS`; a source passes ``latest_ms`` =
    the wall clock plus its ``--max-event-time-ahead`` (``ahead_s``, named in the reason).

    >>> event_time_problem(5_000) is None
    True
    >>> event_time_problem(MAX_EVENT_TIME_MS + 1)
    'event time 9223371950454776 ms is after the latest supported event time (9223371950454775 ms, the end of the global window)'
    """
    if MIN_EVENT_TIME_MS <= ms <= latest_ms:
        return None
    if ms < MIN_EVENT_TIME_MS:
        return (f"event time {describe_ms(ms)} is before the earliest supported event time "
                f"({MIN_EVENT_TIME_MS} ms)")
    if ms > MAX_EVENT_TIME_MS:
        return (f"event time {describe_ms(ms)} is after the latest supported event time "
                f"({MAX_EVENT_TIME_MS} ms, the end of the global window)")
    return (f"event time {describe_ms(ms)} is more than {ahead_s:g} s ahead of the wall clock "
            f"(the latest accepted now is {describe_ms(latest_ms)}); fix the record's time, or "
            "raise --max-event-time-ahead (or set it to 'off')")


def check_event_time(ms: int) -> int:
    """``ms`` if it is a supported event time, else
    :class:`~fluvial.errors.EventTimeOutOfRangeError` (a ValueError) saying why.

    >>> check_event_time(1_000)
    1000
    """
    if MIN_EVENT_TIME_MS <= ms <= MAX_EVENT_TIME_MS:
        return ms
    from fluvial.errors import EventTimeOutOfRangeError

    raise EventTimeOutOfRangeError(event_time_problem(ms), ms)
