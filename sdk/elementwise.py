"""Element-wise transforms from plain functions: Map, FlatMap, Filter, MapTuple, FlatMapTuple.

They sit beside ParDo in the model package, as in Beam's core (``fl.Map``, like ``beam.Map``);
``fluvial.transforms`` re-exports them. Each is a composite: a ParDo of a DoFn built from the
function.

Each wraps the function in a :class:`fluvial.dofn.CallableDoFn` subclass whose ``kind``
(``"Map"``, ``"FlatMap"`` or ``"Filter"``), ``fn``, ``args`` and ``kwargs`` let a runner call
the function directly, without per-element parameter binding. The extra arguments are also the
ParDo's arguments (as in Beam), so ``process(element, *args, **kwargs)`` works either way.
Outputs keep the input element's timestamp and windows. Extra positional and keyword arguments
are passed to every call; a side-input view among them (``fl.AsList(pcoll)``, ...;
:mod:`fluvial.side_inputs`) is replaced by its value for the element's window.

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     words = p | fl.Create(["a b", "c"]) | fl.FlatMap(str.split)
...     assert_that(words | fl.Map(str.upper) | fl.Filter(lambda w: w != "B"), equal_to(["A", "C"]))

Like Beam, a function may ask for the element's timestamp, window or pane with a default value,
e.g. ``Map(lambda x, ts=DoFn.TimestampParam: (x, ts))``; such functions run through the
ordinary DoFn path (parameter binding) instead of the direct call.

Every transform here takes a keyword-only ``on_error`` ("fail", "dead_letter" or "skip"; None:
the pipeline's ``--on-error``), forwarded to its ParDo: ``Map(int, on_error="dead_letter")``
sends the elements ``int`` cannot parse to ``p.dead_letters()``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from typing import Any

from fluvial.deadletter import check_policy
from fluvial.dofn import CallableDoFn, DoFn, _Param
from fluvial.errors import PipelineConstructionError
from fluvial.pardo import ParDo
from fluvial.ptransform import PTransform

__all__ = ["Map", "FlatMap", "Filter", "MapTuple", "FlatMapTuple"]


def _fn_name(fn: Any) -> str:
    """A readable name; lambdas get their place, as in Beam: ``<lambda at my_job.py:12>``."""
    name = getattr(fn, "__name__", None)
    if name is None:
        inner = getattr(fn, "func", None)  # functools.partial
        name = getattr(inner, "__name__", None) or type(fn).__name__
    if name == "<lambda>":
        code = getattr(fn, "__code__", None)
        if code is not None:
            name = f"<lambda at {os.path.basename(code.co_filename)}:{code.co_firstlineno}>"
    return name


def _check_callable(kind: str, fn: Any) -> None:
    if not callable(fn):
        raise PipelineConstructionError(
            f"{kind} needs a function (e.g. {kind}(lambda x: ...)), got {fn!r}; "
            "use ParDo for a DoFn"
        )
    if isinstance(fn, DoFn):
        raise PipelineConstructionError(
            f"{kind} got a DoFn ({type(fn).__name__}); apply it with "
            f"ParDo({type(fn).__name__}(...))"
        )


def _side_params(fn: Any) -> list[tuple[str, _Param]]:
    """Parameters of ``fn`` whose default is a DoFn parameter (TimestampParam, ...)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [(n, p.default) for n, p in sig.parameters.items() if isinstance(p.default, _Param)]


class _CallableFnDoFn(CallableDoFn):
    """Common part of the Map/FlatMap/Filter DoFns."""

    def __init__(
        self, fn: Callable[..., Any], kind: str, args: tuple, kwargs: dict, name: str
    ) -> None:
        super().__init__(fn, kind)
        self.args = args
        self.kwargs = kwargs
        self.name = name

    def default_label(self) -> str:
        return f"{self.kind}({self.name})"

    def __repr__(self) -> str:
        return f"<{self.kind}DoFn {self.name}>"


class MapDoFn(_CallableFnDoFn):
    """One output per input: ``fn(element, *args, **kwargs)``."""

    def process(self, element: Any, *args: Any, **kwargs: Any) -> list:
        if not (args or kwargs):
            args, kwargs = self.args, self.kwargs
        return [self.fn(element, *args, **kwargs)]

    def process_batch(self, elements: list) -> list:
        fn, args, kwargs = self.fn, self.args, self.kwargs
        if args or kwargs:
            return [fn(e, *args, **kwargs) for e in elements]
        return [fn(e) for e in elements]


class FlatMapDoFn(_CallableFnDoFn):
    """Zero or more outputs per input: the iterable ``fn(element, *args, **kwargs)``."""

    def process(self, element: Any, *args: Any, **kwargs: Any) -> Iterable[Any]:
        if not (args or kwargs):
            args, kwargs = self.args, self.kwargs
        return self.fn(element, *args, **kwargs)


class FilterDoFn(_CallableFnDoFn):
    """Keeps the elements for which ``fn(element, *args, **kwargs)`` is truthy."""

    def process(self, element: Any, *args: Any, **kwargs: Any) -> list:
        if not (args or kwargs):
            args, kwargs = self.args, self.kwargs
        return [element] if self.fn(element, *args, **kwargs) else []


