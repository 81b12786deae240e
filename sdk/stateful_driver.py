"""The stateful-DoFn driver: Beam's semantics of a DoFn with state and timers, written once over
an injected per-(key, window) store (:class:`StatefulStore`).

Every runner that runs stateful DoFns in Python (direct, Beam, Flink) calls this driver; only
the store (state cells, timers, bookkeeping) differs. The cells themselves, with TTL, are
:mod:`fluvial.state_cells`.

How a runner drives it
======================

* Each element ``(key, value)``: :meth:`StatefulDriver.process` with a function binding the
  store to a window; the driver calls it once per window of the element. Or, to spare the
  per-call objects: :meth:`StatefulDriver.binding` once for a key and window (the store bound
  to them, the state cells, timer handles and arguments user code receives), then
  :meth:`StatefulDriver.process_bound` for each element of that key in that window. A runner
  may keep a binding as long as the store's raw storage of the key and window stays the same
  object and the store has not forgotten them (``release``, ``state_empty``): then it must
  drop its bindings of them (a binding asks for the expiry timer once).
* A user timer ``name`` of ``(key, window)`` is due: :meth:`StatefulDriver.on_timer` with the
  time it was set for and its output timestamp.
* The expiry timer of ``(key, window)`` is due: :meth:`StatefulDriver.on_expiry`.
* A cleanup timer of state ``name`` is due: :meth:`StatefulDriver.on_cleanup` (frees memory;
  reads are exact without it).

The semantics (docs/concepts.md states them for users)
======================================================

* State and timers are scoped per key and window. An element whose window has expired
  (``watermark > expiry_time(window, allowed_lateness)``) is dropped and counted as
  ``dropped_due_to_lateness``; it reaches no user code.
* ``timer.set(t)`` (seconds: event time, or absolute processing time) replaces the pending timer
  of that name; ``clear()`` cancels it. An event-time timer is due once ``watermark >= t``; its
  callback's outputs carry ``t`` (and it holds the output watermark at ``t`` while pending). A
  processing-time timer is due once processing time ``>= t``; its outputs carry the timestamp of
  the element that set it. An event-time timer set after its window expires could never fire:
  setting one is an error.
* When ``(key, window)`` expires, ``@on_window_expiration`` runs (outputs at the window's max
  timestamp), then the window's state is cleared and the store is told to forget it. Timers due
  at the same watermark fire in order of their time; the expiry comes after every user timer of
  the window (user event timers cannot be set later than the expiry time, and the expiry timer
  is due one millisecond after it).
* Error policies: under ``"dead_letter"`` and ``"skip"`` a failing ``process`` or callback
  contributes no outputs (they are buffered per call); state it changed before raising stays
  changed. The dead-letter payload of a failing callback is ``{"key", "timer", "window",
  "timestamp_ms"}``.

The store contract
==================

:class:`StatefulStore` is bound to one key and window:

``watermark`` / ``processing_time``
    The input watermark and processing time in ms. A store whose engine does not expose the
    watermark to user code (Beam Python) reports ``MIN_TIMESTAMP_MS``: late elements are then
    left to the engine's own dropping, and TTL relies on cleanup timers firing on time.
``storage()``
    The raw cells of this key and window (:class:`fluvial.state_cells.RawStorage`).
``set_timer(name, domain, t, output_ts)`` / ``clear_timer(name)``
    Make ``name`` due at ``t`` in ``domain`` (replacing a pending one) / cancel it. The runner
    calls :meth:`StatefulDriver.on_timer` when it is due, with ``t`` and ``output_ts``, unless
    it was replaced or cleared first. Pending event timers hold the operator's output watermark
    at their ``output_ts``.
``set_expiry_timer(t)``
    Call :meth:`StatefulDriver.on_expiry` once ``watermark >= t``. The driver asks on every
    element; a store keeps one per key and window.
``set_cleanup_timer(name, domain, t)``
    Call :meth:`StatefulDriver.on_cleanup` once ``watermark >= t`` (event time) or processing
    time ``>= t``. A store whose ``watermark`` is the true one may keep only the latest request
    per name (reads check expiry themselves; cleanup only frees memory). A store that cannot see
    the watermark must clean up no later than the earliest expiry still stored.
``release()``
    The window expired and its state is cleared: drop its expiry timer, pending timers and any
    bookkeeping of the key and window.
``state_empty()``
    TTL cleanup left every cell of the key and window empty (and the DoFn has no expiration
    callback): unless user timers are pending, the store may forget the key and window, its
    expiry timer included, so memory is bounded by live keys; the next element registers them
    again.

The runner gives the driver an output (``emit(tag, windowed_value)``, ``dropped(reason, n)``)
and an error policy (``guarded``, ``handle(exc, payload, timestamp_ms, window)``).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from types import GeneratorType
from typing import Any, Protocol

from fluvial.dofn_invoker import (
    DoFnSignature,
    Invocation,
    bind_kwargs,
    check_tag,
    normalize_outputs,
    outputs_list,
    positional_params,
)
from fluvial.errors import FluvialError, UserCodeError, bounded_repr
from fluvial.pane import NO_FIRING
from fluvial.state_cells import CellContext, RawStorage, make_cell
from fluvial.timeutil import TimeDomain, to_millis
from fluvial.userstate import StateSpec, TimerSpec
from fluvial.values import WindowedValue
from fluvial.window import expiry_time

EXPIRATION = "<window expiration>"
_DONE = object()


class StatefulStore(Protocol):
    """State, timers and bookkeeping of one key and window (contract: the module docstring)."""

    watermark: int
    processing_time: int

    def storage(self) -> RawStorage: ...
    def set_timer(self, name: str, domain: TimeDomain, t: int, output_ts: int) -> None: ...
    def clear_timer(self, name: str) -> None: ...
    def set_expiry_timer(self, t: int) -> None: ...
    def set_cleanup_timer(self, name: str, domain: TimeDomain, t: int) -> None: ...
    def release(self) -> None: ...
    def state_empty(self) -> None: ...


class StatefulOutput(Protocol):
    def emit(self, tag: str | None, wv: WindowedValue) -> None: ...
    def dropped(self, reason: str, count: int) -> None: ...


class TimerHandle:
    """What ``DoFn.TimerParam`` gives user code: ``set(t)`` (seconds: event time, or absolute
    processing time) and ``clear()``."""

    __slots__ = ("driver", "store", "window", "spec", "element_ts")

    def __init__(self, driver: StatefulDriver, store: StatefulStore, window: Any, spec: TimerSpec,
                 element_ts: int) -> None:
        self.driver = driver
        self.store = store
        self.window = window
        self.spec = spec
        self.element_ts = element_ts

    def set(self, t: Any) -> None:
        ms = to_millis(t)
        spec = self.spec
        if spec.time_domain is TimeDomain.REAL_TIME:
            self.store.set_timer(spec.name, spec.time_domain, ms, self.element_ts)
            return
        last = self.driver.expiry(self.window)
        if ms > last:
            raise FluvialError(
                f"transform '{self.driver.label}': event-time timer '{spec.name}' set to {ms} ms, "
                f"after window {self.window!r} expires ({last} ms = its max timestamp + allowed "
                "lateness); it could never fire. Set it within the window, or use a larger "
                "window or lateness."
            )
        self.store.set_timer(spec.name, spec.time_domain, ms, ms)

    def clear(self) -> None:
        self.store.clear_timer(self.spec.name)


class Binding:
    """One key and window's call context, made by :meth:`StatefulDriver.binding`: the store,
    a :class:`~fluvial.state_cells.CellContext` shared by the cells (refreshed at each call),
    the timer handles, the keyword arguments that do not change between elements, and the
    parameters that do."""

    __slots__ = ("key", "window", "windows", "store", "ctx", "handles", "static", "dynamic",
                 "positional", "expiry", "asked")

    def __init__(self, key: Any, window: Any, store: StatefulStore) -> None:
        self.key = key
        self.window = window
        self.windows = (window,)
        self.store = store
        self.ctx: CellContext | None = None
        self.handles: list[TimerHandle] = []
        self.static: dict[str, Any] = {}
        self.dynamic: list = []
        self.positional: tuple | None = None  # the arguments after the element, when positional
        self.expiry = 0
        self.asked = False  # the expiry timer was asked for


_STATIC_PARAMS = frozenset(("Window", "Key", "State", "Timer"))


class StatefulDriver:
    """Runs one stateful DoFn: ``fn`` with its ``signature``, extra ``args``/``kwargs``, declared
    output ``tags``, the input's ``lateness_ms`` and the transform's error policy ``errors``."""

    def __init__(self, fn: Any, signature: DoFnSignature, label: str, lateness_ms: int,
                 tags: set[str] | frozenset[str] = frozenset(), errors: Any = None,
                 args: tuple = (), kwargs: dict | None = None) -> None:
        self.fn = fn
        self.sig = signature
        self.label = label
        self.lateness = lateness_ms
        self.tags = set(tags)
        self.errors = errors
        self.args = args
        self.kwargs = kwargs or {}
        self.state_specs: dict[str, StateSpec] = signature.state_specs
        self.ttl = any(spec.ttl is not None for spec in self.state_specs.values())
        self._process = fn.process
        # process's DoFn parameters follow the element in order: pass them by position
        self.positional = not args and not self.kwargs and positional_params(fn.process,
                                                                                signature.process_params)

    # -- time ---------------------------------------------------------------------------------
    def expiry(self, window: Any) -> int:
        """The last instant of the window's state: an event timer may be set up to it."""
        return expiry_time(window, self.lateness)

    def expiry_timer_time(self, window: Any) -> int:
        """When the expiry timer is due (``watermark >=`` it): 1 ms after the expiry time, so
        it comes after every user timer of the window."""
        return self.expiry(window) + 1

    # -- calls ---------------------------------------------------------------------------------
    def _cells(self, store: StatefulStore, write_ts: int) -> Callable[[StateSpec], Any]:
        def cleanup(name: str, domain: TimeDomain, t: int) -> None:
            store.set_cleanup_timer(name, domain, t)

        ctx = CellContext(store.watermark, store.processing_time, write_ts, cleanup)
        storage = store.storage()
        made: dict[str, Any] = {}

        def cell(spec: StateSpec) -> Any:
            c = made.get(spec.name)
            if c is None:
                c = made[spec.name] = make_cell(self.state_specs[spec.name], storage, ctx)
            return c

        return cell

    def _timers(self, store: StatefulStore, window: Any, element_ts: int) -> Callable[[TimerSpec], TimerHandle]:
        return lambda spec: TimerHandle(self, store, window, spec, element_ts)

    def _route(self, results: Any, ts: int, window: Any, pane: Any, element: Any, buf: list) -> None:
        for tag, o in normalize_outputs(results, ts, (window,), pane, self.label, element):
            if tag is not None:
                check_tag(self.label, tag, self.tags)
            buf.append((tag, o))

    def _call(self, run: Callable[[list], None], payload: Any, failure: Any, ts: int, window: Any,
              out: StatefulOutput) -> None:
        """Run user code; its outputs reach ``out`` only if it completes (under a guarded
        policy) — else the error policy applies to ``failure``."""
        buf: list = []
        errors = self.errors
        try:
            run(buf)
        except (FluvialError, UserCodeError):
            raise
        except Exception as e:
            if errors is None or not errors.guarded:
                raise UserCodeError(self.label, payload, e) from e
            errors.handle(e, failure, ts, window)
            return
        for tag, o in buf:
            out.emit(tag, o)

    # -- elements -------------------------------------------------------------------------------
    def process(self, key: Any, wv: WindowedValue, bind: Callable[[Any], StatefulStore],
                out: StatefulOutput) -> None:
        """One element ``wv`` (its value a (key, value) pair) of ``key``, in each of its
        windows; ``bind(window)`` gives the store of ``key`` and that window."""
        for w in wv.windows:
            store = bind(w)
            if self.expiry(w) < store.watermark:  # late: no binding (nor storage) is made
                out.dropped("dropped_due_to_lateness", 1)
                continue
            self.process_bound(self.binding(key, w, store), wv.value, wv.timestamp, wv.pane, out)

    def binding(self, key: Any, window: Any, store: StatefulStore) -> Binding:
        """The call context of ``key`` in ``window`` over ``store`` (see the module's rules on
        keeping it)."""
        b = Binding(key, window, store)

        def cleanup(name: str, domain: TimeDomain, t: int) -> None:
            store.set_cleanup_timer(name, domain, t)

        b.ctx = CellContext(store.watermark, store.processing_time, 0, cleanup)
        storage = store.storage()
        cells: dict[str, Any] = {}

        def cell(spec: StateSpec) -> Any:
            c = cells.get(spec.name)
            if c is None:
                c = cells[spec.name] = make_cell(self.state_specs[spec.name], storage, b.ctx)
            return c

        def timer(spec: TimerSpec) -> TimerHandle:
            h = TimerHandle(self, store, window, spec, 0)
            b.handles.append(h)
            return h

        params = self.sig.process_params
        fixed = [(n, p) for n, p in params if p.kind in _STATIC_PARAMS]
        b.static = bind_kwargs(fixed, Invocation(None, window, key, cell, timer, 0), self.label)
        if self.kwargs:
            b.static.update(self.kwargs)
        b.dynamic = [(n, p) for n, p in params if p.kind not in _STATIC_PARAMS]
        if self.positional and not b.dynamic:
            b.positional = tuple(b.static[n] for n, _ in params)
        b.expiry = self.expiry(window)
        return b

    def process_bound(self, b: Binding, value: Any, timestamp_ms: int, pane: Any,
                      out: StatefulOutput) -> None:
        """One element (``value`` a (key, value) pair) of the binding's key in its window."""
        store = b.store
        wm = store.watermark
        if b.expiry < wm:
            out.dropped("dropped_due_to_lateness", 1)
            return
        if not b.asked:
            store.set_expiry_timer(b.expiry + 1)  # :meth:`expiry_timer_time`
            b.asked = True
        if self.ttl:  # cells with TTL read the time of the call
            ctx = b.ctx
            ctx.watermark = wm  # type: ignore[union-attr]
            ctx.processing_time = store.processing_time  # type: ignore[union-attr]
            ctx.write_ts = timestamp_ms  # type: ignore[union-attr]
        if b.handles:
            for h in b.handles:
                h.element_ts = timestamp_ms
        try:
            if b.positional is not None:
                res = self._process(value, *b.positional)
            else:
                kw = b.static
                if b.dynamic:
                    single = WindowedValue(value, timestamp_ms, b.windows, pane)
                    kw = {**kw, **bind_kwargs(b.dynamic, Invocation(
                        single, b.window, b.key, None, None, timestamp_ms), self.label),
                          **self.kwargs}
                res = self._process(value, *self.args, **kw)
            if type(res) is GeneratorType:  # the usual process(): run it; most yield nothing
                first = next(res, _DONE)
                if first is _DONE:
                    return
                res = chain((first,), res)
            elif res is None:
                return
            buf = outputs_list(res, timestamp_ms, b.windows, pane, self.label, value)
            for tag, _ in buf:
                if tag is not None:
                    check_tag(self.label, tag, self.tags)
        except (FluvialError, UserCodeError):
            raise
        except Exception as e:
            errors = self.errors
            if errors is None or not errors.guarded:
                raise UserCodeError(self.label, value, e) from e
            errors.handle(e, value, timestamp_ms, b.window)
            return
        for tag, o in buf:
            out.emit(tag, o)

    # -- timers ---------------------------------------------------------------------------------
    def _callback(self, cb: Any, name: str, key: Any, window: Any, fire_ts: int, out_ts: int,
                  store: StatefulStore, out: StatefulOutput) -> None:
        fn, params = cb
        inv = Invocation(None, window, key, self._cells(store, out_ts),
                         self._timers(store, window, out_ts), out_ts)

        def run(buf: list) -> None:
            kw = bind_kwargs(params, inv, self.label)
            self._route(fn(**kw), out_ts, window, NO_FIRING, key, buf)

        what = "window expiration" if name == EXPIRATION else f"timer {name}"
        payload = {"key": key, "timer": name, "window": repr(window), "timestamp_ms": fire_ts}
        self._call(run, f"<{what} of key {bounded_repr(key)}>", payload, out_ts, window, out)

    def on_timer(self, name: str, key: Any, window: Any, fire_ts: int, output_ts: int,
                 store: StatefulStore, out: StatefulOutput) -> None:
        """User timer ``name`` of ``(key, window)``, set for ``fire_ts``, is due."""
        self._callback(self.sig.timer_callbacks[name], name, key, window, fire_ts, output_ts,
                       store, out)

    def on_expiry(self, key: Any, window: Any, store: StatefulStore, out: StatefulOutput) -> None:
        """``(key, window)`` expired: the expiration callback, then its state is cleared and
        the store releases it."""
        if self.sig.expiration is not None:
            end = window.max_timestamp_ms
            self._callback(self.sig.expiration, EXPIRATION, key, window, end, end, store, out)
        self.clear_state(store)
        store.release()

    def clear_state(self, store: StatefulStore) -> None:
        """Clear every declared state cell of the store's key and window."""
        cell = self._cells(store, 0)
        for spec in self.state_specs.values():
            cell(spec).clear()

    def on_cleanup(self, name: str, store: StatefulStore) -> None:
        """Free the expired data of state ``name``. If data with an expiry remains, ask for the
        next cleanup; if every cell of the key and window is empty (and no expiration callback
        waits for the window), tell the store it may forget them."""
        cells = self._cells(store, 0)
        cell = cells(self.state_specs[name])
        nxt = cell.sweep()
        if nxt is not None:
            cell.ctx.cleanup_at(cell.spec, nxt)
        elif self.sig.expiration is None and all(cells(s).is_empty() for s in self.state_specs.values()):
            store.state_empty()
