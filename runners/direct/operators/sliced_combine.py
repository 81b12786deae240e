"""WindowInto(FixedWindows | SlidingWindows) fused with CombinePerKey (any CombineFn) or
GroupByKey under the default trigger, no allowed lateness and OUTPUT_AT_EOW: the direct runner's
sliced path.

The model decides everything here; this operator only changes how the work is done:

* the windows are runs of slices, as the WindowFn describes them
  (:meth:`fluvial.window.WindowFn.slicing`); each element is folded once into its slice's
  per-key accumulator (GroupByKey: appended to its slice's per-key list), slices keyed by their
  integer index, and overlapping sliding windows share slices — for sliding windows the
  CombineFn must merge accumulators (``merge_accumulators`` overridden);
* a window's result merges its slices' accumulators with the CombineFn's
  ``merge_accumulators`` (into a fresh accumulator, so a slice shared by the next window is
  never changed) and ``extract_output``; GroupByKey's pane is the slices' lists, in arrival
  order per slice; built-in combiners (``fast_kind``) on numeric columns are folded with NumPy
  kernels: a batch leaves per slice one chunk of partial aggregates (sorted integer keys and
  NumPy columns), and a window's result reduces its slices' chunks per key, extracting what the
  CombineFn's own accumulators would give (sum/count a number, mean ``(sum, count)``, min/max
  the value); integer sums that could leave int64 are reduced as Python ints; the first batch
  that needs the CombineFn's Python methods turns every chunk into per-key accumulators and the
  operator keeps those from then on;
* which windows have expired is :func:`fluvial.window.is_expired` (through
  :meth:`Slicing.last_expired`); each window's pane info and timestamp come from the window
  driver (:meth:`fluvial.window_driver.WindowDriver.end_of_window_pane`);
* elements whose windows have expired are dropped and counted per window, as the driver does;
* the error policy applies as on the general path (:mod:`.group`): only batches of plain int or
  float values (and integer keys) take the NumPy kernels, whose arithmetic cannot fail on them;
  any other batch goes element by element through the CombineFn, where an element that is not a
  (key, value) pair, has an unhashable key or cannot be added (a str reaching Sum) goes to the
  policy alone, with the element as payload; a failing merge or extract when a window fires
  drops that key's result and goes to the policy with ``{"key", "window", "error_in"}``.

Property tests prove it equal to the general path (the window driver) with out-of-order data,
watermark steps, late data and checkpoints (tests/property/test_sliced_path.py).
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

import numpy as np

from fluvial import metrics as m
from fluvial.columnar import ColumnBatch
from fluvial.combine import CombineFn
from fluvial.errors import NotKeyedError, bounded_repr
from fluvial.values import WindowedValue
from fluvial.window_driver import WindowDriver
from fluvial.windowing import Windowing

from ..rows import as_rows
from .base import Operator
from .errors import as_kv, unhashable_key
from .on_error import ErrorHandler

KINDS = ("sum", "count", "min", "max", "mean")
_MISSING = object()


def can_merge(combine_fn: Any) -> bool:
    """Whether the CombineFn merges accumulators (it overrides ``merge_accumulators``)."""
    return type(combine_fn).merge_accumulators is not CombineFn.merge_accumulators


def can_slice(windowing: Windowing, combine_fn: Any) -> bool:
    """Whether WindowInto(``windowing``) + CombinePerKey(``combine_fn``) (None: GroupByKey)
    may run here."""
    sl = windowing.window_fn.slicing()
    return (
        sl is not None
        and windowing.one_pane_per_window
        and (combine_fn is None or sl.per_window == 1 or can_merge(combine_fn))
    )


def _int_sum_safe(values: np.ndarray) -> bool:
    """Whether an int64 sum of these values cannot overflow (else Python ints are used)."""
    if len(values) == 0:
        return True
    bound = max(abs(int(values.max())), abs(int(values.min())))
    return bound * len(values) < 2**62


def _partials(kind: str, vv: np.ndarray, starts: np.ndarray) -> tuple:
    """Partial aggregates, as columns, of the runs of ``vv`` beginning at ``starts``: (sums,),
    (counts,), (mins,), (maxes,) or (sums, counts) for mean."""
    if kind == "count" or kind == "mean":
        counts = np.diff(np.append(starts, len(vv)))
        if kind == "count":
            return (counts,)
        return (np.add.reduceat(vv, starts), counts)
    if kind == "sum":
        return (np.add.reduceat(vv, starts),)
    if kind == "min":
        return (np.minimum.reduceat(vv, starts),)
    return (np.maximum.reduceat(vv, starts),)


_REDUCE = {"sum": (np.add,), "count": (np.add,), "min": (np.minimum,), "max": (np.maximum,),
           "mean": (np.add, np.add)}


def _accumulators(kind: str, parts: tuple) -> list:
    """The CombineFn's own accumulators (Python values) from partial-aggregate columns."""
    if kind == "mean":
        return list(zip(parts[0].tolist(), parts[1].tolist()))
    return parts[0].tolist()


