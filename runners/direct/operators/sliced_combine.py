"""WindowInto(FixedWindows | SlidingWindows) fused with CombinePerKey(built-in combiner) under
the default trigger and no allowed lateness: the direct runner's vectorised path.

Every window is a run of ``size / period`` consecutive *slices* (period-long intervals); each
element is folded once into its slice's per-key accumulator — with NumPy for columnar batches —
and a window's result merges its slices when the watermark passes its end. Overlapping sliding
windows share slices, so an element costs one update instead of one per window.

Semantics are those of the general path (fluvial.window_driver) for this configuration: one
pane per key and window, ON_TIME, first and last, timestamped at the window's max timestamp;
elements whose windows have expired are dropped and counted per window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fluvial import metrics as m
from fluvial.columnar import ColumnBatch
from fluvial.pane import PaneInfo, PaneTiming
from fluvial.triggers import DefaultTrigger
from fluvial.values import WindowedValue
from fluvial.window import FixedWindows, IntervalWindow, SlidingWindows
from fluvial.windowing import TimestampCombiner, Windowing

from .base import Operator
from .errors import as_kv, unhashable_key

PANE = PaneInfo(True, True, PaneTiming.ON_TIME, 0, 0)
KINDS = ("sum", "count", "min", "max", "mean")


def can_slice(windowing: Windowing, combine_fn: Any) -> bool:
    fn = windowing.window_fn
    if not isinstance(fn, (FixedWindows, SlidingWindows)):
        return False
    if isinstance(fn, SlidingWindows) and fn.size_ms % fn.period_ms != 0:
        return False
    return (
        isinstance(windowing.trigger, DefaultTrigger)
        and windowing.allowed_lateness_ms == 0
        and windowing.timestamp_combiner is TimestampCombiner.OUTPUT_AT_EOW
        and getattr(combine_fn, "fast_kind", None) in KINDS
    )


def _int_sum_safe(values: np.ndarray) -> bool:
    """Whether an int64 sum of these values cannot overflow (else Python ints are used)."""
    if len(values) == 0:
        return True
    bound = max(abs(int(values.max())), abs(int(values.min())))
    return bound * len(values) < 2**62


def _merge_fn(kind: str):
    if kind in ("sum", "count"):
        return lambda a, b: a + b
    if kind == "min":
        return lambda a, b: a if a <= b else b
    if kind == "max":
        return lambda a, b: a if a >= b else b
    return lambda a, b: (a[0] + b[0], a[1] + b[1])


class SlicedCombineOperator(Operator):
    accepts_columns = True
    def __init__(self, label: str, window_label: str, windowing: Windowing, combine_fn: Any) -> None:
        super().__init__(label)
        self.window_label = window_label
        fn = windowing.window_fn
        if isinstance(fn, FixedWindows):
            self.period, self.size = fn.size_ms, fn.size_ms
        else:
            self.period, self.size = fn.period_ms, fn.size_ms
        self.offset = fn.offset_ms
        self.k = self.size // self.period
        self.kind = combine_fn.fast_kind
        self.combine_fn = combine_fn
        self.merge = _merge_fn(self.kind)
        self.slices: dict[int, dict[Any, Any]] = {}
        self.fired = None  # largest window index already fired

    def _expired_index(self, wm: int) -> int:
        """Largest window index j whose window has ended (end <= wm)."""
        return (wm - self.offset - self.size) // self.period

    # input ----------------------------------------------------------------------------------
    def process(self, idx: int, batch: Any) -> None:
        m.set_step(self.label)
        if isinstance(batch, ColumnBatch):
            self._columns(batch.keys, batch.values, batch.timestamps)
            return
        keys, values, stamps = [], [], []
        for wv in batch:
            kv = as_kv(self.label, wv.value, "CombinePerKey")
            keys.append(kv[0])
            values.append(kv[1])
            stamps.append(wv.timestamp)
        if not keys:
            return
        vals = np.asarray(values) if self.kind != "count" else None
        if vals is not None and vals.dtype.kind == "f" and not all(type(v) is float for v in values):
            # mixed ints and floats: Python arithmetic keeps each value's type, as the general path
            self._python(keys, values, stamps)
            return
        if vals is not None and (vals.dtype.kind not in "iuf" or vals.ndim != 1):
            self._python(keys, values, stamps)
            return
        karr = np.asarray(keys)
        if karr.dtype.kind not in "iu" or karr.ndim != 1:
            self._python(keys, values, stamps)
            return
        self._columns(karr, vals if vals is not None else np.ones(len(keys), dtype=np.int64), np.asarray(stamps, dtype=np.int64))

    def _drop_expired(self, s: np.ndarray) -> np.ndarray | None:
        """Count drops for windows already expired; return a mask of elements still live."""
        jexp = self._expired_index(self.watermark)
        first = s - (self.k - 1)
        n_expired = np.clip(jexp - first + 1, 0, self.k)
        total = int(n_expired.sum())
        if total:
            self.count("dropped_due_to_lateness", total)
            return s > jexp
        return None

    def _columns(self, keys: np.ndarray, values: np.ndarray, ts: np.ndarray) -> None:
        if len(keys) == 0:
            return
        if values.dtype.kind in "iu" and self.kind in ("sum", "mean") and not _int_sum_safe(values):
            self._python(keys.tolist(), values.tolist(), ts.tolist())
            return
        s = (ts - self.offset) // self.period
        live = self._drop_expired(s)
        if live is not None:
            keys, values, s = keys[live], values[live], s[live]
            if len(keys) == 0:
                return
        order = np.lexsort((keys, s))
        ss, kk, vv = s[order], keys[order], values[order]
        change = np.flatnonzero((ss[1:] != ss[:-1]) | (kk[1:] != kk[:-1])) + 1
        starts = np.concatenate((np.zeros(1, dtype=np.int64), change))
        kind = self.kind
        counts = np.diff(np.append(starts, len(vv)))
        if kind == "sum":
            parts = np.add.reduceat(vv, starts).tolist()
        elif kind == "count":
            parts = counts.tolist()
        elif kind == "min":
            parts = np.minimum.reduceat(vv, starts).tolist()
        elif kind == "max":
            parts = np.maximum.reduceat(vv, starts).tolist()
        else:
            parts = list(zip(np.add.reduceat(vv, starts).tolist(), counts.tolist()))
        slices, merge = self.slices, self.merge
        cur_s, slot = None, None
        for sl, key, p in zip(ss[starts].tolist(), kk[starts].tolist(), parts):
            if sl != cur_s:
                cur_s = sl
                slot = slices.get(sl)
                if slot is None:
                    slot = slices[sl] = {}
            old = slot.get(key)
            slot[key] = p if old is None else merge(old, p)

    def _python(self, keys: list, values: list, stamps: list) -> None:
        off, period, k = self.offset, self.period, self.k
        jexp = self._expired_index(self.watermark)
        slices, merge, kind = self.slices, self.merge, self.kind
        dropped = 0
        for key, v, t in zip(keys, values, stamps):
            sl = (t - off) // period
            if sl - k + 1 <= jexp:
                n = min(jexp - (sl - k + 1) + 1, k)
                dropped += n
                if sl <= jexp:
                    continue
            slot = slices.get(sl)
            if slot is None:
                slot = slices[sl] = {}
            try:
                old = slot.get(key)
            except TypeError:
                raise unhashable_key(self.label, (key, v)) from None
            p = 1 if kind == "count" else ((v, 1) if kind == "mean" else v)
            slot[key] = p if old is None else merge(old, p)
        if dropped:
            self.count("dropped_due_to_lateness", dropped)

    # output ---------------------------------------------------------------------------------
    def on_watermark(self, wm: int) -> None:
        jexp = self._expired_index(wm)
        if self.fired is not None and jexp <= self.fired:
            return
        lo = self.fired
        k = self.k
        cand: set[int] = set()
        for sl in self.slices:
            for j in range(sl - k + 1, sl + 1):
                if j <= jexp and (lo is None or j > lo):
                    cand.add(j)
        out: list[WindowedValue] = []
        merge, kind = self.merge, self.kind
        slices = self.slices
        for j in sorted(cand):
            acc: dict[Any, Any] = {}
            for sl in range(j, j + k):
                slot = slices.get(sl)
                if not slot:
                    continue
                if not acc:
                    acc = dict(slot)
                    continue
                for key, p in slot.items():
                    old = acc.get(key)
                    acc[key] = p if old is None else merge(old, p)
            if not acc:
                continue
            start = j * self.period + self.offset
            window = (IntervalWindow(start, start + self.size),)
            ts = start + self.size - 1
            if kind == "mean":
                out.extend(WindowedValue((key, a[0] / a[1]), ts, window, PANE) for key, a in acc.items())
            else:
                out.extend(WindowedValue(kv, ts, window, PANE) for kv in acc.items())
            if len(out) >= 8192:
                self.emit(out)
                out = []
        for sl in [sl for sl in slices if sl <= jexp]:
            del slices[sl]
        self.fired = jexp
        self.emit(out)

    def snapshot(self) -> Any:
        st = super().snapshot()
        st.update(slices=self.slices, fired=self.fired)
        return st

    def restore(self, st: Any) -> None:
        super().restore(st)
        self.slices = st["slices"]
        self.fired = st["fired"]
