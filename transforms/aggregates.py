"""Count, Sum, Mean, Min and Max: ``.Globally()`` (one value per window), ``.PerKey()``
(``(key, value)`` per key and window), and for Count ``.PerElement()``.

They combine with the sdk's built-in CombineFns through CombinePerKey / CombineGlobally, so a
runner can aggregate them vectorised. On an empty input in the global window, ``Globally``
emits the combiner's empty result (0 for Count and Sum, NaN for Mean, None for Min and Max),
as Beam does; ``.without_defaults()`` emits nothing instead. In other windows, empty windows
emit nothing.

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     kvs = p | fl.Create([("a", 1), ("a", 2), ("b", 5)])
...     assert_that(kvs | Sum.PerKey(), equal_to([("a", 3), ("b", 5)]))
...     assert_that(kvs | Count.Globally(), equal_to([3]), label="count")
"""

from __future__ import annotations

from typing import Any

from fluvial.combine import CombineFn, CombineGlobally, CombinePerKey
from fluvial.combiners import (
    CountCombineFn,
    MaxCombineFn,
    MeanCombineFn,
    MinCombineFn,
    SumCombineFn,
)
from fluvial.elementwise import Map
from fluvial.ptransform import PTransform

__all__ = ["Count", "Sum", "Mean", "Min", "Max"]


class _Globally(PTransform):
    """Combine every element of a window with a fresh instance of ``_fn``."""

    _fn: type[CombineFn] = CombineFn
    _name = ""

    def __init__(self) -> None:
        self._defaults = True

    def without_defaults(self) -> _Globally:
        """Emit nothing for an empty input (instead of the combiner's empty result)."""
        self._defaults = False
        return self

    def default_label(self) -> str:
        return f"{self._name}.Globally"

    def expand(self, pcoll: Any) -> Any:
        combine = CombineGlobally(self._fn())
        if not self._defaults:
            combine = combine.without_defaults()
        return pcoll | "CombineGlobally" >> combine


class _PerKey(PTransform):
    """Combine the values of each key and window with a fresh instance of ``_fn``."""

    _fn: type[CombineFn] = CombineFn
    _name = ""

    def default_label(self) -> str:
        return f"{self._name}.PerKey"

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "CombinePerKey" >> CombinePerKey(self._fn())


def _with_none(x: Any) -> tuple:
    return (x, None)


class Count:
    """Counting: ``Count.Globally()`` → number of elements, ``Count.PerKey()`` →
    ``(key, n)``, ``Count.PerElement()`` → ``(element, n)``.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     words = p | fl.Create(["a", "b", "a"])
    ...     assert_that(words | Count.PerElement(), equal_to([("a", 2), ("b", 1)]))
    """

    class Globally(_Globally):
        _fn = CountCombineFn
        _name = "Count"

    class PerKey(_PerKey):
        _fn = CountCombineFn
        _name = "Count"

    class PerElement(PTransform):
        def default_label(self) -> str:
            return "Count.PerElement"

        def expand(self, pcoll: Any) -> Any:
            keyed = pcoll | "PairWithNone" >> Map(_with_none)
            return keyed | "CombinePerKey" >> CombinePerKey(CountCombineFn())


class Sum:
    """Sums: ``Sum.Globally()`` and ``Sum.PerKey()``.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create([1, 2, 3]) | Sum.Globally(), equal_to([6]))
    """

    class Globally(_Globally):
        _fn = SumCombineFn
        _name = "Sum"

    class PerKey(_PerKey):
        _fn = SumCombineFn
        _name = "Sum"


class Mean:
    """Arithmetic means: ``Mean.Globally()`` and ``Mean.PerKey()`` (NaN for an empty input).

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create([("a", 1), ("a", 2)]) | Mean.PerKey(), equal_to([("a", 1.5)]))
    """

    class Globally(_Globally):
        _fn = MeanCombineFn
        _name = "Mean"

    class PerKey(_PerKey):
        _fn = MeanCombineFn
        _name = "Mean"


class Min:
    """Smallest elements: ``Min.Globally()`` (None for an empty input) and ``Min.PerKey()``.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create([3, 1, 2]) | Min.Globally(), equal_to([1]))
    """

    class Globally(_Globally):
        _fn = MinCombineFn
        _name = "Min"

    class PerKey(_PerKey):
        _fn = MinCombineFn
        _name = "Min"


class Max:
    """Largest elements: ``Max.Globally()`` (None for an empty input) and ``Max.PerKey()``.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create([3, 1, 2]) | Max.Globally(), equal_to([3]))
    """

    class Globally(_Globally):
        _fn = MaxCombineFn
        _name = "Max"

    class PerKey(_PerKey):
        _fn = MaxCombineFn
        _name = "Max"
