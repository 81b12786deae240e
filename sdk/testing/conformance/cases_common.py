"""Small building blocks shared by the conformance cases.

Layering: the cases live in the sdk, so they use only sdk primitives (ParDo with small DoFns,
GroupByKey, CombinePerKey) and never ``fluvial.transforms`` or a runner.
"""

from __future__ import annotations

from typing import Any

from fluvial.dofn import DoFn
from fluvial.gbk import GroupByKey
from fluvial.pardo import ParDo
from fluvial.testing.conformance.case import Out, early, late, on_time, unknown
from fluvial.values import TimestampedValue

__all__ = [
    "Out",
    "SortValues",
    "Tag",
    "early",
    "gbk_sorted",
    "late",
    "on_time",
    "tv",
    "tvs",
    "unknown",
]


def tv(value: Any, t: float) -> TimestampedValue:
    """``value`` at event time ``t`` seconds."""
    return TimestampedValue(value, t)


def tvs(key: str, pairs: list[tuple[Any, float]]) -> list[TimestampedValue]:
    """``[(key, v) at t for v, t in pairs]``."""
    return [TimestampedValue((key, v), t) for v, t in pairs]


class SortValues(DoFn):
    """(k, iterable) -> (k, sorted list): GroupByKey lists arrive in arrival order."""

    def process(self, kv):
        yield (kv[0], sorted(kv[1]))


class Tag(DoFn):
    """x -> (tag, x)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def process(self, x):
        yield (self.tag, x)


def gbk_sorted(pc: Any, prefix: str = "") -> Any:
    """GroupByKey followed by sorting each group's values."""
    grouped = pc | f"{prefix}GroupByKey" >> GroupByKey()
    return grouped | f"{prefix}SortValues" >> ParDo(SortValues())
