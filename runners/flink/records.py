"""How elements travel between the Flink operators of a fluvial pipeline.

Two record formats:

* **wire** (``Types.PICKLED_BYTE_ARRAY``, between Python operators): an element is the tuple
  ``(value, timestamp_ms, windows, pane)`` with ``windows`` None for the global window and
  ``pane`` None for "no firing" (the common case costs nothing to pickle); scripted processing
  time is a :class:`ClockTick`.
* **script** (``Tuple3<Integer kind, Long time, byte[] payload>``, what fluvial's Java helpers
  read): kind :data:`ELEMENT` carries the pickled value at event time ``time``, kind
  :data:`WATERMARK` moves the watermark to ``time`` (turned into a Flink watermark by
  ``fluvial.flink.ScriptedWatermarkStrategy`` and then dropped), kind :data:`CLOCK` says that
  scripted processing time is now ``time``, kind :data:`BATCH` carries a pickled
  :class:`~fluvial.columnar.ColumnBatch` of elements at their own timestamps (a source's batch
  read at once). The kinds match ``ScriptRecords.java``.
* **keyed** (``Row(key, payload)``, both pickled, what a keyed operator reads; Flink partitions
  on the key): ``key`` is the element's key as bytes (:func:`key_bytes`: the key pickled by
  fluvial, so a keyed function gets the exact bytes Flink partitions on from
  ``ctx.get_current_key()`` and can name its key to a Java operator after it), ``payload`` a
  wire record of that key. A scripted clock advance becomes two rows: ``Row(None,
  KeyClock(t))``, which ``fluvial.flink.ClockFanOut`` replaces by one copy per key seen (the
  key's processing timers fire), then ``Row(key_bytes(CLOCK_KEY), ClockTick(t))``, which the
  keyed operator passes on downstream once, after every key has had its copy. Keys that are
  equal in Python but pickle differently (``1``, ``1.0``, ``True``) are different keys on
  Flink.

A Python operator reading a script stream decodes it into wire records.

>>> wv = from_wire(to_wire(WindowedValue("a", 5, GLOBAL_WINDOWS, NO_FIRING)))
>>> (wv.value, wv.timestamp, wv.windows == GLOBAL_WINDOWS, wv.pane is NO_FIRING)
('a', 5, True, True)
>>> to_wire(WindowedValue("a", 5, GLOBAL_WINDOWS, NO_FIRING))
('a', 5, None, None)
"""

from __future__ import annotations

import pickle
from typing import Any

from fluvial.pane import NO_FIRING
from fluvial.timeutil import MAX_TIMESTAMP_MS
from fluvial.values import GLOBAL_WINDOWS, WindowedValue

ELEMENT, WATERMARK, CLOCK, BATCH = 0, 1, 2, 3
JAVA_LONG_MAX = 2**63 - 1
JAVA_LONG_MIN = -(2**63)
NO_PAYLOAD = b""


class ClockTick:
    """Scripted processing time reached ``now_ms`` (absolute, so a tick that arrives twice,
    e.g. through a Flatten of two branches, changes nothing the second time)."""

    __slots__ = ("now_ms",)

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __reduce__(self):
        return (ClockTick, (self.now_ms,))

    def __eq__(self, other: object) -> bool:
        return type(other) is ClockTick and other.now_ms == self.now_ms  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(("ClockTick", self.now_ms))

    def __repr__(self) -> str:
        return f"ClockTick({self.now_ms})"


class KeyClock(ClockTick):
    """Scripted processing time reached ``now_ms`` for the key it travels with (a copy made by
    the clock fan-out in front of a keyed operator)."""

    __slots__ = ()

    def __reduce__(self):
        return (KeyClock, (self.now_ms,))

    def __eq__(self, other: object) -> bool:
        return type(other) is KeyClock and other.now_ms == self.now_ms  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(("KeyClock", self.now_ms))

    def __repr__(self) -> str:
        return f"KeyClock({self.now_ms})"


CLOCK_KEY = "\x00fluvial-clock"  # the key under which a keyed operator passes the clock on
KEY_PROTOCOL = 4


def key_bytes(key: Any) -> bytes:
    """The bytes a keyed operator partitions ``key`` by (and scopes its state to)."""
    return pickle.dumps(key, protocol=KEY_PROTOCOL)


CLOCK_KEY_BYTES = key_bytes(CLOCK_KEY)


def to_wire(wv: WindowedValue) -> tuple:
    ws = wv.windows
    pane = wv.pane
    return (
        wv.value,
        wv.timestamp,
        None if ws is GLOBAL_WINDOWS or ws == GLOBAL_WINDOWS else ws,
        None if pane is NO_FIRING or pane == NO_FIRING else pane,
    )


def from_wire(rec: tuple) -> WindowedValue:
    v, ts, ws, pane = rec
    return WindowedValue(v, ts, GLOBAL_WINDOWS if ws is None else ws,
                         NO_FIRING if pane is None else pane)


def flink_watermark(ms: int) -> int:
    """fluvial's end of time is Flink's ``Long.MAX_VALUE`` (the watermark that fires every
    timer)."""
    return JAVA_LONG_MAX if ms >= MAX_TIMESTAMP_MS else ms


def dumps(value: Any) -> bytes:
    """``value`` pickled; with cloudpickle when plain pickle cannot (lambdas, local classes)."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        import cloudpickle

        return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def script_element(value: Any, timestamp_ms: int) -> tuple:
    return (ELEMENT, timestamp_ms, dumps(value))


def script_batch(batch: Any) -> tuple:
    """A columnar batch of elements (a ColumnBatch), at the time of its latest element."""
    return (BATCH, int(batch.timestamps.max()), pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))


def script_watermark(ms: int) -> tuple:
    return (WATERMARK, flink_watermark(ms), NO_PAYLOAD)


def script_clock(now_ms: int) -> tuple:
    return (CLOCK, now_ms, NO_PAYLOAD)


def decode_script(rec: Any) -> Any:
    """A script record as a WindowedValue (global window, no firing), a ClockTick or a
    ColumnBatch; None for a watermark record (normally dropped on the Java side already)."""
    kind, t, payload = rec[0], rec[1], rec[2]
    if kind == ELEMENT:
        return WindowedValue(pickle.loads(payload), t, GLOBAL_WINDOWS, NO_FIRING)
    if kind == CLOCK:
        return ClockTick(t)
    if kind == BATCH:
        return pickle.loads(payload)
    return None
