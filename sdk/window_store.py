"""The in-memory reference implementation of the window driver's store contract
(:mod:`fluvial.window_driver`), as Beam keeps ``InMemoryUnmergedState`` beside its trigger
driver. Written for clarity, not speed: it is the yardstick other stores are checked against
(see :mod:`fluvial.testing.store_contract`).

Rules it follows (and every store must):

* ``get_meta`` returns a copy, so a driver that forgets to write a change back is caught.
* Event timers are due once ``watermark > t`` and fire in order of ``t`` (then of registration);
  equal ``(key, window, t)`` requests are coalesced; timers are never deleted (stale ones reach
  the driver, which ignores them).
* Processing timers are due once ``processing_time >= t``, in the same order.
* The output watermark is the minimum of the input watermark and every hold; it never moves
  backwards.

The runner-facing side (:class:`fluvial.testing.store_contract.StoreHarness`): :meth:`process`,
:meth:`advance_watermark`, :meth:`advance_processing_time`, :meth:`min_hold`,
:meth:`snapshot` and :meth:`restore`.

>>> store = InMemoryWindowStore().bind("k")
>>> store.append("w", 1); store.append("w", 2); store.read_bag("w")
[1, 2]
"""

from __future__ import annotations

import copy
import heapq
from typing import Any

from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.window_driver import PaneSink, WindowDriver, WindowMeta


class InMemoryWindowStore:
    """All keys of one grouping in dictionaries; :meth:`bind` selects the key the driver sees."""

    def __init__(self) -> None:
        self.watermark = MIN_TIMESTAMP_MS
        self.output_watermark = MIN_TIMESTAMP_MS
        self.processing_time = 0
        self.key: Any = None
        self.meta: dict[Any, dict[Any, WindowMeta]] = {}
        self.bags: dict[tuple, list] = {}
        self.accumulators: dict[tuple, Any] = {}
        self.holds: dict[tuple, int] = {}
        # per domain (0 event time, 1 processing time): a heap of (t, seq, key, window)
        self._timers: tuple[list, list] = ([], [])
        self._pending: set[tuple] = set()  # (domain, key, window, t) queued
        self._seq = 0

    def bind(self, key: Any) -> InMemoryWindowStore:
        self.key = key
        return self

    # -- WindowStore: metadata ------------------------------------------------------------------
    def get_meta(self, window: Any) -> WindowMeta | None:
        m = self.meta.get(self.key, {}).get(window)
        return None if m is None else m.copy()

    def put_meta(self, window: Any, meta: WindowMeta) -> None:
        self.meta.setdefault(self.key, {})[window] = meta.copy()

    def windows(self) -> list[Any]:
        return list(self.meta.get(self.key, {}))

    def remove(self, window: Any) -> None:
        per_key = self.meta.get(self.key)
        if per_key is not None:
            per_key.pop(window, None)
            if not per_key:
                del self.meta[self.key]
        self.clear_contents(window)

    # -- WindowStore: contents ------------------------------------------------------------------
    def append(self, window: Any, value: Any) -> None:
        self.bags.setdefault((self.key, window), []).append(value)

    def append_all(self, window: Any, values: list) -> None:
        self.bags.setdefault((self.key, window), []).extend(values)

    def read_bag(self, window: Any) -> list:
        return list(self.bags.get((self.key, window), ()))

    def get_accumulator(self, window: Any, default: Any) -> Any:
        return self.accumulators.get((self.key, window), default)

    def put_accumulator(self, window: Any, acc: Any) -> None:
        self.accumulators[(self.key, window)] = acc

    def clear_contents(self, window: Any) -> None:
        self.bags.pop((self.key, window), None)
        self.accumulators.pop((self.key, window), None)

    # -- WindowStore: timers and holds ----------------------------------------------------------
    def _timer(self, domain: int, window: Any, t: int) -> None:
        ident = (domain, self.key, window, t)
        if ident in self._pending:
            return
        self._pending.add(ident)
        self._seq += 1
        heapq.heappush(self._timers[domain], (t, self._seq, self.key, window))

    def set_event_timer(self, window: Any, t: int) -> None:
        self._timer(0, window, t)

    def set_processing_timer(self, window: Any, t: int) -> None:
        self._timer(1, window, t)

    def set_hold(self, window: Any, t: int | None) -> None:
        if t is None:
            self.holds.pop((self.key, window), None)
        else:
            self.holds[(self.key, window)] = t

    # -- the runner's side ----------------------------------------------------------------------
    def process(self, key: Any, value: Any, timestamp_ms: int, windows: Any, driver: WindowDriver,
                sink: Any) -> None:
        """One element of ``key``; ``sink.for_key(key)`` receives the panes."""
        driver.process_element(value, timestamp_ms, windows, self.bind(key), sink.for_key(key))

    def _pop_due(self, domain: int, due: Any) -> tuple[Any, Any] | None:
        """The earliest timer of ``domain`` if it is due."""
        heap = self._timers[domain]
        if not heap or not due(heap[0][0]):
            return None
        t, _, key, window = heapq.heappop(heap)
        self._pending.discard((domain, key, window, t))
        return key, window

    def advance_watermark(self, watermark: int, driver: WindowDriver, sink: Any) -> None:
        """Set the input watermark and fire every event timer it passed, earliest first."""
        self.watermark = max(self.watermark, watermark)
        wm = self.watermark
        while (got := self._pop_due(0, lambda t: t < wm)) is not None:
            key, window = got
            driver.on_event_timer(window, self.bind(key), sink.for_key(key))

    def advance_processing_time(self, now: int, driver: WindowDriver, sink: Any) -> None:
        """Set processing time and fire every processing timer due by then, earliest first."""
        self.processing_time = max(self.processing_time, now)
        t_now = self.processing_time
        while (got := self._pop_due(1, lambda t: t <= t_now)) is not None:
            key, window = got
            driver.on_processing_timer(window, self.bind(key), sink.for_key(key))

    def min_hold(self) -> int | None:
        return min(self.holds.values()) if self.holds else None

    def snapshot(self) -> Any:
        return copy.deepcopy({k: v for k, v in vars(self).items() if k != "key"})

    def restore(self, snap: Any) -> None:
        vars(self).update(copy.deepcopy(snap))
        self.key = None

    def is_empty(self) -> bool:
        """No state, contents, holds or pending timers of any key are left."""
        return not (self.meta or self.bags or self.accumulators or self.holds)


__all__ = ["InMemoryWindowStore", "PaneSink"]
