"""The state cells a stateful DoFn sees (ValueState, BagState, MapState, CombiningState), with
TTL, written once over raw per-(key, window) storage that each runner provides.

Raw storage (the runner's side; a serialising backend maps each onto its own state kind so one
write costs O(1)):

* :class:`RawValue` — ``get(default)``, ``set(v)``, ``clear()``;
* :class:`RawBag` — ``add(v)``, ``read()`` (a list, any order), ``clear()``;
* :class:`RawMap` — ``get(k, default)``, ``put(k, v)``, ``remove(k)``, ``items()``, ``clear()``.

How cells keep their data: a value or combining cell keeps ``(payload, expiry)`` in a RawValue;
a bag keeps its values in a RawBag and, with TTL, the bag's expiry in a RawValue named
``<name>!ttl``; a map keeps ``(value, expiry)`` per entry in a RawMap. ``expiry`` is None
without TTL.

TTL rules (:class:`fluvial.userstate.StateTTL`): a write at event time ``w`` (the timestamp of
the element or timer being processed) with an event-time TTL expires the data once
``watermark > w + ttl``; a processing-time TTL once ``processing_time >= now + ttl``. Every read
checks expiry, so reads are exact whenever cleanup runs. A bag expires as a whole ``ttl`` after
its last ``add``; map entries expire one by one. Each write asks for a cleanup
(:meth:`CellContext.cleanup_at`) so a runner can free memory; :meth:`sweep` does it.

>>> ctx = CellContext(watermark=0, processing_time=0, write_ts=5_000)
>>> from fluvial.userstate import ValueStateSpec
>>> raw = DictStorage()
>>> cell = make_cell(ValueStateSpec("n", ttl=10), raw, ctx)
>>> cell.write(1); cell.read()
1
>>> ctx.watermark = 15_001; cell.read() is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fluvial.timeutil import TimeDomain
from fluvial.userstate import StateSpec

_ABSENT = object()
TTL_SUFFIX = "!ttl"


class RawValue(Protocol):
    def get(self, default: Any) -> Any: ...
    def set(self, value: Any) -> None: ...
    def clear(self) -> None: ...


class RawBag(Protocol):
    def add(self, value: Any) -> None: ...
    def read(self) -> list: ...
    def clear(self) -> None: ...


class RawMap(Protocol):
    def get(self, key: Any, default: Any) -> Any: ...
    def put(self, key: Any, value: Any) -> None: ...
    def remove(self, key: Any) -> None: ...
    def items(self) -> list[tuple[Any, Any]]: ...
    def clear(self) -> None: ...


class RawStorage(Protocol):
    """The raw cells of one (key, window), by state name."""

    def value(self, name: str) -> RawValue: ...
    def bag(self, name: str) -> RawBag: ...
    def map(self, name: str) -> RawMap: ...


class CellContext:
    """What cells know of the call being made: the input watermark and processing time (ms),
    the event time of writes, and where cleanup requests go (``on_cleanup(name, domain, t)``:
    free the cell's expired data once ``watermark >= t`` (event time) or ``processing_time >=
    t``)."""

    __slots__ = ("watermark", "processing_time", "write_ts", "on_cleanup")

    def __init__(self, watermark: int, processing_time: int, write_ts: int,
                 on_cleanup: Callable[[str, TimeDomain, int], None] | None = None) -> None:
        self.watermark = watermark
        self.processing_time = processing_time
        self.write_ts = write_ts
        self.on_cleanup = on_cleanup

    def expiry(self, spec: StateSpec) -> int | None:
        """When data written now under ``spec`` expires (None: no TTL)."""
        ttl = spec.ttl
        if ttl is None:
            return None
        if ttl.time_domain is TimeDomain.WATERMARK:
            return self.write_ts + ttl.ttl_ms
        return self.processing_time + ttl.ttl_ms

    def expired(self, spec: StateSpec, at: int | None) -> bool:
        if at is None:
            return False
        if spec.ttl.time_domain is TimeDomain.WATERMARK:  # type: ignore[union-attr]
            return self.watermark > at
        return self.processing_time >= at

    def cleanup_at(self, spec: StateSpec, at: int | None) -> None:
        """Ask the runner to sweep ``spec``'s cell once data expiring at ``at`` has expired."""
        if at is None or self.on_cleanup is None:
            return
        domain = spec.ttl.time_domain  # type: ignore[union-attr]
        self.on_cleanup(spec.name, domain, at + 1 if domain is TimeDomain.WATERMARK else at)