class SlicedCombineOperator(Operator):
    """``combine_fn`` None: GroupByKey."""

    accepts_columns = True
    accepts_rows = True

    def __init__(self, label: str, window_label: str, windowing: Windowing, combine_fn: Any,
                 errors: ErrorHandler | None = None) -> None:
        super().__init__(label)
        self.window_label = window_label
        self.slicing = windowing.window_fn.slicing()
        self.lateness = windowing.allowed_lateness_ms
        self.k = self.slicing.per_window
        self.kind = getattr(combine_fn, "fast_kind", None) if combine_fn is not None else None
        if self.kind not in KINDS:
            self.kind = None
        self.what = "GroupByKey" if combine_fn is None else "CombinePerKey"
        self.errors = errors if errors is not None else ErrorHandler(label)
        if combine_fn is not None and self.errors.guarded:
            combine_fn = combine_fn.isolating()  # a failing add leaves the accumulator as it was
        self.combine_fn = combine_fn
        self.driver = WindowDriver(windowing, combine_fn)
        self.slices: dict[int, dict[Any, Any]] = {}
        # slice -> chunks (keys, partial-aggregate columns, bound of |sum|) from NumPy batches,
        # while ``columnar``; a batch through the CombineFn's methods turns them into ``slices``
        self.chunks: dict[int, list[tuple[np.ndarray, tuple, int]]] = {}
        self.columnar = self.kind is not None
        self.fired: int | None = None  # largest window index already fired

    def open(self, metrics: Any) -> None:
        super().open(metrics)
        self.errors.metrics = metrics

    # input ----------------------------------------------------------------------------------
    def process(self, idx: int, batch: Any) -> None:
        m.set_step(self.label)
        if isinstance(batch, ColumnBatch):
            if self.kind is not None:
                self._columns(batch.keys, batch.values, batch.timestamps)
                return
        rows = as_rows(batch)
        if not rows:
            return
        if self.kind is None:
            self._fold(rows.values, rows.stamps)
            return
        keys, values, stamps = [], [], []
        label, what, handle = self.label, self.what, self.errors.handle
        for kv, t in zip(rows.values, rows.stamps):
            if type(kv) is not tuple or len(kv) != 2:
                try:
                    kv = as_kv(label, kv, what)
                except NotKeyedError as e:
                    handle(e, kv, t)
                    continue
            keys.append(kv[0])
            values.append(kv[1])
            stamps.append(t)
        if not keys:
            return
        try:
            vals = np.asarray(values) if self.kind != "count" else None
            karr = np.asarray(keys)
        except (ValueError, TypeError, OverflowError):  # ragged or odd values: per element
            self._python(keys, values, stamps)
            return
        if vals is not None and vals.dtype.kind == "f" and not all(type(v) is float for v in values):
            # mixed ints and floats: Python arithmetic keeps each value's type, as the general path
            self._python(keys, values, stamps)
            return
        if vals is not None and (vals.dtype.kind not in "iuf" or vals.ndim != 1):
            self._python(keys, values, stamps)
            return
        if karr.dtype.kind not in "iu" or karr.ndim != 1:
            self._python(keys, values, stamps)
            return
        ones = np.ones(len(keys), dtype=np.int64)
        self._columns(karr, vals if vals is not None else ones, np.asarray(stamps, dtype=np.int64))

    def _last_expired(self) -> int:
        return self.slicing.last_expired(self.watermark, self.lateness)

    def _drop_expired(self, s: np.ndarray) -> np.ndarray | None:
        """Count drops for windows already expired; return a mask of elements still live."""
        jexp = self._last_expired()
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
        bound = 0
        if values.dtype.kind in "iu" and self.kind in ("sum", "mean"):
            if not _int_sum_safe(values):
                self._python(keys.tolist(), values.tolist(), ts.tolist())
                return
            bound = max(abs(int(values.max())), abs(int(values.min()))) * len(values)
        sl = self.slicing
        s = (ts - sl.offset_ms) // sl.period_ms  # Slicing.slice_of, on a column
        live = self._drop_expired(s)
        if live is not None:
            keys, values, s = keys[live], values[live], s[live]
            if len(keys) == 0:
                return
        order = np.lexsort((keys, s))
        ss, kk, vv = s[order], keys[order], values[order]
        change = np.flatnonzero((ss[1:] != ss[:-1]) | (kk[1:] != kk[:-1])) + 1
        starts = np.concatenate((np.zeros(1, dtype=np.int64), change))
        parts = _partials(self.kind, vv, starts)
        ss, kk = ss[starts], kk[starts]
        if self.columnar:  # one chunk per slice of the batch, keys sorted within it
            cut = np.flatnonzero(ss[1:] != ss[:-1]) + 1
            for a, b in zip([0, *cut.tolist()], [*cut.tolist(), len(ss)]):
                chunk = (kk[a:b], tuple(p[a:b] for p in parts), bound)
                self.chunks.setdefault(int(ss[a]), []).append(chunk)
            return
        slices, merge = self.slices, self.combine_fn.merge_accumulators
        cur_s, slot = None, None
        for si, key, p in zip(ss.tolist(), kk.tolist(), _accumulators(self.kind, parts)):
            if si != cur_s:
                cur_s = si
                slot = slices.get(si)
                if slot is None:
                    slot = slices[si] = {}
            old = slot.get(key)
            slot[key] = p if old is None else merge((old, p))

    def _to_slices(self) -> None:
        """From now on per-key accumulators: every chunk into ``slices``."""
        self.columnar = False
        slices, merge = self.slices, self.combine_fn.merge_accumulators
        for si, chunks in self.chunks.items():
            slot = slices.setdefault(si, {})
            for kk, parts, _ in chunks:
                for key, p in zip(kk.tolist(), _accumulators(self.kind, parts)):
                    old = slot.get(key)
                    slot[key] = p if old is None else merge((old, p))
        self.chunks = {}

    def _python(self, keys: list, values: list, stamps: list) -> None:
        if self.columnar:
            self._to_slices()
        self._fold(list(zip(keys, values)), stamps)

    def _fold(self, values: list, stamps: list) -> None:
        """Fold (key, value) elements into their slices, one at a time; count and skip the
        windows that have expired. Each failure goes to the error policy alone (the slice's
        accumulator stays as it was: the CombineFn is isolating under "dead_letter" and
        "skip")."""
        sl, k = self.slicing, self.k
        off, period = sl.offset_ms, sl.period_ms
        jexp = self._last_expired()
        safe = jexp + k  # slices from here on have no expired window
        slices, label, what = self.slices, self.label, self.what
        handle = self.errors.handle
        fn = self.combine_fn
        gbk = fn is None
        add = create = None
        if not gbk:
            add, create = fn.add_input, fn.create_accumulator
        dropped = 0
        cur, slot = None, None
        for kv, t in zip(values, stamps):
            if type(kv) is not tuple or len(kv) != 2:
                try:
                    kv = as_kv(label, kv, what)
                except NotKeyedError as e:
                    handle(e, kv, t)
                    continue
            si = (t - off) // period
            expired = 0
            if si < safe:  # some windows expired: counted once the key is known to be good
                try:
                    hash(kv[0])
                except TypeError:
                    handle(unhashable_key(label, kv), kv, t)
                    continue
                expired = min(jexp - si + k, k)
                dropped += expired
                if si <= jexp:
                    continue
            if si != cur:
                slot = slices.get(si)
                if slot is None:
                    slot = slices[si] = {}
                cur = si
            key = kv[0]
            try:
                acc = slot.get(key, _MISSING)
            except TypeError:
                handle(unhashable_key(label, kv), kv, t)
                continue
            if gbk:
                if acc is _MISSING:
                    slot[key] = [kv[1]]
                else:
                    acc.append(kv[1])
                continue
            try:
                slot[key] = add(create() if acc is _MISSING else acc, kv[1])
            except Exception as e:  # noqa: BLE001 - the CombineFn's; routed by the policy
                for _ in range(k - expired):  # as the window driver: once per window it is in
                    handle(e, kv, t)
        if dropped:
            self.count("dropped_due_to_lateness", dropped)
        for si in [si for si, slot in slices.items() if not slot]:
            del slices[si]  # slices whose every element failed

    # output ---------------------------------------------------------------------------------
    def on_watermark(self, wm: int) -> None:
        jexp = self._last_expired()
        if self.fired is not None and jexp <= self.fired:
            return
        lo = self.fired
        sl, slices, chunks = self.slicing, self.slices, self.chunks
        cand: set[int] = set()
        for si in (*slices, *chunks):
            for j in sl.windows_of_slice(si):
                if j <= jexp and (lo is None or j > lo):
                    cand.add(j)
        out: list[WindowedValue] = []
        result = self._result
        for j in sorted(cand):
            window = sl.window(j)
            pane, ts = self.driver.end_of_window_pane(window)
            windows = (window,)
            if chunks:
                out.extend(self._reduce_chunks(j, windows, ts, pane))
            parts: dict[Any, list] = {}
            for si in range(j, j + self.k):
                slot = slices.get(si)
                if slot:
                    for key, acc in slot.items():
                        lst = parts.get(key)
                        if lst is None:
                            parts[key] = [acc]
                        else:
                            lst.append(acc)
            for key, accs in parts.items():
                value = result(key, accs, window, ts, pane)
                if value is not _MISSING:
                    out.append(WindowedValue((key, value), ts, windows, pane))
            if len(out) >= 8192:
                self.emit(out)
                out = []
        for si in [si for si in slices if si <= jexp]:
            del slices[si]
        for si in [si for si in chunks if si <= jexp]:
            del chunks[si]
        self.fired = jexp
        self.emit(out)

    def _reduce_chunks(self, j: int, windows: tuple, ts: int, pane: Any) -> list:
        """Window ``j``'s results from its slices' chunks: per key, the chunks' partials
        reduced (as Python ints when an integer sum could leave int64), then extracted."""
        got = [c for si in range(j, j + self.k) for c in self.chunks.get(si, ())]
        if not got:
            return []
        kk = np.concatenate([c[0] for c in got])
        cols = [np.concatenate([c[1][i] for c in got]) for i in range(len(got[0][1]))]
        if sum(c[2] for c in got) >= 2**62:
            cols = [col.astype(object) for col in cols]
        order = np.argsort(kk, kind="stable")
        kk = kk[order]
        starts = np.concatenate((np.zeros(1, dtype=np.int64), np.flatnonzero(kk[1:] != kk[:-1]) + 1))
        reduced = tuple(op.reduceat(col[order], starts) for op, col in zip(_REDUCE[self.kind], cols))
        keys = kk[starts].tolist()
        if self.kind == "mean":
            extract = self.combine_fn.extract_output
            values = [extract(acc) for acc in zip(reduced[0].tolist(), reduced[1].tolist())]
        else:
            values = reduced[0].tolist()
        return list(map(WindowedValue, zip(keys, values), repeat(ts), repeat(windows),
                        repeat(pane)))

    def _result(self, key: Any, accs: list, window: Any, ts: int, pane: Any) -> Any:
        """A window's pane from its slices' contents for ``key``; a CombineFn failure goes to
        the error policy and drops this result (``_MISSING``)."""
        fn = self.combine_fn
        if fn is None:
            return accs[0] if self.k == 1 else [v for lst in accs for v in lst]
        method = "merge_accumulators"
        try:
            if len(accs) == 1:
                acc = accs[0]
            elif self.kind is not None:  # built-in accumulators are numbers and tuples
                acc = fn.merge_accumulators(accs)
            else:  # merge into a fresh accumulator: the slices are shared with other windows
                acc = fn.merge_accumulators([fn.create_accumulator(), *accs])
            method = "extract_output"
            return fn.extract_output(acc)
        except Exception as e:  # noqa: BLE001 - the CombineFn's; this result is dropped
            self._pane_failed(e, key, window, ts, pane, method)
            return _MISSING

    def _pane_failed(self, e: Exception, key: Any, window: Any, ts: int, pane: Any,
                     method: str) -> None:
        payload = {"key": key, "window": repr(window), "error_in": method}
        self.errors.handle(e, payload, ts, where=(
            f"in {method} of key {bounded_repr(key)}, window {window!r}, when its "
            f"{pane.timing.value} pane fired"))

    def snapshot(self) -> Any:
        st = super().snapshot()
        st.update(slices=self.slices, chunks=self.chunks, columnar=self.columnar,
                  fired=self.fired)
        return st

    def restore(self, st: Any) -> None:
        super().restore(st)
        self.slices = st["slices"]
        self.chunks = st.get("chunks", {})
        self.columnar = st.get("columnar", False)
        self.fired = st["fired"]
