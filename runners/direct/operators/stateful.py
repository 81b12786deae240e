"""Stateful ParDo on the direct runner: the sdk's stateful driver
(:mod:`fluvial.stateful_driver`) over in-memory state and timer queues.

What the direct runner keeps, per operator: the raw cells of each (key, window) with state (a
dict, dropped when empty), and five timer queues — user event-time and processing-time timers,
the expiry of each (key, window) seen, and TTL cleanups in each time domain. A (key, window)
leaves every structure when it expires, or earlier as soon as it holds nothing: no state (TTL
cleanup emptied it, or user code cleared it in ``process`` or a timer callback), no pending
user timer, and the DoFn has no ``@on_window_expiration`` (:meth:`_tidy`). So memory follows
live keys, not keys ever seen. Pending event-time timers hold the output watermark at their
time.

An element that is not a (key, value) pair or whose key is not hashable goes to the ParDo's
error policy like a failure of ``process``.
"""

from __future__ import annotations

from typing import Any

from fluvial import metrics as m
from fluvial.errors import NotKeyedError
from fluvial.state_cells import DictStorage
from fluvial.stateful_driver import StatefulDriver
from fluvial.timeutil import TimeDomain
from fluvial.values import WindowedValue
from fluvial.windowing import Windowing

from ..rows import Rows, as_rows, as_windowed_values
from ..timer_queue import TimerQueue
from .base import Operator
from .errors import as_kv, unhashable_key
from .pardo import DoFnCaller


class _Bound:
    """The stateful store (:class:`fluvial.stateful_driver.StatefulStore`) of one key and
    window, over the operator's tables; its watermark and processing time are the operator's
    at the time they are read."""

    __slots__ = ("op", "key", "window")

    def __init__(self, op: StatefulParDoOperator, key: Any, window: Any) -> None:
        self.op = op
        self.key = key
        self.window = window

    @property
    def watermark(self) -> int:
        return self.op.watermark

    @property
    def processing_time(self) -> int:
        return self.op.processing_time

    def storage(self) -> DictStorage:
        kw = (self.key, self.window)
        data = self.op.cells.get(kw)
        if data is None:
            data = self.op.cells[kw] = {}
        return DictStorage(data)

    def set_timer(self, name: str, domain: TimeDomain, t: int, output_ts: int) -> None:
        q = self.op.proc if domain is TimeDomain.REAL_TIME else self.op.event
        q.set((self.key, self.window, name), t, output_ts)

    def clear_timer(self, name: str) -> None:
        ident = (self.key, self.window, name)
        self.op.event.clear(ident)
        self.op.proc.clear(ident)

    def set_expiry_timer(self, t: int) -> None:
        kw = (self.key, self.window)
        if kw not in self.op.expiries:
            self.op.expiries.set(kw, t)

    def set_cleanup_timer(self, name: str, domain: TimeDomain, t: int) -> None:
        q = self.op.proc_cleanups if domain is TimeDomain.REAL_TIME else self.op.event_cleanups
        q.set((self.key, self.window, name), t)

    def _pending_user_timers(self) -> bool:
        op = self.op
        return any((self.key, self.window, n) in op.event or (self.key, self.window, n) in op.proc
                   for n in op.timer_names)

    def release(self) -> None:
        op, key, window = self.op, self.key, self.window
        op.cells.pop((key, window), None)
        op.unbind(key, window)
        op.expiries.clear((key, window))
        for n in op.timer_names:
            self.clear_timer(n)
        for n in op.state_names:
            op.event_cleanups.clear((key, window, n))
            op.proc_cleanups.clear((key, window, n))

    def state_empty(self) -> None:
        if not self._pending_user_timers():
            self.release()


