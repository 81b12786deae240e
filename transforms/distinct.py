"""Distinct: each distinct element once per window (and pane).

Built as ``(x, None)`` pairs counted per key, then the keys: the element must be hashable.

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     assert_that(p | fl.Create([1, 2, 1, 3, 2]) | Distinct(), equal_to([1, 2, 3]))
"""

from __future__ import annotations

from typing import Any

from fluvial.combine import CombinePerKey
from fluvial.combiners import CountCombineFn
from fluvial.elementwise import Map
from fluvial.ptransform import PTransform
from fluvial.transforms.keys import Keys

__all__ = ["Distinct"]


def _with_none(x: Any) -> tuple:
    return (x, None)


class Distinct(PTransform):
    """Removes duplicates within each window; the output keeps the window, with the timestamp
    the window's timestamp combiner gives (end of window by default)."""

    def expand(self, pcoll: Any) -> Any:
        keyed = pcoll | "PairWithNone" >> Map(_with_none)
        counted = keyed | "CombinePerKey" >> CombinePerKey(CountCombineFn())
        return counted | "Keys" >> Keys()
