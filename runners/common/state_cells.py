"""User state cells (value, bag, map, combining) with TTL, over a plain dict table.

Shared by runners that execute fluvial's stateful DoFns themselves. The table maps
``(key, window, name)`` to a payload; TTL is kept per cell (per entry for maps) as an expiry
instant in event time (expired once the watermark passes it) or processing time (expired once
the clock reaches it).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

from fluvial.timeutil import TimeDomain
from fluvial.userstate import StateSpec

_MISSING = object()


class Clock:
    """What cells need to know about time for the element or timer being processed."""

    __slots__ = ("watermark", "processing_time", "write_ts")

    def __init__(self) -> None:
        self.watermark = 0
        self.processing_time = 0
        self.write_ts = 0


class StateTable:
    """All user state of one operator, with a heap of TTL expiries for cleanup."""

    def __init__(self) -> None:
        self.cells: dict[tuple, Any] = {}
        self.expiries: list[tuple[int, int, tuple, Any]] = []  # (t, domain, cellkey, subkey)
        self.clock = Clock()
        self._seq = 0

    # expiry --------------------------------------------------------------------------------
    def expiry_for(self, spec: StateSpec) -> tuple[int, int] | None:
        ttl = spec.ttl
        if ttl is None:
            return None
        if ttl.time_domain is TimeDomain.WATERMARK:
            return (0, self.clock.write_ts + ttl.ttl_ms)
        return (1, self.clock.processing_time + ttl.ttl_ms)

    def is_expired(self, exp: tuple[int, int] | None) -> bool:
        if exp is None:
            return False
        dom, t = exp
        if dom == 0:
            return self.clock.watermark > t
        return self.clock.processing_time >= t

    def note_expiry(self, exp: tuple[int, int] | None, cellkey: tuple, subkey: Any = _MISSING) -> None:
        if exp is not None:
            self._seq += 1
            heapq.heappush(self.expiries, (exp[1], exp[0], self._seq, cellkey, subkey))

    def sweep(self) -> None:
        """Delete cells whose TTL has passed (called on watermark / clock advances)."""
        h = self.expiries
        while h:
            t, dom, _, cellkey, subkey = h[0]
            now_expired = self.clock.watermark > t if dom == 0 else self.clock.processing_time >= t
            if not now_expired:
                # the heap mixes domains; stop at the first live entry of the smallest time
                break
            heapq.heappop(h)
            payload = self.cells.get(cellkey)
            if payload is None:
                continue
            if subkey is _MISSING:
                if self.is_expired(payload[1]):
                    del self.cells[cellkey]
            else:
                entry = payload.get(subkey)
                if entry is not None and self.is_expired(entry[1]):
                    del payload[subkey]
                    if not payload:
                        del self.cells[cellkey]

    def clear_window(self, key: Any, window: Any, names: Iterator[str]) -> None:
        for n in names:
            self.cells.pop((key, window, n), None)

    def cell(self, spec: StateSpec, key: Any, window: Any) -> Any:
        cls = _CELLS[spec.kind]
        return cls(self, spec, (key, window, spec.name))

    def snapshot(self) -> dict:
        return {"cells": self.cells, "expiries": self.expiries, "seq": self._seq}

    def restore(self, st: dict) -> None:
        self.cells = st["cells"]
        self.expiries = st["expiries"]
        self._seq = st["seq"]


class _Cell:
    __slots__ = ("table", "spec", "ck")

    def __init__(self, table: StateTable, spec: StateSpec, ck: tuple) -> None:
        self.table = table
        self.spec = spec
        self.ck = ck

    def _get(self) -> Any:
        payload = self.table.cells.get(self.ck)
        if payload is None:
            return _MISSING
        if self.table.is_expired(payload[1]):
            del self.table.cells[self.ck]
            return _MISSING
        return payload[0]

    def _put(self, value: Any) -> None:
        exp = self.table.expiry_for(self.spec)
        self.table.cells[self.ck] = (value, exp)
        self.table.note_expiry(exp, self.ck)

    def clear(self) -> None:
        self.table.cells.pop(self.ck, None)


class ValueCell(_Cell):
    """``read()`` (None when unset or expired), ``write(v)``, ``clear()``."""

    def read(self) -> Any:
        v = self._get()
        return None if v is _MISSING else v

    def write(self, value: Any) -> None:
        self._put(value)


class BagCell(_Cell):
    """``add(v)``, ``read()`` (a list), ``clear()``; TTL restarts on every add."""

    def read(self) -> list:
        v = self._get()
        return [] if v is _MISSING else list(v)

    def add(self, value: Any) -> None:
        v = self._get()
        items = [] if v is _MISSING else v
        items.append(value)
        self._put(items)


class CombiningCell(_Cell):
    """``add(v)``, ``read()`` (the combined value), ``clear()``."""

    def add(self, value: Any) -> None:
        fn = self.spec.combine_fn  # type: ignore[attr-defined]
        acc = self._get()
        if acc is _MISSING:
            acc = fn.create_accumulator()
        self._put(fn.add_input(acc, value))

    def read(self) -> Any:
        fn = self.spec.combine_fn  # type: ignore[attr-defined]
        acc = self._get()
        if acc is _MISSING:
            acc = fn.create_accumulator()
        return fn.extract_output(acc)


class MapCell(_Cell):
    """A map whose entries expire individually."""

    def _entries(self) -> dict:
        payload = self.table.cells.get(self.ck)
        if payload is None:
            return {}
        dead = [k for k, (_, exp) in payload.items() if self.table.is_expired(exp)]
        for k in dead:
            del payload[k]
        if not payload:
            del self.table.cells[self.ck]
            return {}
        return payload

    def get(self, k: Any, default: Any = None) -> Any:
        e = self._entries().get(k)
        return default if e is None else e[0]

    def put(self, k: Any, v: Any) -> None:
        payload = self.table.cells.get(self.ck)
        if payload is None:
            payload = self.table.cells[self.ck] = {}
        exp = self.table.expiry_for(self.spec)
        payload[k] = (v, exp)
        self.table.note_expiry(exp, self.ck, k)

    def remove(self, k: Any) -> None:
        payload = self.table.cells.get(self.ck)
        if payload is not None:
            payload.pop(k, None)
            if not payload:
                del self.table.cells[self.ck]

    def contains(self, k: Any) -> bool:
        return k in self._entries()

    __contains__ = contains

    def items(self) -> list[tuple[Any, Any]]:
        return [(k, e[0]) for k, e in self._entries().items()]

    def keys(self) -> list[Any]:
        return list(self._entries())

    def values(self) -> list[Any]:
        return [e[0] for e in self._entries().values()]

    def is_empty(self) -> bool:
        return not self._entries()


_CELLS = {"value": ValueCell, "bag": BagCell, "map": MapCell, "combining": CombiningCell}
