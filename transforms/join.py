"""Windowed joins of two keyed PCollections, built on CoGroupByKey: InnerJoin, LeftOuterJoin,
RightOuterJoin and FullOuterJoin.

Applied to ``(left, right)`` (or a dict of two), each gives ``(key, (left_value, right_value))``
for every pair of values with the same key in the same window (and pane); outer joins pair a
value without a partner with ``None``. Both inputs must have the same window function.

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     orders = p | "O" >> fl.Create([("amy", "book"), ("bob", "pen")])
...     names = p | "N" >> fl.Create([("amy", "Amy A.")])
...     assert_that((orders, names) | InnerJoin(), equal_to([("amy", ("book", "Amy A."))]))
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fluvial.elementwise import FlatMap
from fluvial.errors import PipelineConstructionError
from fluvial.ptransform import PTransform
from fluvial.transforms.cogbk import CoGroupByKey

__all__ = ["InnerJoin", "LeftOuterJoin", "RightOuterJoin", "FullOuterJoin"]


def _pairs(kv: Any, left_outer: bool, right_outer: bool) -> Iterator[tuple]:
    key, (lefts, rights) = kv
    if lefts and rights:
        for lv in lefts:
            for rv in rights:
                yield (key, (lv, rv))
    elif lefts and left_outer:
        for lv in lefts:
            yield (key, (lv, None))
    elif rights and right_outer:
        for rv in rights:
            yield (key, (None, rv))


class _Join(PTransform):
    _left_outer = False
    _right_outer = False

    def expand(self, pcolls: Any) -> Any:
        name = type(self).__name__
        if isinstance(pcolls, dict):
            pcolls = tuple(pcolls.values())
        if not isinstance(pcolls, (tuple, list)) or len(pcolls) != 2:
            raise PipelineConstructionError(
                f"transform '{self.label or name}': {name} is applied to two keyed PCollections: "
                f"(left, right) | {name}()"
            )
        grouped = tuple(pcolls) | "CoGroupByKey" >> CoGroupByKey()
        return grouped | "Pairs" >> FlatMap(_pairs, self._left_outer, self._right_outer)


class InnerJoin(_Join):
    """``(k, (l, r))`` for every left value ``l`` and right value ``r`` of key ``k``."""


class LeftOuterJoin(_Join):
    """As InnerJoin, plus ``(k, (l, None))`` for left values whose key has no right value."""

    _left_outer = True


class RightOuterJoin(_Join):
    """As InnerJoin, plus ``(k, (None, r))`` for right values whose key has no left value."""

    _right_outer = True


class FullOuterJoin(_Join):
    """Inner pairs plus unmatched values from both sides, each paired with ``None``."""

    _left_outer = True
    _right_outer = True
