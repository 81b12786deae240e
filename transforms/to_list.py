"""ToList: all elements of a window as one list (order unspecified).

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     lists = p | fl.Create([1]) | ToList.Globally()
...     assert_that(lists, equal_to([[1]]))
"""

from __future__ import annotations

from typing import Any

from fluvial.combine import CombineGlobally, CombinePerKey
from fluvial.combiners import ToListCombineFn
from fluvial.ptransform import PTransform

__all__ = ["ToList"]


class ToList:
    """``ToList.Globally()`` → one list per window (``[]`` for an empty input in the global
    window); ``ToList.PerKey()`` → ``(key, [values])``."""

    class Globally(PTransform):
        def __init__(self) -> None:
            self._defaults = True

        def without_defaults(self) -> ToList.Globally:
            self._defaults = False
            return self

        def default_label(self) -> str:
            return "ToList.Globally"

        def expand(self, pcoll: Any) -> Any:
            combine = CombineGlobally(ToListCombineFn())
            if not self._defaults:
                combine = combine.without_defaults()
            return pcoll | "CombineGlobally" >> combine

    class PerKey(PTransform):
        def default_label(self) -> str:
            return "ToList.PerKey"

        def expand(self, pcoll: Any) -> Any:
            return pcoll | "CombinePerKey" >> CombinePerKey(ToListCombineFn())
