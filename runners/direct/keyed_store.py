"""The direct runner's store for the window driver (contract: :mod:`fluvial.window_driver`):
all keys of one grouping in memory, timers in heaps with lazy deletion, holds in a heap feeding
the output watermark.

It differs from the reference store (:class:`fluvial.window_store.InMemoryWindowStore`) only in
speed: ``get_meta`` hands out the stored object itself (the driver writes every change back
anyway), and a key's windows, metadata and contents sit in one dict looked up once per
:meth:`bind`. Both pass the store-contract kit (:mod:`fluvial.testing.store_contract`).
"""

from __future__ import annotations

import heapq
from typing import Any

from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.window_driver import WindowDriver, WindowMeta


class _Slot:
    """One window of one key: its metadata and its contents (a list or an accumulator)."""

    __slots__ = ("meta", "contents")

    def __init__(self) -> None:
        self.meta: WindowMeta | None = None
        self.contents: Any = _EMPTY

    def __getstate__(self):
        return (self.meta, self.contents)

    def __setstate__(self, st):
        self.meta, self.contents = st


class _Empty:
    """The marker of a slot without contents (a singleton that survives pickling)."""

    _inst: _Empty | None = None

    def __new__(cls) -> _Empty:
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __reduce__(self):
        return (_Empty, ())


_EMPTY = _Empty()


