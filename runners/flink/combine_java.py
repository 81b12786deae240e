"""The Java combine path: ``WindowInto(FixedWindows | SlidingWindows)`` followed by
``CombinePerKey`` of a built-in combiner (sum, count, min, max, mean) under the default
trigger, with no allowed lateness and end-of-window timestamps, runs as a Java keyed function
(``fluvial.flink.WindowCombine``) instead of the window driver in Python. The result is the
same (the conformance suite and tests/flink/test_java_combine.py compare both paths); only the
work moves into the JVM:

* the Python operator in front encodes each element as ``(key index, timestamp, tag, bits)``
  in a batch with the batch's distinct pickled keys (:class:`Feeder`; a columnar batch from a
  source is encoded with NumPy, no per-element Python);
* Java explodes the batch, partitions by the pickled key, assigns the windows, folds values
  with Python's arithmetic (``PyNumber.java``: exact ints, int/float promotion, exact mixed
  comparisons, correctly rounded int division), fires each window once when the watermark
  passes its end, and counts expired elements per window as ``dropped_due_to_lateness``;
* results leave the JVM in batches (``ResultBatcher.java``: one byte array per watermark, per
  4096 results or per clock advance) that the next Python operator decodes
  (:func:`decode_results`) into ``((key, value), window max timestamp, (window,), pane)`` with
  the pane the window driver gives such a window (:meth:`WindowDriver.end_of_window_pane`).

Values: ``int`` (64-bit), ``float`` and ``bool``; count takes anything. The path is taken only
under the error policy "fail"; there an element that is not keyed fails the run as on the
window driver, and so does a value Python's ``acc + value`` rejects in a sum or mean (the
same UserCodeError); any other value the JVM cannot take (a Decimal, a str for min or max, an
int beyond 64 bits) fails the run with an error naming the transform and
``--flink-java-combine off``, which runs the grouping through the window driver in Python.

>>> from fluvial.combiners import SumCombineFn
>>> from fluvial.window import FixedWindows
>>> from fluvial.windowing import Windowing
>>> java_kind(Windowing(FixedWindows(60)), SumCombineFn())
'sum'
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

import numpy as np

from fluvial.combiners import (
    CountCombineFn,
    MaxCombineFn,
    MeanCombineFn,
    MinCombineFn,
    SumCombineFn,
)
from fluvial.errors import FluvialError, UserCodeError
from fluvial.runners.common.keys import checked_kv
from fluvial.values import WindowedValue
from fluvial.window import FixedWindows, IntervalWindow, SlidingWindows
from fluvial.window_driver import WindowDriver
from fluvial.windowing import Windowing

from .records import ClockTick

BUILT_INS = {SumCombineFn: "sum", CountCombineFn: "count", MinCombineFn: "min",
             MaxCombineFn: "max", MeanCombineFn: "mean"}
INT, BIG, FLOAT, BOOL = 1, 2, 3, 4  # PyNumber.java's tags
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
_ELEMENT = np.dtype([("k", ">i4"), ("t", ">i8"), ("g", "i1"), ("v", ">i8")])


def java_kind(windowing: Windowing, combine_fn: Any) -> str | None:
    """The combiner's kind when the grouping can run on the Java path, else None."""
    fn = windowing.window_fn
    if type(fn) not in (FixedWindows, SlidingWindows):
        return None
    if not windowing.one_pane_per_window:
        return None
    return BUILT_INS.get(type(combine_fn))


def window_params(windowing: Windowing) -> tuple[int, int, int]:
    """(size, period, offset) in ms of the grouping's fixed or sliding windows."""
    fn = windowing.window_fn
    period = fn.period_ms if isinstance(fn, SlidingWindows) else fn.size_ms
    return fn.size_ms, period, fn.offset_ms


