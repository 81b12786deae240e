"""Built-in CombineFns. Their ``fast_kind`` lets runners vectorise them (the direct runner
aggregates NumPy columns with them); the Python methods define the semantics.

>>> SumCombineFn().apply([1, 2, 3])
6
>>> MeanCombineFn().apply([1, 2])
1.5
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any

from fluvial.combine import CombineFn
from fluvial.errors import PipelineConstructionError


class SumCombineFn(CombineFn):
    fast_kind = "sum"

    def create_accumulator(self) -> Any:
        return 0

    def add_input(self, acc: Any, x: Any) -> Any:
        return acc + x

    def add_inputs(self, acc: Any, xs: Iterable[Any]) -> Any:
        return acc + sum(xs)

    def merge_accumulators(self, accs: Iterable[Any]) -> Any:
        return sum(accs)

    def default_label(self) -> str:
        return "Sum"


class CountCombineFn(CombineFn):
    fast_kind = "count"

    def create_accumulator(self) -> int:
        return 0

    def add_input(self, acc: int, x: Any) -> int:
        return acc + 1

    def merge_accumulators(self, accs: Iterable[int]) -> int:
        return sum(accs)

    def default_label(self) -> str:
        return "Count"


class MeanCombineFn(CombineFn):
    """Arithmetic mean; NaN for an empty input."""

    fast_kind = "mean"

    def create_accumulator(self) -> tuple:
        return (0, 0)

    def add_input(self, acc: tuple, x: Any) -> tuple:
        return (acc[0] + x, acc[1] + 1)

    def merge_accumulators(self, accs: Iterable[tuple]) -> tuple:
        s, n = 0, 0
        for a, c in accs:
            s += a
            n += c
        return (s, n)

    def extract_output(self, acc: tuple) -> float:
        return acc[0] / acc[1] if acc[1] else float("nan")

    def default_label(self) -> str:
        return "Mean"


class _Extreme(CombineFn):
    _pick: Callable[[Any, Any], Any]

    def create_accumulator(self) -> Any:
        return None

    def add_input(self, acc: Any, x: Any) -> Any:
        return x if acc is None else type(self)._pick(acc, x)

    def merge_accumulators(self, accs: Iterable[Any]) -> Any:
        out = None
        for a in accs:
            if a is not None:
                out = a if out is None else type(self)._pick(out, a)
        return out


class MinCombineFn(_Extreme):
    """Smallest element; None for an empty input."""

    fast_kind = "min"
    _pick = staticmethod(min)

    def default_label(self) -> str:
        return "Min"


class MaxCombineFn(_Extreme):
    """Largest element; None for an empty input."""

    fast_kind = "max"
    _pick = staticmethod(max)

    def default_label(self) -> str:
        return "Max"


class TopCombineFn(CombineFn):
    """The ``n`` largest elements (by ``key``), largest first; ``reverse=True`` for smallest."""

    def __init__(self, n: int, key: Callable[[Any], Any] | None = None, reverse: bool = False,
                 eager: bool = False) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise PipelineConstructionError(f"Top: n must be a positive integer, got {n!r}")
        self.n = n
        self.key = key
        self.reverse = reverse
        self.eager = eager  # keep the accumulator sorted: each add_input compares its element

    def isolating(self) -> CombineFn:
        """Sorts on every ``add_input`` (the accumulator holds at most ``n`` values), so an
        element that cannot be compared with the others (or whose ``key`` raises) fails on its
        own and leaves the accumulator as it was; the buffering form fails at a later sort."""
        return self if self.eager else TopCombineFn(self.n, self.key, self.reverse, eager=True)

    def _sort(self, xs: list) -> list:
        k = self.key or (lambda v: v)
        return sorted(xs, key=k, reverse=not self.reverse)[: self.n]

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, x: Any) -> list:
        if self.eager:
            acc[:] = self._sort([*acc, x])  # raises before acc changes
            return acc
        acc.append(x)
        if len(acc) > 4 * self.n + 16:
            acc[:] = self._sort(acc)
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        out: list = []
        for a in accs:
            out.extend(a)
        return self._sort(out)

    def extract_output(self, acc: list) -> list:
        if self.eager:
            return list(acc)  # sorted already
        if self.key is None and not self.reverse:
            return heapq.nlargest(self.n, acc)
        return self._sort(list(acc))

    def default_label(self) -> str:
        return f"Top({self.n})"


class ToListCombineFn(CombineFn):
    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, x: Any) -> list:
        acc.append(x)
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        out: list = []
        for a in accs:
            out.extend(a)
        return out

    def extract_output(self, acc: list) -> list:
        return list(acc)

    def default_label(self) -> str:
        return "ToList"


class DistinctCombineFn(CombineFn):
    """The set of distinct elements, as a sorted list when sortable."""

    def create_accumulator(self) -> set:
        return set()

    def add_input(self, acc: set, x: Any) -> set:
        acc.add(x)
        return acc

    def merge_accumulators(self, accs: Iterable[set]) -> set:
        out: set = set()
        for a in accs:
            out |= a
        return out

    def extract_output(self, acc: set) -> list:
        try:
            return sorted(acc)
        except TypeError:
            return list(acc)

    def default_label(self) -> str:
        return "Distinct"
