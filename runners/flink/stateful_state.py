"""The stateful-DoFn driver's store on Flink keyed state (contract:
:mod:`fluvial.stateful_driver`), and the logic of the keyed process function that runs a
stateful ParDo.

Pure Python: Flink's ``ValueState``, ``MapState`` and timer service are injected (or fakes
behaving like them; ``tests/unit/test_flink_stateful_state.py`` drives it without an engine).

State of one key (Flink scopes both to the key being processed):

* ``book`` — one ``ValueState`` holding the key's ``{window: [wid, expiry, timers, cleanups,
  bag sizes]}``: the window's id among the key's live windows (the smallest free one), the
  time of its expiry timer, its pending user timers ``{name: (domain, t, output_ts)}``, its TTL
  cleanups ``{(state name, domain): t}`` (the latest request per name) and the size of each
  bag. Read once and written at most once per element or timer call; cleared when the key has
  no window left.
* ``cells`` — one ``MapState`` keyed by a LONG, ``wid << 40 | cell << 32 | i``, ``cell`` the
  index of the raw cell's name: a value or combining cell at ``i = 0``; a bag's values at
  ``i = 0 .. n-1`` (one ``put`` per ``add``); a map cell as one dict at ``i = 0`` (a
  ``put`` rewrites the cell's dict: Flink's MapState cannot be keyed by the user's keys in
  PyFlink's thread mode, where only typed keys are reliable).

Time: the driver's timers are due at ``watermark >= t``, which is Flink's rule: user event
timers, expiry timers and event-time cleanups are Flink event-time timers at ``t``. When one
fires at ``ts`` every item of the key due by ``ts`` runs, in order of time; at equal times user
timers, then cleanups, then expiries. Processing time is Flink's wall clock (Flink
processing-time timers) or, for scripted input, the script's clock reaching every key as
clock ticks (:meth:`KeyedStateful.clock`). Pending event timers place no hold (the runner
holds the watermark after groupings only, :mod:`.group_holds`): a user event timer's outputs
carry its time ``t`` and leave before Flink forwards the watermark that passed ``t``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fluvial.state_cells import TTL_SUFFIX
from fluvial.stateful_driver import StatefulDriver
from fluvial.timeutil import MIN_TIMESTAMP_MS, TimeDomain

from .window_state import MapStateLike, TimerServiceLike, ValueStateLike, fluvial_watermark

WID, EXPIRY, TIMERS, CLEANUPS, SIZES = 0, 1, 2, 3, 4
EVENT_DOMAIN, PROC_DOMAIN = 0, 1
MAX_CELLS = 256
MAX_WINDOWS = 1 << 23
USER, CLEANUP, EXPIRE = 0, 1, 2


def raw_cell_names(signature: Any) -> list[str]:
    """The raw cells of a stateful DoFn: its states (sorted), then the expiry companion of each
    bag with TTL (:mod:`fluvial.state_cells`)."""
    specs = signature.state_specs
    names = sorted(specs)
    return names + [n + TTL_SUFFIX for n in names
                    if specs[n].kind == "bag" and specs[n].ttl is not None]


def _domain(d: TimeDomain) -> int:
    return PROC_DOMAIN if d is TimeDomain.REAL_TIME else EVENT_DOMAIN


class FlinkStatefulState:
    """The key's book and cells for one call; :meth:`bind` gives the store of one window.
    ``cell_names`` are the raw cells' names (states and their TTL companions), at most 256."""

    def __init__(self, book: ValueStateLike, cells: MapStateLike, cell_names: list[str],
                 scripted_clock: bool) -> None:
        if len(cell_names) > MAX_CELLS:
            raise ValueError(f"at most {MAX_CELLS} state cells per stateful DoFn")
        self.book_state = book
        self.cells = cells
        self.index = {n: i for i, n in enumerate(cell_names)}
        self.scripted_clock = scripted_clock
        self.timers: Any = None
        self.book: dict[Any, list] = {}
        self.dirty = False
        self.watermark = MIN_TIMESTAMP_MS
        self.processing_time = 0

    # -- a call ---------------------------------------------------------------------------------
    def load(self, timers: TimerServiceLike, clock_ms: int,
             at_least: int | None = None) -> FlinkStatefulState:
        """Bind to the current key: its book, the watermark (at least ``at_least``) and the
        processing time of this call."""
        self.timers = timers
        got = self.book_state.value()
        self.book = {} if got is None else got
        self.dirty = False
        self.watermark = fluvial_watermark(timers.current_watermark(), at_least)
        self.processing_time = clock_ms if self.scripted_clock else timers.current_processing_time()
        return self

    def save(self) -> None:
        if not self.dirty:
            return
        if self.book:
            self.book_state.update(self.book)
        else:
            self.book_state.clear()
        self.dirty = False

    def bind(self, window: Any) -> WindowStateStore:
        return WindowStateStore(self, window)

    def entry(self, window: Any, create: bool) -> list | None:
        e = self.book.get(window)
        if e is None and create:
            used = {x[WID] for x in self.book.values()}
            wid = 0
            while wid in used:
                wid += 1
            if wid >= MAX_WINDOWS:
                raise ValueError(f"more than {MAX_WINDOWS} live windows for one key")
            e = self.book[window] = [wid, None, {}, {}, {}]
            self.dirty = True
        return e

    def cell_key(self, entry: list, name: str, i: int = 0) -> int:
        return (entry[WID] << 40) | (self.index[name] << 32) | i

    # -- due items --------------------------------------------------------------------------------
    def pop_due(self, domain: int, up_to: int) -> tuple | None:
        """Remove and return the earliest item of ``domain`` due by ``up_to``: ``(t, rank,
        window, name, output_ts)``; at equal times user timers, then cleanups, then expiries."""
        best = None
        for w, e in self.book.items():
            for name, (d, t, out_ts) in e[TIMERS].items():
                if d == domain and t <= up_to and (best is None or (t, USER) < best[:2]):
                    best = (t, USER, w, name, out_ts)
            for (name, d), t in e[CLEANUPS].items():
                if d == domain and t <= up_to and (best is None or (t, CLEANUP) < best[:2]):
                    best = (t, CLEANUP, w, name, None)
            t = e[EXPIRY]
            if domain == EVENT_DOMAIN and t is not None and t <= up_to and (
                    best is None or (t, EXPIRE) < best[:2]):
                best = (t, EXPIRE, w, None, None)
        if best is None:
            return None
        t, rank, w, name, _ = best
        e = self.book[w]
        if rank == USER:
            del e[TIMERS][name]
        elif rank == CLEANUP:
            del e[CLEANUPS][(name, domain)]
        else:
            e[EXPIRY] = None
        self.dirty = True
        return best