class StatefulParDoOperator(Operator):
    accepts_rows = True

    def __init__(self, label: str, caller: DoFnCaller, windowing: Windowing) -> None:
        super().__init__(label)
        self.caller = caller
        sig = caller.sig
        self.driver = StatefulDriver(caller.fn, sig, label, windowing.allowed_lateness_ms,
                                     caller.tags, caller.errors, caller.args, caller.kwargs)
        self.timer_names = tuple(sig.timer_specs)
        self.state_names = tuple(sig.state_specs)
        self.cells: dict[tuple, dict] = {}
        # window -> key -> (the driver's Binding, its cells dict ``cells[(key, window)]``): kept
        # while that dict lives (dropped with it, and on release)
        self.bindings: dict[Any, dict[Any, tuple]] = {}
        self.fast = True  # elements through kept bindings (else a fresh binding per element)
        self.event = TimerQueue()  # (key, window, name) -> t, payload: output timestamp
        self.proc = TimerQueue()
        self.expiries = TimerQueue()  # (key, window) -> due time (watermark >= t)
        self.event_cleanups = TimerQueue()  # (key, window, state name) -> due time
        self.proc_cleanups = TimerQueue()
        self.out: dict[str | None, list] = {}
        # a (key, window) without state and timers may be forgotten: nothing runs at its expiry
        self.forgettable = sig.expiration is None

    def emit_one(self, tag: str | None, wv: WindowedValue) -> None:
        lst = self.out.setdefault(tag, [])
        lst.append(wv)
        if tag is None and len(lst) > 4096:
            self._flush()

    # lifecycle --------------------------------------------------------------------------------
    def open(self, metrics: Any) -> None:
        super().open(metrics)
        self.caller.errors.metrics = metrics
        m.set_step(self.label)
        self.caller.setup()

    def close(self) -> None:
        self.caller.teardown()

    def _bind(self, key: Any, window: Any) -> _Bound:
        return _Bound(self, key, window)

    def _tidy(self, key: Any, window: Any) -> None:
        """After user code ran for ``(key, window)``: drop its cells (and their binding) when
        empty, and forget the key and window altogether when they hold nothing any more (no
        state, no pending user timer, no expiration callback to run): only its expiry timer is
        left then, whose firing would do nothing. This bounds memory by live keys when state is
        cleared by user code or by TTL while a timer was still pending (the driver's
        ``state_empty`` covers TTL cleanup with no timer pending)."""
        kw = (key, window)
        data = self.cells.get(kw)
        if data:
            return
        if data is not None:
            del self.cells[kw]
            self.unbind(key, window)
        if self.forgettable and kw in self.expiries:
            _Bound(self, key, window).state_empty()  # releases it unless a user timer waits

    def unbind(self, key: Any, window: Any) -> None:
        """Forget the binding of ``key`` in ``window`` (its cells dict is gone)."""
        bound = self.bindings.get(window)
        if bound is not None:
            bound.pop(key, None)
            if not bound:
                del self.bindings[window]

    # data -------------------------------------------------------------------------------------
    def process(self, idx: int, batch: Any) -> None:
        m.set_step(self.label)
        caller, out = self.caller, _Out(self)
        caller.start_bundle()
        if self.fast:
            self._process_bound(as_rows(batch), out)
        else:
            driver = self.driver
            for wv in as_windowed_values(batch):
                kv = self._kv(wv.value, wv.timestamp)
                if kv is None:
                    continue
                key = kv[0]
                driver.process(key, wv, lambda w, key=key: _Bound(self, key, w), out)
                for w in wv.windows:
                    self._tidy(key, w)
        caller.finish_bundle(self.out)
        self._flush()
        self.forward_watermark()  # timers set or cleared change the hold

    def _process_bound(self, rows: Rows, out: _Out) -> None:
        """Each element through the binding of its key and window, kept across elements."""
        w0, p0 = rows.windows, rows.panes
        if type(w0) is not list and type(p0) is not list and len(w0) == 1:
            self._one_window(rows.values, rows.stamps, w0[0], p0, out)
            return
        wl, pl = rows.window_list(), rows.pane_list()
        for i, w in enumerate(wl):
            for win in w:  # element i, one window at a time
                self._one_window(rows.values[i:i + 1], rows.stamps[i:i + 1], win, pl[i], out)

    def _one_window(self, values: list, stamps: list, w: Any, pane: Any, out: _Out) -> None:
        """Elements that all have the one window ``w`` and the pane ``pane``."""
        label, driver = self.label, self.driver
        process, binding = driver.process_bound, driver.binding
        bound = self.bindings.get(w)
        if bound is None:
            bound = self.bindings[w] = {}
        get, cells = bound.get, self.cells
        late = driver.expiry(w) < self.watermark  # the window expired: its elements are dropped
        for kv, t in zip(values, stamps):
            if type(kv) is not tuple or len(kv) != 2:
                kv = self._kv(kv, t)
                if kv is None:
                    continue
            key = kv[0]
            try:
                got = get(key)
            except TypeError:
                self.caller.errors.handle(unhashable_key(label, kv), kv, t)
                continue
            if got is None:
                if late:  # as process_bound would, before any storage is made for the key
                    out.dropped("dropped_due_to_lateness", 1)
                    continue
                store = _Bound(self, key, w)
                got = (binding(key, w, store), cells[(key, w)])
                if not bound:
                    self.bindings[w] = bound  # (unbind drops an empty one)
                bound[key] = got
            process(got[0], kv, t, pane, out)
            if not got[1]:  # no state left: forget the cells and the binding, maybe the key
                self._tidy(key, w)
        if not bound:
            self.bindings.pop(w, None)

    def _kv(self, value: Any, t: int) -> tuple | None:
        """``value`` as a (key, value) pair with a hashable key, or None when it is not (it
        went to the error policy)."""
        handle = self.caller.errors.handle
        kv = value
        if type(kv) is not tuple or len(kv) != 2:
            try:
                kv = as_kv(self.label, kv, "stateful DoFn")
            except NotKeyedError as e:
                handle(e, value, t)
                return None
        try:
            hash(kv[0])
        except TypeError:
            handle(unhashable_key(self.label, value), value, t)
            return None
        return kv
    def _flush(self) -> None:
        if self.out:
            out, self.out = self.out, {}
            for tag, b in out.items():
                self.emit(b, tag)

    # time -------------------------------------------------------------------------------------
    def on_watermark(self, wm: int) -> None:
        m.set_step(self.label)
        driver, out = self.driver, _Out(self)

        def due(t: int) -> bool:
            return t <= wm

        # in order of time; at equal times user timers, then cleanups, then expiries
        queues = (self.event, self.event_cleanups, self.expiries)
        while True:
            best, best_t = None, None
            for q in queues:
                t = q.peek()
                if t is not None and t <= wm and (best_t is None or t < best_t):
                    best, best_t = q, t
            if best is None:
                break
            ident, t, payload = best.pop_due(due)
            if best is self.event:
                key, window, name = ident
                driver.on_timer(name, key, window, t, payload, _Bound(self, key, window), out)
                self._tidy(key, window)
            elif best is self.event_cleanups:
                key, window, name = ident
                driver.on_cleanup(name, _Bound(self, key, window))
                self._tidy(key, window)
            else:
                key, window = ident
                driver.on_expiry(key, window, _Bound(self, key, window), out)
        self._flush()

    def on_processing_time(self, now: int) -> None:
        self.processing_time = now
        m.set_step(self.label)
        driver, out = self.driver, _Out(self)

        def due(t: int) -> bool:
            return t <= now

        while (got := self.proc.pop_due(due)) is not None:
            (key, window, name), t, out_ts = got
            driver.on_timer(name, key, window, t, out_ts, _Bound(self, key, window), out)
            self._tidy(key, window)
        while (got := self.proc_cleanups.pop_due(due)) is not None:
            (key, window, name), _, _ = got
            driver.on_cleanup(name, _Bound(self, key, window))
            self._tidy(key, window)
        self._flush()
        self.forward_watermark()

    def next_processing_timer(self) -> int | None:
        times = [t for t in (self.proc.peek(), self.proc_cleanups.peek()) if t is not None]
        return min(times) if times else None

    def output_watermark(self) -> int:
        t = self.event.peek()
        return self.watermark if t is None else min(self.watermark, t)

    # checkpoints ------------------------------------------------------------------------------
    _TABLES = ("cells", "event", "proc", "expiries", "event_cleanups", "proc_cleanups")

    def snapshot(self) -> Any:
        st = super().snapshot()
        st.update({name: getattr(self, name) for name in self._TABLES})
        return st

    def restore(self, st: Any) -> None:
        super().restore(st)
        for name in self._TABLES:
            setattr(self, name, st[name])
        self.bindings = {}

    def bookkeeping_size(self) -> int:
        """Entries held for all keys (state and timers): bounded by live keys and timers."""
        return len(self.cells) + sum(len(getattr(self, n)) for n in self._TABLES[1:])


class _Out:
    """The driver's output: buffers on the operator, counts drops."""

    __slots__ = ("op",)

    def __init__(self, op: StatefulParDoOperator) -> None:
        self.op = op

    def emit(self, tag: str | None, wv: WindowedValue) -> None:
        self.op.emit_one(tag, wv)

    def dropped(self, reason: str, count: int) -> None:
        self.op.count(reason, count)
