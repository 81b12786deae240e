"""A queue of timers with replace-by-identity semantics, for the direct runner's stateful
operator: setting a timer again replaces it, clearing cancels it, and due timers pop in order of
time (then of setting). Replaced and cleared entries are deleted lazily; the heap is rebuilt
when they outnumber the live ones, so memory follows the live timers, not every timer ever set.

>>> q = TimerQueue()
>>> q.set(("k", "t"), 50, "a"); q.set(("k", "t"), 20, "b"); q.set(("j", "t"), 30, None)
>>> q.pop_due(lambda t: t <= 30)
(('k', 't'), 20, 'b')
>>> q.pop_due(lambda t: t <= 30)
(('j', 't'), 30, None)
>>> q.pop_due(lambda t: t <= 30) is None
True
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any


class TimerQueue:
    __slots__ = ("heap", "live", "seq")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, Any]] = []  # (t, seq, ident)
        self.live: dict[Any, tuple[int, int, Any]] = {}  # ident -> (t, seq, payload)
        self.seq = 0

    def __len__(self) -> int:
        return len(self.live)

    def __contains__(self, ident: Any) -> bool:
        return ident in self.live

    def set(self, ident: Any, t: int, payload: Any = None) -> None:
        self.seq += 1
        self.live[ident] = (t, self.seq, payload)
        heapq.heappush(self.heap, (t, self.seq, ident))
        if len(self.heap) > 2 * len(self.live) + 64:
            self._compact()

    def clear(self, ident: Any) -> None:
        self.live.pop(ident, None)

    def _compact(self) -> None:
        self.heap = [(t, seq, ident) for ident, (t, seq, _) in self.live.items()]
        heapq.heapify(self.heap)

    def _drop_stale(self) -> None:
        h, live = self.heap, self.live
        while h:
            t, seq, ident = h[0]
            cur = live.get(ident)
            if cur is not None and cur[1] == seq:
                return
            heapq.heappop(h)

    def peek(self) -> int | None:
        """The time of the earliest live timer."""
        self._drop_stale()
        return self.heap[0][0] if self.heap else None

    def pop_due(self, due: Callable[[int], bool]) -> tuple[Any, int, Any] | None:
        """The earliest live timer ``(ident, t, payload)`` if ``due(t)``, removed."""
        self._drop_stale()
        if not self.heap or not due(self.heap[0][0]):
            return None
        t, _, ident = heapq.heappop(self.heap)
        payload = self.live.pop(ident)[2]
        return ident, t, payload

    def __getstate__(self):
        return (self.heap, self.live, self.seq)

    def __setstate__(self, st):
        self.heap, self.live, self.seq = st