class Feeder:
    """Encodes what the Python operator in front of the Java path emits (format in
    ``CombineInput.java``). ``label`` and ``kind`` name the CombinePerKey for errors."""

    def __init__(self, label: str, kind: str) -> None:
        self.label = label
        self.kind = kind
        self._keys: dict[Any, bytes] = {}

    def _key_bytes(self, key: Any) -> bytes:
        b = self._keys.get(key)
        if b is None:
            checked_kv(self.label, (key, None), "CombinePerKey")
            b = pickle.dumps(key, protocol=4)
            if len(self._keys) < 100_000:
                self._keys[key] = b
        return b

    def _value(self, v: Any, kv: Any = None) -> tuple[int, int]:
        t = type(v)
        if self.kind == "count":
            return INT, 0
        if t is int and LONG_MIN <= v <= LONG_MAX:
            return INT, v
        if t is float:
            return FLOAT, struct.unpack(">q", struct.pack(">d", v))[0]
        if t is bool:
            return BOOL, int(v)
        if self.kind in ("sum", "mean"):
            try:
                _ = 0 + v  # what the CombineFn's add_input does first
            except Exception as e:  # the window driver fails the same way under "fail"
                raise UserCodeError(self.label, kv, e) from e
        raise FluvialError(
            f"transform '{self.label}': the Flink runner combines {self.kind} in Java, which takes "
            f"int (64-bit), float and bool values; got {v!r} ({type(v).__name__}). Convert the "
            "values first, or pass --flink-java-combine off to combine in Python")

    @staticmethod
    def _header(keys: list[bytes]) -> bytes:
        parts = [struct.pack(">i", len(keys))]
        for k in keys:
            parts.append(struct.pack(">i", len(k)))
            parts.append(k)
        return b"".join(parts)

    def encode(self, wvs: list[WindowedValue]) -> bytes:
        """A batch of (key, value) elements."""
        index: dict[bytes, int] = {}
        rows = np.empty(len(wvs), dtype=_ELEMENT)
        for i, wv in enumerate(wvs):
            kv = checked_kv(self.label, wv.value, "CombinePerKey")
            kb = self._key_bytes(kv[0])
            ki = index.get(kb)
            if ki is None:
                ki = index[kb] = len(index)
            tag, bits = self._value(kv[1], kv)
            rows[i] = (ki, wv.timestamp, tag, bits)
        return self._header(list(index)) + struct.pack(">i", len(wvs)) + rows.tobytes()

    def encode_columns(self, keys: np.ndarray, values: np.ndarray, timestamps: np.ndarray) -> bytes:
        """A columnar batch (a source's ColumnBatch), without per-element Python where the
        columns are numbers."""
        n = len(keys)
        rows = np.empty(n, dtype=_ELEMENT)
        try:
            uniq, inverse = np.unique(keys, return_inverse=True)
            kbytes = [self._key_bytes(k) for k in uniq.tolist()]
            rows["k"] = inverse
        except TypeError:  # keys numpy cannot sort (mixed objects): index them one by one
            index: dict[bytes, int] = {}
            ks = rows["k"]
            for i, k in enumerate(keys.tolist()):
                kb = self._key_bytes(k)
                ks[i] = index.setdefault(kb, len(index))
            kbytes = list(index)
        rows["t"] = timestamps
        if self.kind == "count":
            rows["g"] = INT
            rows["v"] = 0
        elif values.dtype == np.bool_:
            rows["g"] = BOOL
            rows["v"] = values
        elif values.dtype.kind in "iu" and (values.dtype.kind == "i" or values.dtype.itemsize < 8
                                            or n == 0 or int(values.max()) <= LONG_MAX):
            rows["g"] = INT
            rows["v"] = values
        elif values.dtype.kind == "f":
            rows["g"] = FLOAT
            rows["v"] = values.astype(np.float64).view(np.int64)
        else:  # objects or other dtypes: as Python values, one by one
            tags, bits = rows["g"], rows["v"]
            for i, v in enumerate(values.tolist()):
                tags[i], bits[i] = self._value(v)
        return self._header(kbytes) + struct.pack(">i", n) + rows.tobytes()

    @staticmethod
    def encode_tick(now_ms: int) -> bytes:
        return struct.pack(">iq", -1, now_ms)


class ResultDecoder:
    """Turns the Java path's result batches back into wire records and clock ticks, with the
    pane and timestamp the window driver gives each window (default trigger, no lateness)."""

    def __init__(self, windowing: Windowing, combine_fn: Any) -> None:
        self.driver = WindowDriver(windowing, combine_fn)
        self._keys: dict[bytes, Any] = {}
        self._panes: dict[tuple[int, int], tuple] = {}

    def _window(self, start: int, end: int) -> tuple:
        got = self._panes.get((start, end))
        if got is None:
            w = IntervalWindow(start, end)
            pane, ts = self.driver.end_of_window_pane(w)
            got = (w, pane, ts)
            if len(self._panes) > 4096:
                self._panes.clear()
            self._panes[(start, end)] = got
        return got

    def decode(self, data: bytes) -> tuple[list, int]:
        """``(items, dropped)``: wire records and ClockTicks in order, and how many elements
        the batch reports dropped as late."""
        n, dropped = struct.unpack_from(">iq", data, 0)
        pos = 12
        out: list = []
        keys = self._keys
        unpack = struct.unpack_from
        for _ in range(n):
            what = data[pos]
            pos += 1
            if what == 1:
                out.append(ClockTick(unpack(">q", data, pos)[0]))
                pos += 8
                continue
            (klen,) = unpack(">i", data, pos)
            pos += 4
            kb = data[pos:pos + klen]
            pos += klen
            key = keys.get(kb)
            if key is None:
                key = pickle.loads(kb)
                if len(keys) < 100_000:
                    keys[kb] = key
            start, end, tag = unpack(">qqb", data, pos)
            pos += 17
            if tag == FLOAT:
                (value,) = unpack(">d", data, pos)
                pos += 8
            elif tag == BIG:
                (blen,) = unpack(">i", data, pos)
                value = int(data[pos + 4:pos + 4 + blen].decode("ascii"))
                pos += 4 + blen
            else:
                (value,) = unpack(">q", data, pos)
                pos += 8
                if tag == BOOL:
                    value = bool(value)
            w, pane, ts = self._window(start, end)
            out.append(((key, value), ts, (w,), pane))
        return out, dropped