class WindowStateStore:
    """The driver's :class:`~fluvial.stateful_driver.StatefulStore` of the current key and
    ``window``."""

    __slots__ = ("st", "window", "watermark", "processing_time")

    def __init__(self, st: FlinkStatefulState, window: Any) -> None:
        self.st = st
        self.window = window
        self.watermark = st.watermark
        self.processing_time = st.processing_time

    def storage(self) -> _Storage:
        return _Storage(self.st, self.window)

    def set_timer(self, name: str, domain: TimeDomain, t: int, output_ts: int) -> None:
        st = self.st
        d = _domain(domain)
        st.entry(self.window, True)[TIMERS][name] = (d, t, output_ts)  # type: ignore[index]
        st.dirty = True
        if d == EVENT_DOMAIN:
            st.timers.register_event_time_timer(t)
        elif not st.scripted_clock:
            st.timers.register_processing_time_timer(t)

    def clear_timer(self, name: str) -> None:
        e = self.st.entry(self.window, False)
        if e is not None and name in e[TIMERS]:
            del e[TIMERS][name]
            self.st.dirty = True

    def set_expiry_timer(self, t: int) -> None:
        st = self.st
        e = st.book.get(self.window)
        if e is not None and e[EXPIRY] == t:
            return
        st.entry(self.window, True)[EXPIRY] = t  # type: ignore[index]
        st.dirty = True
        st.timers.register_event_time_timer(t)

    def set_cleanup_timer(self, name: str, domain: TimeDomain, t: int) -> None:
        st = self.st
        d = _domain(domain)
        cleanups = st.entry(self.window, True)[CLEANUPS]  # type: ignore[index]
        if cleanups.get((name, d)) == t:
            return
        cleanups[(name, d)] = t
        st.dirty = True
        if d == EVENT_DOMAIN:
            st.timers.register_event_time_timer(t)
        elif not st.scripted_clock:
            st.timers.register_processing_time_timer(t)

    def release(self) -> None:
        st = self.st
        e = st.book.pop(self.window, None)
        if e is not None:
            st.dirty = True
            for name, n in e[SIZES].items():  # cells the driver left (it clears every state)
                for i in range(n):
                    st.cells.remove(st.cell_key(e, name, i))

    def state_empty(self) -> None:
        e = self.st.book.get(self.window)
        if e is not None and not e[TIMERS]:
            self.release()


class _Storage:
    """The raw cells of one key and window (:class:`fluvial.state_cells.RawStorage`)."""

    __slots__ = ("st", "window")

    def __init__(self, st: FlinkStatefulState, window: Any) -> None:
        self.st = st
        self.window = window

    def value(self, name: str) -> _Value:
        return _Value(self, name)

    def bag(self, name: str) -> _Bag:
        return _Bag(self, name)

    def map(self, name: str) -> _Map:
        return _Map(self, name)


class _Raw:
    __slots__ = ("s", "name")

    def __init__(self, s: _Storage, name: str) -> None:
        self.s = s
        self.name = name

    def _key(self, create: bool) -> int | None:
        st = self.s.st
        e = st.entry(self.s.window, create)
        return None if e is None else st.cell_key(e, self.name)