class _Cell:
    __slots__ = ("spec", "raw", "ctx")

    def __init__(self, spec: StateSpec, raw: Any, ctx: CellContext) -> None:
        self.spec = spec
        self.raw = raw
        self.ctx = ctx


class _PayloadCell(_Cell):
    """A cell whose payload and expiry sit together in one RawValue."""

    def _get(self) -> Any:
        got = self.raw.get(_ABSENT)
        if got is _ABSENT:
            return _ABSENT
        payload, at = got
        if self.ctx.expired(self.spec, at):
            self.raw.clear()
            return _ABSENT
        return payload

    def _put(self, payload: Any) -> None:
        at = self.ctx.expiry(self.spec)
        self.raw.set((payload, at))
        self.ctx.cleanup_at(self.spec, at)

    def clear(self) -> None:
        self.raw.clear()

    def sweep(self) -> int | None:
        """Free expired data; returns when the remaining data expires (None: never / empty)."""
        got = self.raw.get(_ABSENT)
        if got is _ABSENT:
            return None
        if self.ctx.expired(self.spec, got[1]):
            self.raw.clear()
            return None
        return got[1]

    def is_empty(self) -> bool:
        return self._get() is _ABSENT


class ValueCell(_PayloadCell):
    """ValueState: ``read()`` (None when unset or expired), ``write(v)``, ``clear()``."""

    def read(self) -> Any:
        v = self._get()
        return None if v is _ABSENT else v

    def write(self, value: Any) -> None:
        self._put(value)


class CombiningCell(_PayloadCell):
    """CombiningState: ``add(v)``, ``read()`` (the combined value), ``clear()``."""

    def add(self, value: Any) -> None:
        fn = self.spec.combine_fn  # type: ignore[attr-defined]
        acc = self._get()
        if acc is _ABSENT:
            acc = fn.create_accumulator()
        self._put(fn.add_input(acc, value))

    def read(self) -> Any:
        fn = self.spec.combine_fn  # type: ignore[attr-defined]
        acc = self._get()
        return fn.extract_output(fn.create_accumulator() if acc is _ABSENT else acc)


class _PlainValueCell(ValueCell):
    """ValueState without TTL: the same data (``(payload, None)``), read and written without
    the expiry checks."""

    __slots__ = ()

    def read(self) -> Any:
        got = self.raw.get(_ABSENT)
        return None if got is _ABSENT else got[0]

    def write(self, value: Any) -> None:
        self.raw.set((value, None))


class _DictValueCell(_PlainValueCell):
    """:class:`_PlainValueCell` over a :class:`DictStorage`: straight at its dict."""

    __slots__ = ("d", "k")

    def __init__(self, spec: StateSpec, raw: Any, ctx: CellContext) -> None:
        super().__init__(spec, raw, ctx)
        self.d, self.k = raw.d, raw.k

    def read(self) -> Any:
        got = self.d.get(self.k)
        return None if got is None else got[0]

    def write(self, value: Any) -> None:
        self.d[self.k] = (value, None)


class BagCell(_Cell):
    """BagState: ``add(v)``, ``read()`` (a list), ``clear()``; with TTL the whole bag expires
    ``ttl`` after its last ``add``."""

    __slots__ = ("expiry_raw",)

    def __init__(self, spec: StateSpec, raw: Any, ctx: CellContext, expiry_raw: Any) -> None:
        super().__init__(spec, raw, ctx)
        self.expiry_raw = expiry_raw

    def _live(self) -> bool:
        if self.expiry_raw is None:
            return True
        at = self.expiry_raw.get(None)
        if self.ctx.expired(self.spec, at):
            self.clear()
            return False
        return True

    def read(self) -> list:
        return list(self.raw.read()) if self._live() else []

    def add(self, value: Any) -> None:
        self._live()
        self.raw.add(value)
        if self.expiry_raw is not None:
            at = self.ctx.expiry(self.spec)
            self.expiry_raw.set(at)
            self.ctx.cleanup_at(self.spec, at)

    def clear(self) -> None:
        self.raw.clear()
        if self.expiry_raw is not None:
            self.expiry_raw.clear()

    def sweep(self) -> int | None:
        if self.expiry_raw is None:
            return None
        at = self.expiry_raw.get(None)
        if at is None or self.ctx.expired(self.spec, at):
            self.clear()
            return None
        return at

    def is_empty(self) -> bool:
        return not self.read()