class KeyedWindowStore:
    """Implements the driver's WindowStore for all keys of one operator; ``bind(key)`` selects
    the key, and :meth:`process`, :meth:`advance_watermark` and
    :meth:`advance_processing_time` are the runner's side."""

    def __init__(self) -> None:
        self.state: dict[Any, dict[Any, _Slot]] = {}
        self.event_timers: list[tuple[int, int, Any, Any]] = []
        self.proc_timers: list[tuple[int, int, Any, Any]] = []
        self.timer_keys: set[tuple] = set()
        self.holds: dict[tuple, int] = {}
        self.hold_heap: list[tuple[int, int, tuple]] = []
        self.key: Any = None
        self._cur: dict[Any, _Slot] | None = None
        self._lw: Any = None  # the window of the latest slot looked up for the bound key
        self._ls: _Slot | None = None
        self.watermark = MIN_TIMESTAMP_MS
        self.output_watermark = MIN_TIMESTAMP_MS
        self.processing_time = 0
        self._seq = 0

    def bind(self, key: Any) -> KeyedWindowStore:
        """Select ``key``; raises TypeError for an unhashable key."""
        self.key = key
        self._cur = self.state.get(key)
        self._lw = self._ls = None
        return self

    def _find(self, window: Any) -> _Slot | None:
        """The bound key's slot of ``window`` (the latest one found is remembered: the driver
        asks for one window several times in a row)."""
        if window is self._lw:
            return self._ls
        cur = self._cur
        slot = None if cur is None else cur.get(window)
        if slot is not None:
            self._lw, self._ls = window, slot
        return slot

    def _slot(self, window: Any) -> _Slot:
        if window is self._lw:
            return self._ls  # type: ignore[return-value]
        cur = self._cur
        if cur is None:
            cur = self._cur = self.state[self.key] = {}
        slot = cur.get(window)
        if slot is None:
            slot = cur[window] = _Slot()
        self._lw, self._ls = window, slot
        return slot

    # WindowStore: metadata ------------------------------------------------------------------
    def get_meta(self, window: Any) -> WindowMeta | None:
        slot = self._find(window)
        return None if slot is None else slot.meta

    def put_meta(self, window: Any, meta: WindowMeta) -> None:
        self._slot(window).meta = meta

    def windows(self) -> list[Any]:
        cur = self._cur
        return [] if cur is None else [w for w, s in cur.items() if s.meta is not None]

    def remove(self, window: Any) -> None:
        self._lw = self._ls = None
        cur = self._cur
        if cur is not None:
            cur.pop(window, None)
            if not cur:
                del self.state[self.key]
                self._cur = None

    # WindowStore: contents ------------------------------------------------------------------
    def append(self, window: Any, value: Any) -> None:
        slot = self._slot(window)
        if slot.contents is _EMPTY:
            slot.contents = [value]
        else:
            slot.contents.append(value)

    def append_all(self, window: Any, values: list) -> None:
        slot = self._slot(window)
        if slot.contents is _EMPTY:
            slot.contents = list(values)
        else:
            slot.contents.extend(values)

    def read_bag(self, window: Any) -> list:
        slot = self._find(window)
        return [] if slot is None or slot.contents is _EMPTY else list(slot.contents)

    def get_accumulator(self, window: Any, default: Any) -> Any:
        slot = self._find(window)
        return default if slot is None or slot.contents is _EMPTY else slot.contents

    def put_accumulator(self, window: Any, acc: Any) -> None:
        self._slot(window).contents = acc

    def clear_contents(self, window: Any) -> None:
        slot = self._find(window)
        if slot is not None:
            slot.contents = _EMPTY

    # WindowStore: timers and holds ----------------------------------------------------------
    def set_event_timer(self, window: Any, t: int) -> None:
        tk = (0, self.key, window, t)
        if tk in self.timer_keys:
            return
        self.timer_keys.add(tk)
        self._seq += 1
        heapq.heappush(self.event_timers, (t, self._seq, self.key, window))

    def set_processing_timer(self, window: Any, t: int) -> None:
        tk = (1, self.key, window, t)
        if tk in self.timer_keys:
            return
        self.timer_keys.add(tk)
        self._seq += 1
        heapq.heappush(self.proc_timers, (t, self._seq, self.key, window))

    def set_hold(self, window: Any, t: int | None) -> None:
        hk = (self.key, window)
        if t is None:
            self.holds.pop(hk, None)
        else:
            self.holds[hk] = t
            self._seq += 1
            heapq.heappush(self.hold_heap, (t, self._seq, hk))

    # the runner's side ----------------------------------------------------------------------
    def process(self, key: Any, value: Any, timestamp_ms: int, windows: Any, driver: WindowDriver,
                sink: Any) -> None:
        """One element of ``key``; ``sink.for_key(key)`` receives the panes."""
        driver.process_element(value, timestamp_ms, windows, self.bind(key), sink.for_key(key))

    def advance_watermark(self, watermark: int, driver: WindowDriver, sink: Any) -> None:
        """Set the input watermark and fire the event timers it passed (``t < watermark``),
        earliest first."""
        if watermark > self.watermark:
            self.watermark = watermark
        wm = self.watermark
        h = self.event_timers
        while h and h[0][0] < wm:
            t, _, key, window = heapq.heappop(h)
            self.timer_keys.discard((0, key, window, t))
            driver.on_event_timer(window, self.bind(key), sink.for_key(key))

    def advance_processing_time(self, now: int, driver: WindowDriver, sink: Any) -> None:
        """Set processing time and fire the processing timers due (``t <= now``), earliest
        first."""
        if now > self.processing_time:
            self.processing_time = now
        h = self.proc_timers
        while h and h[0][0] <= self.processing_time:
            t, _, key, window = heapq.heappop(h)
            self.timer_keys.discard((1, key, window, t))
            driver.on_processing_timer(window, self.bind(key), sink.for_key(key))

    def next_processing_timer(self) -> int | None:
        return self.proc_timers[0][0] if self.proc_timers else None

    def min_hold(self) -> int | None:
        h = self.hold_heap
        while h:
            t, _, hk = h[0]
            if self.holds.get(hk) == t:
                return t
            heapq.heappop(h)
        return None

    def snapshot(self) -> dict:
        return {
            "state": self.state,
            "event_timers": self.event_timers,
            "proc_timers": self.proc_timers,
            "timer_keys": self.timer_keys,
            "holds": self.holds,
            "hold_heap": self.hold_heap,
            "seq": self._seq,
            "times": (self.watermark, self.output_watermark, self.processing_time),
        }

    def restore(self, st: dict) -> None:
        self.state = st["state"]
        self.event_timers = st["event_timers"]
        self.proc_timers = st["proc_timers"]
        self.timer_keys = st["timer_keys"]
        self.holds = st["holds"]
        self.hold_heap = st["hold_heap"]
        self._seq = st["seq"]
        self.watermark, self.output_watermark, self.processing_time = st["times"]
        self.key = None
        self._cur = None
        self._lw = self._ls = None

    def is_empty(self) -> bool:
        """No state, contents or holds of any key are left."""
        return not (self.state or self.holds)