class _Value(_Raw):
    """A value (payloads are never None: a cell keeps ``(payload, expiry)`` or an expiry)."""

    __slots__ = ()

    def get(self, default: Any) -> Any:
        k = self._key(False)
        if k is None:
            return default
        got = self.s.st.cells.get(k)
        return default if got is None else got

    def set(self, value: Any) -> None:
        self.s.st.cells.put(self._key(True), value)

    def clear(self) -> None:
        k = self._key(False)
        if k is not None:
            self.s.st.cells.remove(k)


class _Bag(_Raw):
    __slots__ = ()

    def add(self, value: Any) -> None:
        st = self.s.st
        e = st.entry(self.s.window, True)
        sizes = e[SIZES]  # type: ignore[index]
        n = sizes.get(self.name, 0)
        st.cells.put(st.cell_key(e, self.name, n), value)  # type: ignore[arg-type]
        sizes[self.name] = n + 1
        st.dirty = True

    def _n(self) -> tuple[list | None, int]:
        e = self.s.st.entry(self.s.window, False)
        return e, (0 if e is None else e[SIZES].get(self.name, 0))

    def read(self) -> list:
        e, n = self._n()
        st = self.s.st
        return [st.cells.get(st.cell_key(e, self.name, i)) for i in range(n)]  # type: ignore[arg-type]

    def clear(self) -> None:
        e, n = self._n()
        if not n:
            return
        st = self.s.st
        for i in range(n):
            st.cells.remove(st.cell_key(e, self.name, i))  # type: ignore[arg-type]
        del e[SIZES][self.name]  # type: ignore[index]
        st.dirty = True


class _Map(_Raw):
    """A map cell as one dict."""

    __slots__ = ()

    def _d(self) -> dict:
        k = self._key(False)
        if k is None:
            return {}
        return self.s.st.cells.get(k) or {}

    def get(self, key: Any, default: Any) -> Any:
        return self._d().get(key, default)

    def put(self, key: Any, value: Any) -> None:
        d = self._d()
        d[key] = value
        self.s.st.cells.put(self._key(True), d)

    def remove(self, key: Any) -> None:
        d = self._d()
        if key in d:
            del d[key]
            k = self._key(False)
            if d:
                self.s.st.cells.put(k, d)
            else:
                self.s.st.cells.remove(k)

    def items(self) -> list[tuple[Any, Any]]:
        return list(self._d().items())

    def clear(self) -> None:
        k = self._key(False)
        if k is not None:
            self.s.st.cells.remove(k)


class KeyedStateful:
    """What the keyed process function of a stateful ParDo does for the current key: elements,
    Flink timers and scripted clock ticks, through the stateful driver over a
    :class:`FlinkStatefulState`. ``out`` is the driver's output (emit, dropped)."""

    def __init__(self, driver: StatefulDriver, state: FlinkStatefulState) -> None:
        self.driver = driver
        self.state = state
        self.clock_ms = 0

    def element(self, key: Any, wv: Any, timers: TimerServiceLike, out: Any) -> None:
        st = self.state.load(timers, self.clock_ms)
        try:
            self.driver.process(key, wv, st.bind, out)
        finally:
            st.save()

    def event_timer(self, key: Any, ts: int, timers: TimerServiceLike, out: Any) -> None:
        """Flink's event-time timer at ``ts`` fired: run everything of the key due by ``ts``."""
        self._fire(key, EVENT_DOMAIN, ts, timers, out, at_least=ts)

    def processing_timer(self, key: Any, ts: int, timers: TimerServiceLike, out: Any) -> None:
        self._fire(key, PROC_DOMAIN, ts, timers, out)

    def clock(self, key: Any, now_ms: int, timers: TimerServiceLike, out: Any) -> None:
        """Scripted processing time reached ``now_ms`` for ``key``."""
        if now_ms > self.clock_ms:
            self.clock_ms = now_ms
        self._fire(key, PROC_DOMAIN, self.clock_ms, timers, out)

    def _fire(self, key: Any, domain: int, up_to: int, timers: TimerServiceLike, out: Any,
              at_least: int | None = None) -> None:
        st = self.state.load(timers, self.clock_ms, at_least)
        try:
            for t, rank, w, name, out_ts in _drain(st, domain, up_to):
                store = st.bind(w)
                if rank == USER:
                    self.driver.on_timer(name, key, w, t, out_ts, store, out)
                elif rank == CLEANUP:
                    self.driver.on_cleanup(name, store)
                else:
                    self.driver.on_expiry(key, w, store, out)
        finally:
            st.save()


def _drain(st: FlinkStatefulState, domain: int, up_to: int) -> Iterator[tuple]:
    while (item := st.pop_due(domain, up_to)) is not None:
        yield item
