"""Calling DoFns: parameter binding and output normalisation, shared by every runner that runs
fluvial DoFns itself. Pure Python; the runner supplies state and timer access."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from types import GeneratorType
from typing import Any

from fluvial.dofn import DoFn, _Param
from fluvial.errors import PipelineConstructionError, UserCodeError
from fluvial.timeutil import Timestamp, check_event_time
from fluvial.userstate import StateSpec, TimerSpec
from fluvial.values import TaggedOutput, TimestampedValue, WindowedValue


def _param_list(fn: Callable, label: str, what: str) -> list[tuple[str, _Param]]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    out = []
    for name, p in sig.parameters.items():
        if isinstance(p.default, _Param):
            out.append((name, p.default))
    return out


class DoFnSignature:
    """What a DoFn asks for: parameters of process / timer callbacks, state and timer specs."""

    def __init__(self, dofn: DoFn, label: str) -> None:
        self.dofn = dofn
        self.label = label
        if not callable(getattr(dofn, "process", None)):
            raise PipelineConstructionError(f"transform '{label}': {dofn!r} has no process method")
        self.process_params = _param_list(dofn.process, label, "process")
        self.state_specs: dict[str, StateSpec] = {}
        self.timer_specs: dict[str, TimerSpec] = {}
        self.timer_callbacks: dict[str, tuple[Callable, list[tuple[str, _Param]]]] = {}
        self.expiration: tuple[Callable, list[tuple[str, _Param]]] | None = None
        self._collect(self.process_params)
        for attr in dir(type(dofn)):
            m = getattr(type(dofn), attr, None)
            spec = getattr(m, "_fluvial_on_timer", None)
            if spec is not None:
                bound = getattr(dofn, attr)
                params = _param_list(bound, label, attr)
                self._collect(params)
                if spec.name in self.timer_callbacks:
                    raise PipelineConstructionError(
                        f"transform '{label}': two @on_timer methods for timer '{spec.name}'"
                    )
                self.timer_callbacks[spec.name] = (bound, params)
                self._add_timer(spec)
            if getattr(m, "_fluvial_on_window_expiration", False):
                bound = getattr(dofn, attr)
                params = _param_list(bound, label, attr)
                self._collect(params)
                self.expiration = (bound, params)
        for name in self.timer_specs:
            if name not in self.timer_callbacks:
                raise PipelineConstructionError(
                    f"transform '{label}': timer '{name}' is used but {type(dofn).__name__} has no "
                    f"method decorated with @on_timer(<its TimerSpec>)"
                )
        self.is_stateful = bool(self.state_specs or self.timer_specs or self.expiration)
        kinds = {p.kind for _, p in self.process_params}
        self.needs_window = self.is_stateful or bool(kinds & {"Window", "PaneInfo"})
        self.has_batch = callable(getattr(dofn, "process_batch", None))

    def _collect(self, params: list[tuple[str, _Param]]) -> None:
        for _, p in params:
            if p.kind == "State":
                spec = p.spec
                if not isinstance(spec, StateSpec):
                    raise PipelineConstructionError(
                        f"transform '{self.label}': DoFn.StateParam needs a state spec such as "
                        f"ValueStateSpec('name'), got {spec!r}"
                    )
                prev = self.state_specs.get(spec.name)
                if prev is not None and prev != spec:
                    raise PipelineConstructionError(
                        f"transform '{self.label}': two different state specs are named '{spec.name}'"
                    )
                self.state_specs[spec.name] = spec
            elif p.kind == "Timer":
                if not isinstance(p.spec, TimerSpec):
                    raise PipelineConstructionError(
                        f"transform '{self.label}': DoFn.TimerParam needs a TimerSpec, got {p.spec!r}"
                    )
                self._add_timer(p.spec)

    def _add_timer(self, spec: TimerSpec) -> None:
        prev = self.timer_specs.get(spec.name)
        if prev is not None and prev != spec:
            raise PipelineConstructionError(
                f"transform '{self.label}': two different timer specs are named '{spec.name}'"
            )
        self.timer_specs[spec.name] = spec


class Invocation:
    """The per-call context handed to parameter getters."""

    __slots__ = ("wv", "window", "key", "state", "timers", "timestamp_ms")

    def __init__(self, wv: WindowedValue | None, window: Any, key: Any, state: Any, timers: Any, timestamp_ms: int) -> None:
        self.wv = wv
        self.window = window
        self.key = key
        self.state = state
        self.timers = timers
        self.timestamp_ms = timestamp_ms


def positional_params(fn: Callable, params: list[tuple[str, _Param]]) -> bool:
    """Whether ``fn``'s DoFn parameters ``params`` (as collected from its signature) are the
    parameters right after its first one, in order, each passable by position: then
    ``fn(element, *values)`` binds them as ``fn(element, **kwargs)`` would."""
    try:
        ps = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if not ps or ps[0].kind not in (inspect.Parameter.POSITIONAL_ONLY,
                                    inspect.Parameter.POSITIONAL_OR_KEYWORD):
        return False
    after = ps[1:1 + len(params)]
    return [p.name for p in after] == [n for n, _ in params] and all(
        p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in after)


def bind_kwargs(params: list[tuple[str, _Param]], inv: Invocation, label: str) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for name, p in params:
        k = p.kind
        if k == "Timestamp":
            kw[name] = Timestamp.of_millis(inv.timestamp_ms)
        elif k == "Window":
            kw[name] = inv.window
        elif k == "PaneInfo":
            kw[name] = inv.wv.pane if inv.wv is not None else None
        elif k == "Key":
            kw[name] = inv.key
        elif k == "Element":
            kw[name] = inv.wv.value if inv.wv is not None else None
        elif k == "State":
            kw[name] = inv.state(p.spec)
        elif k == "Timer":
            kw[name] = inv.timers(p.spec)
        else:  # pragma: no cover
            raise PipelineConstructionError(f"transform '{label}': unknown parameter {p!r}")
    return kw


def check_tag(label: str, tag: str, declared: set[str] | frozenset[str]) -> None:
    """Raise naming the transform when user code emits an output tag ParDo did not declare."""
    if tag not in declared:
        from fluvial.errors import FluvialError

        raise FluvialError(
            f"transform '{label}': output tagged {tag!r} is not declared; declare it with "
            f"ParDo(...).with_outputs({tag!r}) (declared: {sorted(declared)})"
        )


def normalize_outputs(
    results: Iterable[Any] | None,
    timestamp_ms: int,
    windows: tuple,
    pane: Any,
    label: str,
    element: Any,
) -> Iterator[tuple[str | None, WindowedValue]]:
    """Turn what user code yielded into (tag, WindowedValue) pairs. A WindowedValue whose time
    is outside the supported range raises EventTimeOutOfRangeError (as TimestampedValue does
    when it is made), inside the caller's error policy."""
    return iter(outputs_list(results, timestamp_ms, windows, pane, label, element))


def outputs_list(
    results: Iterable[Any] | None,
    timestamp_ms: int,
    windows: tuple,
    pane: Any,
    label: str,
    element: Any,
) -> list[tuple[str | None, WindowedValue]]:
    """:func:`normalize_outputs` as a list (the outputs are all produced before it returns)."""
    tr = type(results)
    if tr is not GeneratorType and tr is not list and tr is not tuple and (
            results is None or isinstance(results, (str, bytes, dict))
            or not hasattr(results, "__iter__")):
        if results is None:
            return []
        raise UserCodeError(
            label,
            element,
            TypeError(
                f"process() must yield or return an iterable of outputs, got {type(results).__name__}; "
                "use Map for one output per element"
            ),
        )
    out = []
    for r in results:
        tag = None
        t = type(r)
        if t is TaggedOutput:
            tag, r = r.tag, r.value
            t = type(r)
        if t is TimestampedValue:
            out.append((tag, WindowedValue(r.value, r.timestamp_ms, windows, pane)))
        elif t is WindowedValue:
            check_event_time(r.timestamp)  # TimestampedValue checks its own on construction
            out.append((tag, r))
        else:
            out.append((tag, WindowedValue(r, timestamp_ms, windows, pane)))
    return out