class MapCell(_Cell):
    """MapState: ``get(k, default)``, ``put(k, v)``, ``remove(k)``, ``contains(k)`` / ``k in
    cell``, ``items()``, ``keys()``, ``values()``, ``is_empty()``, ``clear()``; with TTL each
    entry expires on its own."""

    def _entries(self) -> list[tuple[Any, Any]]:
        out = []
        for k, (v, at) in self.raw.items():
            if self.ctx.expired(self.spec, at):
                self.raw.remove(k)
            else:
                out.append((k, v))
        return out

    def get(self, k: Any, default: Any = None) -> Any:
        e = self.raw.get(k, None)
        if e is None:
            return default
        if self.ctx.expired(self.spec, e[1]):
            self.raw.remove(k)
            return default
        return e[0]

    def put(self, k: Any, v: Any) -> None:
        at = self.ctx.expiry(self.spec)
        self.raw.put(k, (v, at))
        self.ctx.cleanup_at(self.spec, at)

    def remove(self, k: Any) -> None:
        self.raw.remove(k)

    def contains(self, k: Any) -> bool:
        return self.get(k, _ABSENT) is not _ABSENT

    __contains__ = contains

    def items(self) -> list[tuple[Any, Any]]:
        return self._entries()

    def keys(self) -> list[Any]:
        return [k for k, _ in self._entries()]

    def values(self) -> list[Any]:
        return [v for _, v in self._entries()]

    def is_empty(self) -> bool:
        return not self._entries()

    def clear(self) -> None:
        self.raw.clear()

    def sweep(self) -> int | None:
        """Free expired entries; returns when the earliest remaining entry expires."""
        nxt = None
        for k, (_, at) in self.raw.items():
            if self.ctx.expired(self.spec, at):
                self.raw.remove(k)
            elif at is not None and (nxt is None or at < nxt):
                nxt = at
        return nxt


def make_cell(spec: StateSpec, storage: RawStorage, ctx: CellContext) -> Any:
    """The cell of ``spec`` over ``storage`` (the raw cells of one key and window)."""
    kind = spec.kind
    if kind == "value":
        raw = storage.value(spec.name)
        if spec.ttl is not None:
            return ValueCell(spec, raw, ctx)
        return _DictValueCell(spec, raw, ctx) if type(raw) is _DictValue else _PlainValueCell(
            spec, raw, ctx)
    if kind == "combining":
        return CombiningCell(spec, storage.value(spec.name), ctx)
    if kind == "bag":
        aux = storage.value(spec.name + TTL_SUFFIX) if spec.ttl is not None else None
        return BagCell(spec, storage.bag(spec.name), ctx, aux)
    if kind == "map":
        return MapCell(spec, storage.map(spec.name), ctx)
    raise ValueError(f"unknown state kind {kind!r}")


# -- a plain in-memory storage (the reference; the direct runner uses it per key and window) -----
class _DictValue:
    __slots__ = ("d", "k")

    def __init__(self, d: dict, k: str) -> None:
        self.d, self.k = d, k

    def get(self, default: Any) -> Any:
        return self.d.get(self.k, default)

    def set(self, value: Any) -> None:
        self.d[self.k] = value

    def clear(self) -> None:
        self.d.pop(self.k, None)


class _DictBag(_DictValue):
    __slots__ = ()

    def add(self, value: Any) -> None:
        lst = self.d.get(self.k)
        if lst is None:
            self.d[self.k] = [value]
        else:
            lst.append(value)

    def read(self) -> list:
        return list(self.d.get(self.k, ()))


class _DictMap(_DictValue):
    __slots__ = ()

    def get(self, key: Any, default: Any) -> Any:  # type: ignore[override]
        m = self.d.get(self.k)
        return default if m is None else m.get(key, default)

    def put(self, key: Any, value: Any) -> None:
        m = self.d.get(self.k)
        if m is None:
            m = self.d[self.k] = {}
        m[key] = value

    def remove(self, key: Any) -> None:
        m = self.d.get(self.k)
        if m is not None:
            m.pop(key, None)
            if not m:
                del self.d[self.k]

    def items(self) -> list[tuple[Any, Any]]:
        return list(self.d.get(self.k, {}).items())


class DictStorage:
    """Raw cells of one (key, window) in a dict ``{name: data}``; empty cells leave no entry,
    so ``not storage.data`` tells that the key and window hold no state."""

    __slots__ = ("data",)

    def __init__(self, data: dict | None = None) -> None:
        self.data: dict = {} if data is None else data

    def value(self, name: str) -> _DictValue:
        return _DictValue(self.data, name)

    def bag(self, name: str) -> _DictBag:
        return _DictBag(self.data, name)

    def map(self, name: str) -> _DictMap:
        return _DictMap(self.data, name)
