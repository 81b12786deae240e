"""CombineFn, CombinePerKey (a primitive) and CombineGlobally.

>>> class Avg(CombineFn):
...     def create_accumulator(self): return (0, 0)
...     def add_input(self, acc, x): return (acc[0] + x, acc[1] + 1)
...     def merge_accumulators(self, accs): return (sum(a[0] for a in accs), sum(a[1] for a in accs))
...     def extract_output(self, acc): return acc[0] / acc[1] if acc[1] else float("nan")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fluvial.errors import PipelineConstructionError
from fluvial.gbk import check_keyed_grouping, late_output_tuple
from fluvial.ptransform import PrimitiveTransform, PTransform


class CombineFn:
    """Incremental aggregation: create_accumulator, add_input, merge_accumulators, extract_output.

    ``add_input`` may mutate and return the accumulator; ``extract_output`` must not mutate it
    (accumulating panes extract from the same accumulator more than once)."""

    fast_kind: str | None = None  # set by built-in combiners that runners may vectorise

    def create_accumulator(self) -> Any:
        raise NotImplementedError

    def add_input(self, accumulator: Any, element: Any) -> Any:
        raise NotImplementedError

    def add_inputs(self, accumulator: Any, elements: Iterable[Any]) -> Any:
        for e in elements:
            accumulator = self.add_input(accumulator, e)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[Any]) -> Any:
        raise NotImplementedError

    def extract_output(self, accumulator: Any) -> Any:
        return accumulator

    def compact(self, accumulator: Any) -> Any:
        return accumulator

    def apply(self, elements: Iterable[Any]) -> Any:
        return self.extract_output(self.add_inputs(self.create_accumulator(), elements))

    def default_label(self) -> str:
        return type(self).__name__


class CallableCombineFn(CombineFn):
    """A CombineFn from a function over an iterable, e.g. ``sum`` or ``max``; the function must
    be associative and commutative. Keeps a small buffer and folds it eagerly."""

    def __init__(self, fn: Callable[[Iterable[Any]], Any]) -> None:
        self.fn = fn

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, x: Any) -> list:
        acc.append(x)
        if len(acc) > 64:
            acc[:] = [self.fn(acc)]
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        out: list = []
        for a in accs:
            out.extend(a)
        return [self.fn(out)] if out else []

    def extract_output(self, acc: list) -> Any:
        return self.fn(list(acc))

    def default_label(self) -> str:
        return getattr(self.fn, "__name__", "CallableCombineFn")


def as_combine_fn(fn: Any, label: str) -> CombineFn:
    if isinstance(fn, CombineFn):
        return fn
    if isinstance(fn, type) and issubclass(fn, CombineFn):
        raise PipelineConstructionError(
            f"transform '{label}': pass an instance of {fn.__name__}, i.e. {fn.__name__}()"
        )
    if callable(fn):
        return CallableCombineFn(fn)
    raise PipelineConstructionError(
        f"transform '{label}': expected a CombineFn or a function of an iterable, got {fn!r}"
    )


class CombinePerKey(PrimitiveTransform):
    """Combine the values of each key and window with a CombineFn; windowing and triggers as for
    GroupByKey. ``.with_late_output()`` adds an output ``late`` of dropped late elements."""

    def __init__(self, fn: Any, late_output: bool = False) -> None:
        self.fn_arg = fn
        self.combine_fn: CombineFn | None = None
        self.late_output = late_output

    def with_late_output(self) -> CombinePerKey:
        self.late_output = True
        return self

    def default_label(self) -> str:
        return f"CombinePerKey({getattr(self.fn_arg, 'default_label', lambda: getattr(self.fn_arg, '__name__', 'fn'))()})"

    def expand_primitive(self, node, pcoll):
        self.combine_fn = as_combine_fn(self.fn_arg, node.full_label)
        check_keyed_grouping(node, pcoll)
        from fluvial.windowing import continuation

        out = pcoll.pipeline.new_pcollection(node, continuation(pcoll.windowing), pcoll.is_bounded)
        return late_output_tuple(node, pcoll, out) if self.late_output else out


class CombineGlobally(PTransform):
    """Combine all elements of each window into one value. In the global window with the default
    trigger, an empty input yields the combiner's empty result (as in Beam); elsewhere, use
    ``without_defaults()`` behaviour: empty windows produce nothing."""

    def __init__(self, fn: Any) -> None:
        self.fn_arg = fn
        self._defaults = True

    def without_defaults(self) -> CombineGlobally:
        self._defaults = False
        return self

    def default_label(self) -> str:
        return f"CombineGlobally({getattr(self.fn_arg, '__name__', type(self.fn_arg).__name__)})"

    def expand(self, pcoll):
        from fluvial.core_fns import DropKey, KeyWithNone, insert_default_if_empty

        fn = as_combine_fn(self.fn_arg, self.label or self.default_label())
        keyed = pcoll | "KeyWithNone" >> KeyWithNone()
        if self._defaults and pcoll.windowing.is_default:
            keyed = insert_default_if_empty(keyed)
            fn = _SkipMarker(fn)
        combined = keyed | "CombinePerKey" >> CombinePerKey(fn)
        return combined | "DropKey" >> DropKey()


class _SkipMarker(CombineFn):
    """Ignores the marker element that makes an empty global combine emit its default."""

    def __init__(self, inner: CombineFn) -> None:
        self.inner = inner

    def create_accumulator(self):
        return self.inner.create_accumulator()

    def add_input(self, acc, x):
        from fluvial.core_fns import EMPTY_MARKER

        if x is EMPTY_MARKER:
            return acc
        return self.inner.add_input(acc, x)

    def merge_accumulators(self, accs):
        return self.inner.merge_accumulators(accs)

    def extract_output(self, acc):
        return self.inner.extract_output(acc)
