"""Top: the ``n`` largest (or smallest) elements per window, as a list, largest first.

``Top.Of(n, key=None, reverse=False)`` over all elements, ``Top.PerKey(n, ...)`` per key
(``(key, [values])``), and the shorthands ``Top.Largest(n)``, ``Top.Smallest(n)``,
``Top.LargestPerKey(n)``, ``Top.SmallestPerKey(n)``. ``key`` orders elements by ``key(x)``;
``reverse=True`` picks the smallest, smallest first.

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     nums = p | fl.Create([5, 1, 4, 2])
...     assert_that(nums | Top.Largest(2), equal_to([[5, 4]]))
...     assert_that(nums | Top.Smallest(2), equal_to([[1, 2]]), label="smallest")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from fluvial.combine import CombineGlobally, CombinePerKey
from fluvial.combiners import TopCombineFn
from fluvial.ptransform import PTransform

__all__ = ["Top"]

KeyFn = Optional[Callable[[Any], Any]]


class _TopOf(PTransform):
    def __init__(self, n: int, key: KeyFn = None, reverse: bool = False, name: str = "Of") -> None:
        self.combine_fn = TopCombineFn(n, key=key, reverse=reverse)  # validates n
        self.n = n
        self.key = key
        self.reverse = reverse
        self.name = name
        self._defaults = True

    def without_defaults(self) -> _TopOf:
        """Emit nothing (instead of ``[]``) for an empty input in the global window."""
        self._defaults = False
        return self

    def default_label(self) -> str:
        return f"Top.{self.name}({self.n})"

    def expand(self, pcoll: Any) -> Any:
        combine = CombineGlobally(self.combine_fn)
        if not self._defaults:
            combine = combine.without_defaults()
        return pcoll | "CombineGlobally" >> combine


class _TopPerKey(PTransform):
    def __init__(
        self, n: int, key: KeyFn = None, reverse: bool = False, name: str = "PerKey"
    ) -> None:
        self.combine_fn = TopCombineFn(n, key=key, reverse=reverse)
        self.n = n
        self.name = name

    def default_label(self) -> str:
        return f"Top.{self.name}({self.n})"

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "CombinePerKey" >> CombinePerKey(self.combine_fn)


class Top:
    """Namespace of the Top transforms (see the module docstring)."""

    @staticmethod
    def Of(n: int, key: KeyFn = None, reverse: bool = False) -> _TopOf:  # noqa: N802
        """The ``n`` largest elements of each window (smallest with ``reverse=True``)."""
        return _TopOf(n, key, reverse)

    @staticmethod
    def PerKey(n: int, key: KeyFn = None, reverse: bool = False) -> _TopPerKey:  # noqa: N802
        """``(k, [the n largest values of k])`` per key and window."""
        return _TopPerKey(n, key, reverse)

    @staticmethod
    def Largest(n: int, key: KeyFn = None) -> _TopOf:  # noqa: N802
        return _TopOf(n, key, reverse=False, name="Largest")

    @staticmethod
    def Smallest(n: int, key: KeyFn = None) -> _TopOf:  # noqa: N802
        return _TopOf(n, key, reverse=True, name="Smallest")

    @staticmethod
    def LargestPerKey(n: int, key: KeyFn = None) -> _TopPerKey:  # noqa: N802
        return _TopPerKey(n, key, reverse=False, name="LargestPerKey")

    @staticmethod
    def SmallestPerKey(n: int, key: KeyFn = None) -> _TopPerKey:  # noqa: N802
        return _TopPerKey(n, key, reverse=True, name="SmallestPerKey")
