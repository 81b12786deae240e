"""Small fakes of Flink's keyed state and timer service, behaving as PyFlink's do where the Flink
runner's state adapters depend on it (no pyflink needed):

* state is scoped to the backend's current key; values are serialised (every ``value()`` /
  ``get()`` returns a fresh copy, as a serialising backend does, so an adapter that mutates
  what it read without writing it back loses the change);
* a ``MapState`` accepts only typed keys (int or str): in PyFlink's thread mode a MapState
  keyed by pickled bytes silently misses every lookup, so an adapter must not rely on it;
* timers are per (key, time) and coalesced; an event-time timer fires once the watermark is
  ``>= t`` (Flink's rule), in order of time, with the current key set and
  ``current_watermark()`` already returning the new watermark; a timer registered for a time
  the advancing watermark has passed fires within the same advance;
* the watermark starts at ``Long.MIN_VALUE`` and the end of input is ``Long.MAX_VALUE``;
* a snapshot holds state and timers (as a Flink checkpoint does).
"""

from __future__ import annotations

import copy
import heapq
import pickle
from typing import Any

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1


def _typed(key: Any) -> None:
    if type(key) not in (int, str):
        raise TypeError(f"MapState key {key!r}: only LONG/STRING keys are reliable in thread mode")


class FakeBackend:
    """A keyed state backend and timer service for one operator instance."""

    def __init__(self) -> None:
        self.current_key: Any = None
        self.values: dict[tuple[str, Any], bytes] = {}
        self.maps: dict[tuple[str, Any], dict[Any, bytes]] = {}
        self.watermark = LONG_MIN
        self.processing_time = 0
        self._event: list[tuple[int, int, Any]] = []
        self._proc: list[tuple[int, int, Any]] = []
        self._pending: set[tuple[int, Any, int]] = set()  # (domain, key, t)
        self._seq = 0
        self.registrations = 0

    # -- state ---------------------------------------------------------------------------------
    def value_state(self, name: str) -> FakeValueState:
        return FakeValueState(self, name)

    def map_state(self, name: str) -> FakeMapState:
        return FakeMapState(self, name)

    def timer_service(self) -> FakeTimerService:
        return FakeTimerService(self)

    def is_empty(self) -> bool:
        return not self.values and not any(self.maps.values())

    # -- timers --------------------------------------------------------------------------------
    def _register(self, domain: int, t: int) -> None:
        self.registrations += 1
        ident = (domain, self.current_key, t)
        if ident in self._pending:
            return
        self._pending.add(ident)
        self._seq += 1
        heapq.heappush(self._event if domain == 0 else self._proc, (t, self._seq, self.current_key))

    def advance_watermark(self, wm: int, fire: Any) -> None:
        """Set the watermark and fire every event timer with ``t <= wm``: ``fire(t, key)``
        with the key current."""
        self.watermark = max(self.watermark, wm)
        self._drain(0, self._event, self.watermark, fire)

    def advance_processing_time(self, now: int, fire: Any) -> None:
        self.processing_time = max(self.processing_time, now)
        self._drain(1, self._proc, self.processing_time, fire)

    def _drain(self, domain: int, heap: list, upto: int, fire: Any) -> None:
        while heap and heap[0][0] <= upto:
            t, _, key = heapq.heappop(heap)
            self._pending.discard((domain, key, t))
            self.current_key = key
            fire(t, key)

    def pending_event_timers(self) -> list[tuple[int, Any]]:
        return sorted((t, k) for t, _, k in self._event)

    # -- checkpoints ---------------------------------------------------------------------------
    def snapshot(self) -> dict:
        return copy.deepcopy({k: v for k, v in vars(self).items() if k != "current_key"})

    def restore(self, snap: dict) -> None:
        vars(self).update(copy.deepcopy(snap))
        self.current_key = None


class FakeValueState:
    def __init__(self, backend: FakeBackend, name: str) -> None:
        self.b, self.name = backend, name

    def value(self) -> Any:
        got = self.b.values.get((self.name, self.b.current_key))
        return None if got is None else pickle.loads(got)

    def update(self, value: Any) -> None:
        self.b.values[(self.name, self.b.current_key)] = pickle.dumps(value)

    def clear(self) -> None:
        self.b.values.pop((self.name, self.b.current_key), None)


class FakeMapState:
    def __init__(self, backend: FakeBackend, name: str) -> None:
        self.b, self.name = backend, name

    def _m(self, create: bool = False) -> dict | None:
        k = (self.name, self.b.current_key)
        m = self.b.maps.get(k)
        if m is None and create:
            m = self.b.maps[k] = {}
        return m

    def get(self, key: Any) -> Any:
        _typed(key)
        m = self._m()
        got = None if m is None else m.get(key)
        return None if got is None else pickle.loads(got)

    def put(self, key: Any, value: Any) -> None:
        _typed(key)
        self._m(True)[key] = pickle.dumps(value)  # type: ignore[index]

    def contains(self, key: Any) -> bool:
        _typed(key)
        m = self._m()
        return m is not None and key in m

    def remove(self, key: Any) -> None:
        _typed(key)
        m = self._m()
        if m is not None:
            m.pop(key, None)
            if not m:
                del self.b.maps[(self.name, self.b.current_key)]

    def keys(self) -> list:
        m = self._m()
        return [] if m is None else list(m)

    def items(self) -> list:
        m = self._m()
        return [] if m is None else [(k, pickle.loads(v)) for k, v in m.items()]

    def is_empty(self) -> bool:
        return not self._m()

    def clear(self) -> None:
        self.b.maps.pop((self.name, self.b.current_key), None)


class FakeTimerService:
    def __init__(self, backend: FakeBackend) -> None:
        self.b = backend

    def current_watermark(self) -> int:
        return self.b.watermark

    def current_processing_time(self) -> int:
        return self.b.processing_time

    def register_event_time_timer(self, t: int) -> None:
        self.b._register(0, t)

    def register_processing_time_timer(self, t: int) -> None:
        self.b._register(1, t)
