"""The window driver's store on Flink keyed state (contract: :mod:`fluvial.window_driver`), and
the logic of the keyed process function that runs a GroupByKey or CombinePerKey.

Pure Python: the Flink objects are injected (Flink's ``ValueState``, ``MapState`` and timer
service, or fakes behaving like them), so the store passes the store-contract kit
(:mod:`fluvial.testing.store_contract`) without an engine (``tests/unit/test_flink_window_state.py``).

State of one key (Flink scopes both to the key being processed):

* ``slots`` — one ``ValueState`` holding ``(slots, hold, epoch)``: the key's ``{window: [meta,
  wid, n, event_times, processing_times, hold]}`` — the driver's small
  :class:`~fluvial.window_driver.WindowMeta`, the window's id among the key's live windows (the
  smallest free one, so ids stay small), the number of values in its bag, the times of its
  pending timers and its watermark hold (None: none) — then the key's earliest hold as last
  reported, and the epoch of the function instance that reported it
  (:mod:`.group_holds`). Read once and written at most once per element or timer call;
  cleared when the key has no window left.
* ``contents`` — one ``MapState`` keyed by a LONG, ``wid << 32 | i``: a GroupByKey window's
  bag values at ``i = 0 .. n-1`` (an element costs one ``put``, whatever the window holds), a
  CombinePerKey window's accumulator at ``i = 0``. Typed keys only: in PyFlink's thread mode a
  ``MapState`` keyed by pickled bytes misses every lookup.

Time (Flink's timers fire at ``watermark >= t``, the driver's convention is ``watermark > t``):

* ``set_event_timer(window, t)`` records ``t`` in the window's slot and registers a Flink
  event-time timer at ``t + 1`` (Flink coalesces equal ``(key, t + 1)`` timers). When Flink
  fires one at ``ts`` the function calls the driver for every window of the key whose recorded
  time is ``<= ts - 1``, in order of time: the same order as the reference store.
* Processing time is either Flink's wall clock (timers registered with Flink) or, for scripted
  input (TestStream), the script's clock: clock ticks reach every key (fanned out in Java before
  the keyBy), and :meth:`KeyedGrouping.clock` fires the key's due processing timers.
* Holds: ``set_hold`` keeps the window's hold in its slot; a call that changes the key's
  earliest hold reports it to the instance's :class:`~.group_holds.SubtaskHolds`, which the
  function sends on to ``fluvial.flink.GroupHolds`` (Java), holding the watermark after the
  function; ``output_watermark`` is the one ``GroupHolds`` has published (see
  :mod:`.group_holds` for the protocol, and for what a restore changes).

Watermarks: Flink's ``Long.MIN_VALUE`` / ``Long.MAX_VALUE`` are fluvial's
``MIN_TIMESTAMP_MS`` / ``MAX_TIMESTAMP_MS`` (the end of input, which fires every timer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.window_driver import WindowDriver, WindowMeta

from .group_holds import SubtaskHolds

META, WID, COUNT, EVENT, PROC, HOLD = 0, 1, 2, 3, 4, 5
SLOT_SHIFT = 32

#: returns the current key's bytes (asked only when needed: a Flink call in PyFlink)
KeyBytes = Callable[[], bytes]


class ValueStateLike(Protocol):
    """Flink's ``ValueState`` as PyFlink exposes it (scoped to the current key)."""

    def value(self) -> Any: ...
    def update(self, value: Any) -> None: ...
    def clear(self) -> None: ...


class MapStateLike(Protocol):
    """Flink's ``MapState`` as PyFlink exposes it (scoped to the current key)."""

    def get(self, key: Any) -> Any: ...
    def put(self, key: Any, value: Any) -> None: ...
    def contains(self, key: Any) -> bool: ...
    def remove(self, key: Any) -> None: ...
    def clear(self) -> None: ...


class TimerServiceLike(Protocol):
    """Flink's timer service of the current call."""

    def current_watermark(self) -> int: ...
    def current_processing_time(self) -> int: ...
    def register_event_time_timer(self, t: int) -> None: ...
    def register_processing_time_timer(self, t: int) -> None: ...


def fluvial_watermark(flink_wm: int | None, at_least: int | None = None) -> int:
    """Flink's watermark in fluvial's range (``Long.MIN_VALUE`` before the first one,
    ``Long.MAX_VALUE`` at the end of input; None, as PyFlink's process mode reports it before
    anything arrived, is the minimum). ``at_least``: a time the watermark is known to have
    reached (an event-time timer at ``ts`` fires only once the watermark is ``>= ts``; in
    process mode PyFlink may report the watermark of an earlier moment inside ``on_timer``)."""
    if flink_wm is None:
        flink_wm = MIN_TIMESTAMP_MS
    if at_least is not None and at_least > flink_wm:
        flink_wm = at_least
    if flink_wm <= MIN_TIMESTAMP_MS:
        return MIN_TIMESTAMP_MS
    if flink_wm >= MAX_TIMESTAMP_MS:
        return MAX_TIMESTAMP_MS
    return flink_wm


