"""CombineFn, CombinePerKey (a primitive) and CombineGlobally.

Error policies (``on_error``, as for ParDo; None: the pipeline's ``--on-error``): under
``"dead_letter"`` and ``"skip"`` an element the grouping cannot take (not a (key, value) pair,
a key that is not hashable) or that the CombineFn cannot add (``add_input`` raises, e.g. a str
reaching ``sum``) is handled by the policy and leaves the accumulator as it was; a CombineFn
failing when a pane fires (``extract_output``) drops that pane and is handled with the payload
``{"key", "window", "error_in"}``. The grouping then folds with :meth:`CombineFn.isolating`.

>>> class Avg(CombineFn):
...     def create_accumulator(self): return (0, 0)
...     def add_input(self, acc, x): return (acc[0] + x, acc[1] + 1)
...     def merge_accumulators(self, accs): return (sum(a[0] for a in accs), sum(a[1] for a in accs))
...     def extract_output(self, acc): return acc[0] / acc[1] if acc[1] else float("nan")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fluvial.deadletter import check_policy
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

    def isolating(self) -> CombineFn:
        """This CombineFn as a grouping under the error policies "dead_letter" and "skip" runs
        it: one whose ``add_input`` raises for exactly the element that cannot be added, and
        then leaves the accumulator as it was, so that element alone goes to the policy. The
        default returns ``self``: a CombineFn whose ``add_input`` validates an element before
        changing the accumulator (as the built-in ones and CallableCombineFn do) needs nothing
        more. Override it when ``add_input`` buffers elements and fails on them later (as
        TopCombineFn does) or changes the accumulator before it can fail.

        >>> from fluvial.combiners import TopCombineFn
        >>> TopCombineFn(2).isolating().add_input([5, 3], 4)
        [5, 4]
        """
        return self


class CombineFnError(Exception):
    """A CombineFn method raised: ``method`` (``"add_input"``, ``"merge_accumulators"``,
    ``"extract_output"``; ``create_accumulator`` counts as the call that needed it) and the
    user's exception, ``cause``. Raised by the window driver's contents so a runner can tell a
    failure of the user's CombineFn from any other; never reaches users (runners report
    ``cause``)."""

    def __init__(self, method: str, cause: BaseException) -> None:
        super().__init__(f"{method} raised {type(cause).__name__}: {cause}")
        self.method = method
        self.cause = cause


class CallableCombineFn(CombineFn):
    """A CombineFn from a function over an iterable, e.g. ``sum`` or ``max``; the function must
    be associative and commutative. The accumulator is a list of at most one value: every
    element is folded in as it is added (``fn((acc, x))``, the first one as ``fn((x,))``), so a
    value the function cannot take (a str reaching ``sum``) fails on its own ``add_input`` and
    leaves the accumulator as it was; a failure never surfaces later, at another element.

    >>> fn = CallableCombineFn(sum)
    >>> fn.add_input(fn.add_input(fn.create_accumulator(), 1), 2)
    [3]
    """

    def __init__(self, fn: Callable[[Iterable[Any]], Any]) -> None:
        self.fn = fn

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, x: Any) -> list:
        if len(acc) == 1:
            acc[0] = self.fn((acc[0], x))  # raises before acc changes
        else:  # empty, or several values (a checkpoint of a buffering version)
            acc[:] = [self.fn((*acc, x))]
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
    GroupByKey. ``.with_late_output()`` adds an output ``late`` of dropped late elements.

    ``on_error`` (keyword; "fail", "dead_letter" or "skip"; None: the pipeline's
    ``--on-error``) decides what an element the grouping cannot take or the CombineFn cannot
    add does, and a CombineFn failing when a pane fires (module docstring).

    >>> t = CombinePerKey(sum, on_error="dead_letter")  # a str among the numbers: dead letter
    """

    def __init__(self, fn: Any, late_output: bool = False, *, on_error: str | None = None) -> None:
        self.fn_arg = fn
        self.combine_fn: CombineFn | None = None
        self.late_output = late_output
        self.on_error = check_policy(on_error, f"transform '{self.default_label()}'")

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
    ``without_defaults()`` behaviour: empty windows produce nothing. ``on_error`` goes to the
    CombinePerKey inside it."""

    def __init__(self, fn: Any, *, on_error: str | None = None) -> None:
        self.fn_arg = fn
        self._defaults = True
        self.on_error = check_policy(on_error, f"transform '{self.default_label()}'")

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
        combined = keyed | "CombinePerKey" >> CombinePerKey(fn, on_error=self.on_error)
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

    def isolating(self) -> CombineFn:
        inner = self.inner.isolating()
        return self if inner is self.inner else _SkipMarker(inner)
