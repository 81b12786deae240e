"""GroupByKey and CombinePerKey on the direct runner: fluvial's window driver over in-memory
keyed state (the general path for every window fn, trigger and accumulation mode).

A batch is regrouped by key and window (arrival order kept within each) and each run goes to
the driver at once (:meth:`fluvial.window_driver.WindowDriver.process_elements`: the same panes
as one element at a time, the watermarks and processing time standing still during a batch).
Merging window fns (Sessions) go one element at a time, and so does every element when
``batched`` is off (``--direct-fast-paths off``). Fused with the WindowInto before it
(``windows`` set: FixedWindows or SlidingWindows), the operator assigns windows itself by
integer arithmetic on the timestamps, one window object per window index.

Error policy (the transform's ``on_error``, else ``--on-error``; :mod:`.on_error`): an element
that is not a (key, value) pair or whose key is not hashable, and an element the CombineFn
cannot add (reported per window by the driver, in a run too), go to the policy with the element
as payload; a CombineFn failing when a pane fires goes to it with ``{"key", "window",
"error_in"}`` (the driver drops that pane and moves on). Under "dead_letter" and "skip" the
driver folds with ``combine_fn.isolating()``, so a failing element leaves the accumulator as it
was.
"""

from __future__ import annotations

from typing import Any

from fluvial import metrics as m
from fluvial.errors import FluvialError, NotKeyedError, UserCodeError, bounded_repr
from fluvial.pane import NO_FIRING
from fluvial.values import WindowedValue
from fluvial.window import Slicing
from fluvial.window_driver import WindowDriver
from fluvial.windowing import Windowing

from ..keyed_store import KeyedWindowStore
from ..rows import as_rows
from .base import Operator
from .errors import as_kv, unhashable_key, user_error
from .on_error import ErrorHandler


class _Sink:
    """Collects what the driver emits; :meth:`for_key` tells it the key of the next calls."""

    __slots__ = ("op", "key", "out", "late_out")

    def __init__(self, op: GroupOperator) -> None:
        self.op = op
        self.key: Any = None
        self.out: list[WindowedValue] = []
        self.late_out: list[WindowedValue] = []

    def for_key(self, key: Any) -> _Sink:
        self.key = key
        return self

    def emit(self, window: Any, value: Any, timestamp_ms: int, pane: Any) -> None:
        self.out.append(WindowedValue((self.key, value), timestamp_ms, (window,), pane))
        if len(self.out) > 4096:
            self.op._flush()

    def late(self, value: Any, timestamp_ms: int, window: Any) -> None:
        if self.op.late_output:
            self.late_out.append(WindowedValue((self.key, value), timestamp_ms, (window,), NO_FIRING))

    def dropped(self, reason: str, count: int) -> None:
        self.op.count(reason, count)

    def element_failed(self, value: Any, timestamp_ms: int, window: Any, error: Any) -> None:
        """The CombineFn could not add ``value`` (in ``window``): the element, whole, goes to
        the policy."""
        self.op.errors.handle(error.cause, (self.key, value), timestamp_ms)

    def pane_failed(self, window: Any, timestamp_ms: int, pane: Any, error: Any) -> None:
        """The CombineFn failed when a pane of ``window`` fired (the pane is dropped)."""
        key, method = self.key, error.method
        payload = {"key": key, "window": repr(window), "error_in": method}
        self.op.errors.handle(
            error.cause, payload, timestamp_ms,
            where=f"in {method} of key {bounded_repr(key)}, window {window!r}, when its "
                  f"{pane.timing.value} pane fired")