class FlinkWindowStore:
    """The window driver's :class:`~fluvial.window_driver.WindowStore` for the key Flink is
    processing. :meth:`load` starts a call (reads the key's state and the time), :meth:`save`
    ends it (writes the state back if it changed, reports a changed earliest hold to
    ``holds``, the function instance's :class:`~.group_holds.SubtaskHolds`)."""

    supports_holds = True

    def __init__(self, slots: ValueStateLike, contents: MapStateLike, scripted_clock: bool,
                 holds: SubtaskHolds) -> None:
        self.slots_state = slots
        self.contents = contents
        self.scripted_clock = scripted_clock
        self.holds = holds
        self.timers: Any = None
        self.slots: dict[Any, list] = {}
        self.key_hold: int | None = None  # the key's earliest hold, as last reported
        self.epoch: int | None = None  # the instance that reported it
        self.holds_touched = False
        self.dirty = False
        self.watermark = MIN_TIMESTAMP_MS
        self.output_watermark = MIN_TIMESTAMP_MS
        self.processing_time = 0

    # -- a call ---------------------------------------------------------------------------------
    def load(self, timers: TimerServiceLike, clock_ms: int, key: KeyBytes,
             at_least: int | None = None) -> FlinkWindowStore:
        """Bind to the current key (``key`` gives its bytes): its state, the watermark (at
        least ``at_least``), the output watermark and the processing time of this call
        (``clock_ms``: the scripted clock; ignored on the wall clock). A hold of the key that
        this instance of the function does not know yet (reported before a restore) is
        learnt."""
        self.timers = timers
        got = self.slots_state.value()
        if got is None:
            self.slots, self.key_hold, self.epoch = {}, None, None
        else:
            self.slots, self.key_hold, self.epoch = got
        self.dirty = self.holds_touched = False
        holds = self.holds
        if self.key_hold is not None and self.epoch != holds.epoch:
            holds.learn(key(), self.key_hold)
            self.epoch = holds.epoch
            self.dirty = True
        self.watermark = fluvial_watermark(timers.current_watermark(), at_least)
        self.output_watermark = holds.publish(self.watermark)
        self.processing_time = clock_ms if self.scripted_clock else timers.current_processing_time()
        return self

    def save(self, key: KeyBytes) -> None:
        """End the call (``key`` gives the key's bytes, for a report)."""
        if self.holds_touched:
            self.holds_touched = False
            hold = None
            for s in self.slots.values():
                h = s[HOLD]
                if h is not None and (hold is None or h < hold):
                    hold = h
            if hold != self.key_hold:
                self.holds.update(key(), hold)
                self.key_hold, self.epoch = hold, self.holds.epoch
                self.dirty = True
        if not self.dirty:
            return
        if self.slots:
            self.slots_state.update((self.slots, self.key_hold, self.epoch))
        else:
            self.slots_state.clear()
        self.dirty = False

    def _slot(self, window: Any) -> list:
        slot = self.slots.get(window)
        if slot is None:
            used = {s[WID] for s in self.slots.values()}
            wid = 0
            while wid in used:
                wid += 1
            slot = self.slots[window] = [None, wid, 0, (), (), None]
        self.dirty = True
        return slot

    # -- WindowStore: metadata --------------------------------------------------------------------
    def get_meta(self, window: Any) -> WindowMeta | None:
        slot = self.slots.get(window)
        return None if slot is None else slot[META]

    def put_meta(self, window: Any, meta: WindowMeta) -> None:
        self._slot(window)[META] = meta

    def windows(self) -> list[Any]:
        return [w for w, s in self.slots.items() if s[META] is not None]

    def remove(self, window: Any) -> None:
        if window in self.slots:
            if self.slots[window][HOLD] is not None:
                self.holds_touched = True
            self.clear_contents(window)
            del self.slots[window]
            self.dirty = True

    # -- WindowStore: contents --------------------------------------------------------------------
    def append(self, window: Any, value: Any) -> None:
        slot = self._slot(window)
        self.contents.put((slot[WID] << SLOT_SHIFT) | slot[COUNT], value)
        slot[COUNT] += 1

    def read_bag(self, window: Any) -> list:
        slot = self.slots.get(window)
        if slot is None or not slot[COUNT]:
            return []
        base = slot[WID] << SLOT_SHIFT
        get = self.contents.get
        return [get(base | i) for i in range(slot[COUNT])]

    def get_accumulator(self, window: Any, default: Any) -> Any:
        slot = self.slots.get(window)
        if slot is None or not slot[COUNT]:
            return default
        return self.contents.get(slot[WID] << SLOT_SHIFT)[0]

    def put_accumulator(self, window: Any, acc: Any) -> None:
        slot = self.slots.get(window)
        if slot is None or not slot[COUNT]:
            slot = self._slot(window)
            slot[COUNT] = 1
        self.contents.put(slot[WID] << SLOT_SHIFT, (acc,))  # a tuple: None is an accumulator too

    def clear_contents(self, window: Any) -> None:
        slot = self.slots.get(window)
        if slot is None or not slot[COUNT]:
            return
        base = slot[WID] << SLOT_SHIFT
        for i in range(slot[COUNT]):
            self.contents.remove(base | i)
        slot[COUNT] = 0
        self.dirty = True

    # -- WindowStore: timers and holds ------------------------------------------------------------
    def set_event_timer(self, window: Any, t: int) -> None:
        slot = self._slot(window)
        if t not in slot[EVENT]:
            slot[EVENT] = (*slot[EVENT], t)
            self.timers.register_event_time_timer(t + 1)  # Flink fires at watermark >= t + 1

    def set_processing_timer(self, window: Any, t: int) -> None:
        slot = self._slot(window)
        if t not in slot[PROC]:
            slot[PROC] = (*slot[PROC], t)
            if not self.scripted_clock:
                self.timers.register_processing_time_timer(t)

    def set_hold(self, window: Any, t: int | None) -> None:
        slot = self.slots.get(window)
        if t is None:
            if slot is not None and slot[HOLD] is not None:
                slot[HOLD] = None
                self.holds_touched = self.dirty = True
        elif slot is None or slot[HOLD] != t:
            self._slot(window)[HOLD] = t
            self.holds_touched = True

    # -- due timers ---------------------------------------------------------------------------------
    def pop_due(self, which: int, up_to: int) -> list[tuple[int, Any]]:
        """Remove and return the ``(t, window)`` timers of kind ``which`` (EVENT or PROC) with
        ``t <= up_to``, in order of time."""
        due = []
        for w, slot in self.slots.items():
            times = slot[which]
            if not times:
                continue
            keep = tuple(t for t in times if t > up_to)
            if len(keep) != len(times):
                due.extend((t, i, w) for i, t in enumerate(times) if t <= up_to)
                slot[which] = keep
                self.dirty = True
        due.sort(key=lambda d: (d[0], d[1]))
        return [(t, w) for t, _, w in due]


