"""In-memory keyed window state and timers for the window driver (fluvial.window_driver)."""

from __future__ import annotations

import heapq
from typing import Any

from fluvial.window_driver import WindowState


class KeyedWindowStore:
    """Implements the driver's WindowStore for all keys of one operator; ``bind(key)`` selects
    the key. Timers are heaps with lazy deletion; holds feed the output watermark."""

    def __init__(self) -> None:
        self.state: dict[Any, dict[Any, WindowState]] = {}
        self.event_timers: list[tuple[int, int, Any, Any]] = []
        self.proc_timers: list[tuple[int, int, Any, Any]] = []
        self.timer_keys: set[tuple] = set()
        self.holds: dict[tuple, int] = {}
        self.hold_heap: list[tuple[int, Any, Any]] = []
        self.key: Any = None
        self._cur: dict[Any, WindowState] | None = None
        self.watermark = 0
        self.processing_time = 0
        self._seq = 0

    def bind(self, key: Any) -> KeyedWindowStore:
        self.key = key
        self._cur = self.state.get(key)
        return self

    # WindowStore protocol -------------------------------------------------------------------
    def get(self, window: Any) -> WindowState | None:
        cur = self._cur
        return None if cur is None else cur.get(window)

    def put(self, window: Any, ws: WindowState) -> None:
        cur = self._cur
        if cur is None:
            cur = self._cur = self.state[self.key] = {}
        cur[window] = ws

    def remove(self, window: Any) -> None:
        cur = self._cur
        if cur is not None:
            cur.pop(window, None)
            if not cur:
                del self.state[self.key]
                self._cur = None

    def windows(self):
        cur = self._cur
        return () if cur is None else list(cur)

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
            heapq.heappush(self.hold_heap, (t, self._seq, hk))
            self._seq += 1

    # runner side ----------------------------------------------------------------------------
    def pop_event_timer(self, wm: int) -> tuple[Any, Any] | None:
        h = self.event_timers
        if not h or h[0][0] >= wm:
            return None
        t, _, key, window = heapq.heappop(h)
        self.timer_keys.discard((0, key, window, t))
        return key, window

    def pop_processing_timer(self, now: int) -> tuple[Any, Any] | None:
        h = self.proc_timers
        if not h or h[0][0] > now:
            return None
        t, _, key, window = heapq.heappop(h)
        self.timer_keys.discard((1, key, window, t))
        return key, window

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
        }

    def restore(self, st: dict) -> None:
        self.state = st["state"]
        self.event_timers = st["event_timers"]
        self.proc_timers = st["proc_timers"]
        self.timer_keys = st["timer_keys"]
        self.holds = st["holds"]
        self.hold_heap = st["hold_heap"]
        self._seq = st["seq"]
        self._cur = None