class _ParamFnDoFn(DoFn):
    """Runs a function that asks for DoFn parameters (timestamp, window, ...) by default values;
    the runner binds them through the ordinary DoFn path."""

    def __init__(
        self, fn: Callable[..., Any], kind: str, args: tuple, kwargs: dict, name: str
    ) -> None:
        self.fn = fn
        self.user_kind = kind
        self.args = args
        self.kwargs = kwargs
        self.name = name
        params = _side_params(fn)

        # the extra arguments arrive with every call (they are the ParDo's, as for the other
        # element-wise DoFns), side-input views replaced by their values
        def process(element: Any, *call_args: Any, **call_kwargs: Any) -> Any:
            out = fn(element, *call_args, **call_kwargs)
            if kind == "Map":
                return [out]
            if kind == "Filter":
                return [element] if out else []
            return out

        sig = [inspect.Parameter("element", inspect.Parameter.POSITIONAL_OR_KEYWORD),
               inspect.Parameter("call_args", inspect.Parameter.VAR_POSITIONAL)]
        sig += [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=p)
            for n, p in params
        ]
        sig.append(inspect.Parameter("call_kwargs", inspect.Parameter.VAR_KEYWORD))
        process.__signature__ = inspect.Signature(sig)  # type: ignore[attr-defined]
        self.process = process  # type: ignore[method-assign]

    def default_label(self) -> str:
        return f"{self.user_kind}({self.name})"


def _make_dofn(
    cls: type[_CallableFnDoFn], kind: str, fn: Any, args: tuple, kwargs: dict, name: str
) -> DoFn:
    if _side_params(fn):
        return _ParamFnDoFn(fn, kind, args, kwargs, name)
    return cls(fn, kind, args, kwargs, name)


class _CallableTransform(PTransform):
    _kind = ""
    _dofn_cls: type[_CallableFnDoFn] = MapDoFn

    def __init__(
        self, fn: Callable[..., Any], *args: Any, on_error: str | None = None, **kwargs: Any
    ) -> None:
        _check_callable(type(self).__name__, fn)
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.on_error = check_policy(on_error, f"transform '{self.default_label()}'")
        self.dofn = _make_dofn(self._dofn_cls, self._kind, fn, args, kwargs, _fn_name(fn))

    def default_label(self) -> str:
        return f"{type(self).__name__}({_fn_name(self.fn)})"

    def expand(self, pcoll: Any) -> Any:
        # As in Beam, the extra arguments travel on the ParDo (side-input views among them);
        # the direct-call DoFns keep them too, so a runner may call the function without
        # parameter binding when there are no side inputs.
        return pcoll | "ParDo" >> ParDo(
            self.dofn, *self.args, on_error=self.on_error, **self.kwargs
        )


class Map(_CallableTransform):
    """One output per element: ``fn(element, *args, **kwargs)``.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create([1, 2]) | Map(lambda x, k: x * k, 10), equal_to([10, 20]))
    """

    _kind = "Map"
    _dofn_cls = MapDoFn


def _identity(x: Any) -> Any:
    return x


class FlatMap(_CallableTransform):
    """Any number of outputs per element: ``fn(element, *args, **kwargs)`` returns an iterable
    (a list, a generator, ...). Without a function, flattens iterable elements.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create([[1, 2], [3]]) | FlatMap(), equal_to([1, 2, 3]))
    """

    _kind = "FlatMap"
    _dofn_cls = FlatMapDoFn

    def __init__(
        self,
        fn: Callable[..., Iterable[Any]] = _identity,
        *args: Any,
        on_error: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fn, *args, on_error=on_error, **kwargs)


class Filter(_CallableTransform):
    """Keeps the elements for which ``fn(element, *args, **kwargs)`` is truthy.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create([1, 2, 3]) | Filter(lambda x: x % 2), equal_to([1, 3]))
    """

    _kind = "Filter"
    _dofn_cls = FilterDoFn


class _Star:
    """``fn(*element, *args, **kwargs)`` as a picklable callable of one element."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.__name__ = _fn_name(fn)

    def __call__(self, element: Any, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*element, *args, **kwargs)


class MapTuple(Map):
    """Like Map, but unpacks each (tuple) element into the function's arguments.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     kvs = p | fl.Create([("a", 1), ("b", 2)])
    ...     assert_that(kvs | MapTuple(lambda k, v: f"{k}={v}"), equal_to(["a=1", "b=2"]))
    """

    def __init__(
        self, fn: Callable[..., Any], *args: Any, on_error: str | None = None, **kwargs: Any
    ) -> None:
        _check_callable("MapTuple", fn)
        super().__init__(_Star(fn), *args, on_error=on_error, **kwargs)


class FlatMapTuple(FlatMap):
    """Like FlatMap, but unpacks each (tuple) element into the function's arguments.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     kvs = p | fl.Create([("a", 2)])
    ...     assert_that(kvs | FlatMapTuple(lambda k, n: [k] * n), equal_to(["a", "a"]))
    """

    def __init__(
        self, fn: Callable[..., Iterable[Any]], *args: Any, on_error: str | None = None,
        **kwargs: Any,
    ) -> None:
        _check_callable("FlatMapTuple", fn)
        super().__init__(_Star(fn), *args, on_error=on_error, **kwargs)