class KeyedGrouping:
    """What the keyed process function of a grouping does for the current key: elements, Flink
    timers and scripted clock ticks, through the window driver over a :class:`FlinkWindowStore`.
    ``clock_ms`` is the scripted clock (the latest tick seen by this function instance). Every
    call takes ``key``, which gives the current key's bytes (asked only for a hold report)."""

    def __init__(self, driver: WindowDriver, store: FlinkWindowStore) -> None:
        self.driver = driver
        self.store = store
        self.clock_ms = 0

    def element(self, value: Any, timestamp_ms: int, windows: Any, timers: TimerServiceLike,
                sink: Any, key: KeyBytes) -> None:
        store = self.store.load(timers, self.clock_ms, key)
        try:
            self.driver.process_element(value, timestamp_ms, windows, store, sink)
        finally:
            store.save(key)

    def event_timer(self, ts: int, timers: TimerServiceLike, sink: Any, key: KeyBytes) -> None:
        """Flink's event-time timer at ``ts`` fired: the driver's timers at ``ts - 1`` (and any
        earlier one still recorded) are due."""
        store = self.store.load(timers, self.clock_ms, key, at_least=ts)
        try:
            for _, w in store.pop_due(EVENT, ts - 1):
                self.driver.on_event_timer(w, store, sink)
        finally:
            store.save(key)

    def processing_timer(self, ts: int, timers: TimerServiceLike, sink: Any,
                         key: KeyBytes) -> None:
        """Flink's processing-time timer at ``ts`` fired (wall clock)."""
        self._fire_processing(timers, sink, ts, key)

    def clock(self, now_ms: int, timers: TimerServiceLike, sink: Any, key: KeyBytes) -> None:
        """Scripted processing time reached ``now_ms`` for the current key."""
        if now_ms > self.clock_ms:
            self.clock_ms = now_ms
        self._fire_processing(timers, sink, self.clock_ms, key)

    def _fire_processing(self, timers: TimerServiceLike, sink: Any, now: int,
                         key: KeyBytes) -> None:
        store = self.store.load(timers, self.clock_ms, key)
        try:
            while due := store.pop_due(PROC, now):
                for _, w in due:
                    self.driver.on_processing_timer(w, store, sink)
        finally:
            store.save(key)