class GroupOperator(Operator):
    """``windows``: the Slicing of a fused WindowInto's fixed or sliding windows (None: the
    elements' own windows)."""

    accepts_rows = True

    def __init__(self, label: str, windowing: Windowing, combine_fn: Any = None,
                 late_output: bool = False, what: str = "GroupByKey",
                 errors: ErrorHandler | None = None, windows: Slicing | None = None) -> None:
        super().__init__(label)
        self.errors = errors if errors is not None else ErrorHandler(label)
        if combine_fn is not None and self.errors.guarded:
            combine_fn = combine_fn.isolating()  # a failing add leaves the accumulator as it was
        self.driver = WindowDriver(windowing, combine_fn)
        self.store = KeyedWindowStore()
        self.sink = _Sink(self)
        self.late_output = late_output
        self.what = what
        self.slicing = windows
        self.window_cache: dict[int, Any] = {}
        self.batched = not self.driver.merging

    def open(self, metrics: Any) -> None:
        super().open(metrics)
        self.errors.metrics = metrics

    def _flush(self) -> None:
        s = self.sink
        if s.out:
            out, s.out = s.out, []
            self.emit(out)
        if s.late_out:
            late, s.late_out = s.late_out, []
            self.emit(late, "late")

    def _times(self) -> KeyedWindowStore:
        store = self.store
        store.watermark = self.watermark
        store.output_watermark = self.out_wm
        store.processing_time = self.processing_time
        return store

    def process(self, idx: int, batch: Any) -> None:
        m.set_step(self.label)
        rows = as_rows(batch)
        if self.slicing is not None:
            self._process_runs(self._runs_by_window_index(rows.values, rows.stamps))
        elif self.batched:
            self._process_runs(self._runs(rows.values, rows.stamps, rows.window_list()))
        else:
            self._process_each(rows.values, rows.stamps, rows.window_list())
        self._flush()
        self.forward_watermark()  # a pane may have released a hold

    def _kv(self, value: Any, t: int) -> tuple | None:
        """``value`` as a (key, value) pair, or None when it is not one (it went to the
        policy)."""
        try:
            return as_kv(self.label, value, self.what)
        except NotKeyedError as e:
            self.errors.handle(e, value, t)
            return None

    def _process_each(self, values: list, stamps: list, windows: list) -> None:
        store, sink, driver = self._times(), self.sink, self.driver
        label, handle = self.label, self.errors.handle
        for value, t, ws in zip(values, stamps, windows):
            kv = value
            if type(kv) is not tuple or len(kv) != 2:
                kv = self._kv(value, t)
                if kv is None:
                    continue
            try:
                store.process(kv[0], kv[1], t, ws, driver, sink)
            except TypeError as e:
                if _hashable(kv[0]):
                    raise user_error(label, kv, e) from e
                handle(unhashable_key(label, value), value, t)
            except Exception as e:
                raise user_error(label, kv, e) from e

    def _runs(self, values: list, stamps: list, windows: list) -> list:
        """The batch regrouped: [(window, {key: ([values], [timestamps])})], each run in
        arrival order."""
        runs: dict = {}
        label, handle = self.label, self.errors.handle
        for kv, t, ws in zip(values, stamps, windows):
            if type(kv) is not tuple or len(kv) != 2:
                kv = self._kv(kv, t)
                if kv is None:
                    continue
            try:
                hash(kv[0])
            except TypeError:
                handle(unhashable_key(label, kv), kv, t)
                continue
            for w in ws:
                run = runs.get((kv[0], w))
                if run is None:
                    runs[(kv[0], w)] = ([kv[1]], [t])
                else:
                    run[0].append(kv[1])
                    run[1].append(t)
        by_window: dict = {}
        for (key, w), run in runs.items():
            by_window.setdefault(w, {})[key] = run
        return list(by_window.items())

    def _runs_by_window_index(self, values: list, stamps: list) -> list:
        """Like :meth:`_runs`, the windows assigned from the timestamps (a fused WindowInto):
        [(window, {key: run})]."""
        sl = self.slicing
        off, period, k = sl.offset_ms, sl.period_ms, sl.per_window
        by_index: dict[int, dict] = {}  # window index -> key -> run
        label, handle = self.label, self.errors.handle
        cur, slot = None, None
        if k == 1:
            for kv, t in zip(values, stamps):
                try:
                    if type(kv) is not tuple:
                        raise ValueError
                    key, v = kv
                except ValueError:
                    kv = self._kv(kv, t)
                    if kv is None:
                        continue
                    key, v = kv
                si = (t - off) // period
                if si != cur:
                    slot = by_index.get(si)
                    if slot is None:
                        slot = by_index[si] = {}
                    cur = si
                try:
                    run = slot.get(key)
                except TypeError:
                    handle(unhashable_key(label, kv), kv, t)
                    continue
                if run is None:
                    slot[key] = ([v], [t])
                else:
                    run[0].append(v)
                    run[1].append(t)
        for kv, t in zip(values, stamps) if k > 1 else ():
            if type(kv) is not tuple or len(kv) != 2:
                kv = self._kv(kv, t)
                if kv is None:
                    continue
            try:
                hash(kv[0])
            except TypeError:
                handle(unhashable_key(label, kv), kv, t)
                continue
            si = (t - off) // period
            for j in range(si - k + 1, si + 1):
                if j != cur:
                    slot = by_index.get(j)
                    if slot is None:
                        slot = by_index[j] = {}
                    cur = j
                run = slot.get(kv[0])
                if run is None:
                    slot[kv[0]] = ([kv[1]], [t])
                else:
                    run[0].append(kv[1])
                    run[1].append(t)
        cache = self.window_cache
        if len(cache) > 4096:
            cache.clear()
        out = []
        for j, slot in by_index.items():
            w = cache.get(j)
            if w is None:
                w = cache[j] = sl.window(j)
            out.append((w, slot))
        return out

    def _process_runs(self, runs: list) -> None:
        store, sink, driver = self._times(), self.sink, self.driver
        label = self.label
        process, bind, for_key = driver.process_elements, store.bind, sink.for_key
        for w, by_key in runs:
            for key, (vs, ts) in by_key.items():
                try:
                    process(vs, ts, w, bind(key), for_key(key))
                except FluvialError:
                    raise
                except Exception as e:
                    what = (key, vs[0]) if len(vs) == 1 else (
                        f"<one of {len(vs)} elements of key {key!r} in {w!r}, "
                        f"from {(key, vs[0])!r}>")
                    raise user_error(label, what, e) from e

    def _fire(self, advance: Any, t: int) -> None:
        try:
            advance(t, self.driver, self.sink)
        except FluvialError:  # the error policy "fail" (pane_failed), naming the transform
            raise
        except Exception as e:
            key = self.sink.key
            raise UserCodeError(self.label, {"key": key}, e,
                                f"while firing a pane of key {bounded_repr(key)}") from e
        self._flush()

    def on_watermark(self, wm: int) -> None:
        self._times()
        self._fire(self.store.advance_watermark, wm)

    def output_watermark(self) -> int:
        h = self.store.min_hold()
        return self.watermark if h is None else min(self.watermark, h)

    def on_processing_time(self, now: int) -> None:
        self.processing_time = now
        self._times()
        self._fire(self.store.advance_processing_time, now)
        self.forward_watermark()

    def next_processing_timer(self) -> int | None:
        return self.store.next_processing_timer()

    def snapshot(self) -> Any:
        st = super().snapshot()
        st["store"] = self.store.snapshot()
        return st

    def restore(self, st: Any) -> None:
        super().restore(st)
        self.store.restore(st["store"])


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True
