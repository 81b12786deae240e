"""Keyed state and timers for DoFns: ValueState, BagState, MapState, CombiningState (each with
optional TTL), event-time and processing-time timers. State is scoped per key and window.

>>> from fluvial import DoFn
>>> COUNT = CombiningStateSpec("count", sum)
>>> class Counter(DoFn):
...     def process(self, kv, count=DoFn.StateParam(COUNT)):
...         count.add(1)
...         yield kv[0], count.read()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from fluvial.errors import PipelineConstructionError
from fluvial.timeutil import TimeDomain, to_millis


@attrs.frozen
class StateTTL:
    """State expires ``ttl`` seconds after its last write, in event time (the element or timer
    timestamp of the write, expiring once the watermark passes it) or processing time."""

    ttl: object
    time_domain: TimeDomain = TimeDomain.WATERMARK
    ttl_ms: int = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        ms = to_millis(self.ttl)
        if ms <= 0:
            raise PipelineConstructionError(f"StateTTL: ttl must be positive seconds, got {self.ttl!r}")
        object.__setattr__(self, "ttl_ms", ms)


def _ttl(v: Any) -> StateTTL | None:
    if v is None or isinstance(v, StateTTL):
        return v
    return StateTTL(v)


class StateSpec:
    kind: str = ""
    name: str
    ttl: StateTTL | None

    def validate_name(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise PipelineConstructionError(f"{type(self).__name__}: name must be a non-empty str")


@attrs.frozen
class ValueStateSpec(StateSpec):
    """A single value: ``read()``, ``write(v)``, ``clear()``."""

    name: str
    ttl: StateTTL | None = attrs.field(default=None, converter=_ttl)
    kind = "value"


@attrs.frozen
class BagStateSpec(StateSpec):
    """An unordered bag: ``add(v)``, ``read()`` (a list), ``clear()``."""

    name: str
    ttl: StateTTL | None = attrs.field(default=None, converter=_ttl)
    kind = "bag"


@attrs.frozen
class MapStateSpec(StateSpec):
    """A map: ``get(k, default)``, ``put(k, v)``, ``remove(k)``, ``items()``, ``keys()``,
    ``contains(k)``, ``clear()``. With TTL, each entry expires on its own."""

    name: str
    ttl: StateTTL | None = attrs.field(default=None, converter=_ttl)
    kind = "map"


@attrs.frozen
class CombiningStateSpec(StateSpec):
    """Values folded by a CombineFn (or a callable over an iterable, e.g. ``sum``):
    ``add(v)``, ``read()``, ``clear()``."""

    name: str
    combine_fn: Any
    ttl: StateTTL | None = attrs.field(default=None, converter=_ttl)
    kind = "combining"

    def __attrs_post_init__(self) -> None:
        from fluvial.combine import as_combine_fn

        object.__setattr__(self, "combine_fn", as_combine_fn(self.combine_fn, f"CombiningStateSpec({self.name})"))


# Beam's names
ReadModifyWriteStateSpec = ValueStateSpec
CombiningValueStateSpec = CombiningStateSpec


@attrs.frozen
class TimerSpec:
    """A timer of a stateful DoFn in event time (``TimeDomain.WATERMARK``) or processing time
    (``TimeDomain.REAL_TIME``). Event-time timers fire once the watermark reaches their time
    (``watermark >= t``, as in Beam and Flink); processing-time timers once the clock reaches it."""

    name: str
    time_domain: TimeDomain = TimeDomain.WATERMARK

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.time_domain, TimeDomain):
            raise PipelineConstructionError(
                f"TimerSpec({self.name!r}): time_domain must be TimeDomain.WATERMARK or TimeDomain.REAL_TIME"
            )


def on_timer(spec: TimerSpec) -> Callable[[Callable], Callable]:
    """Decorate the DoFn method called when ``spec``'s timer fires."""
    if not isinstance(spec, TimerSpec):
        raise TypeError(f"on_timer needs a TimerSpec, got {spec!r}")

    def deco(fn: Callable) -> Callable:
        fn._fluvial_on_timer = spec  # type: ignore[attr-defined]
        return fn

    return deco


def on_window_expiration(fn: Callable) -> Callable:
    """Decorate the DoFn method called once per key and window when the window expires
    (watermark past window end + allowed lateness), before its state is cleared."""
    fn._fluvial_on_window_expiration = True  # type: ignore[attr-defined]
    return fn
