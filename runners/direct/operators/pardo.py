"""Stateless ParDo on the direct runner. Map/FlatMap/Filter run as tight loops over the batch;
DoFns with ``process_batch`` get the whole batch's values at once; other DoFns go through the
shared invoker. Each batch is one bundle (start_bundle / finish_bundle around it).

Under the error policies "dead_letter" and "skip" each element's outputs are buffered and kept
only if the element completes (as Beam's ``with_exception_handling``); a failing
``process_batch`` is retried element by element to find the failing elements."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from fluvial import metrics as m
from fluvial.dofn import CallableDoFn
from fluvial.dofn_invoker import Invocation, bind_kwargs, check_tag, normalize_outputs
from fluvial.errors import FluvialError, UserCodeError, bounded_repr
from fluvial.values import WindowedValue

from .base import Operator
from .errors import user_error
from .on_error import ErrorHandler


def clone_dofn(fn: Any) -> Any:
    """A private copy of the user's DoFn for this operator (as if deserialised on a worker)."""
    try:
        return copy.deepcopy(fn)
    except Exception:
        return fn


class DoFnCaller:
    """Lifecycle and element calls of one DoFn instance (stateless use)."""

    def __init__(self, label: str, pardo: Any, errors: ErrorHandler | None = None) -> None:
        self.label = label
        self.pardo = pardo
        self.errors = errors if errors is not None else ErrorHandler(label)
        self.fn = clone_dofn(pardo.fn)
        self.sig = pardo.signature
        self.args = pardo.args
        self.kwargs = pardo.kwargs
        self.tags = set(pardo.output_tags)
        kind = getattr(self.fn, "kind", None) if isinstance(self.fn, CallableDoFn) else None
        self.fast_kind = kind if kind in ("Map", "FlatMap", "Filter") and not self.sig.process_params else None
        self.use_batch = (
            self.fast_kind is None
            and self.sig.has_batch
            and not self.sig.process_params
            and not self.args
            and not self.kwargs
        )
        self.numpy_batch = getattr(self.fn, "batch_type", "list") == "numpy"

    def setup(self) -> None:
        try:
            self.fn.setup()
        except Exception as e:
            raise user_error(self.label, None, e) from e

    def teardown(self) -> None:
        try:
            self.fn.teardown()
        except Exception as e:  # pragma: no cover - teardown errors are reported, not fatal
            raise user_error(self.label, None, e) from e

    def start_bundle(self) -> None:
        try:
            self.fn.start_bundle()
        except Exception as e:
            raise user_error(self.label, None, e) from e

    def finish_bundle(self, out: dict[str | None, list]) -> None:
        try:
            res = self.fn.finish_bundle()
        except Exception as e:
            raise user_error(self.label, None, e) from e
        if res is not None:
            for r in res:
                self._route_finish(r, out)

    def route(self, results: Any, timestamp_ms: int, windows: tuple, pane: Any, element: Any, out: dict) -> None:
        """Normalise what user code yielded and append it to ``out`` by output tag."""
        for tag, o in normalize_outputs(results, timestamp_ms, windows, pane, self.label, element):
            if tag is not None:
                self._check_tag(tag, o)
            out.setdefault(tag, []).append(o)

    def run_bundle(self, batch: list[WindowedValue], out: dict[str | None, list]) -> None:
        self.start_bundle()
        if self.fast_kind is not None:
            if self.errors.guarded:
                self._fast_guarded(batch, out.setdefault(None, []))
            else:
                self._fast(batch, out.setdefault(None, []))
        elif self.use_batch:
            self._batched(batch, out.setdefault(None, []))
        else:
            for wv in batch:
                self.call(wv, out)
        self.finish_bundle(out)

    def _route_finish(self, r: Any, out: dict) -> None:
        from fluvial.values import TaggedOutput

        tag = None
        if isinstance(r, TaggedOutput):
            tag, r = r.tag, r.value
        if not isinstance(r, WindowedValue):
            raise FluvialError(
                f"transform '{self.label}': finish_bundle must yield WindowedValue(value, "
                f"timestamp_ms, windows) (there is no current element), got {bounded_repr(r)}"
            )
        self._check_tag(tag, r)
        out.setdefault(tag, []).append(r)

    def _check_tag(self, tag: str | None, value: Any) -> None:
        if tag is not None:
            check_tag(self.label, tag, self.tags)

    def _fast(self, batch: list[WindowedValue], out: list) -> None:
        f = self.fn.fn
        args, kwargs = self.args, self.kwargs
        kind = self.fast_kind
        wv = None
        try:
            if kind == "Map":
                if args or kwargs:
                    for wv in batch:
                        out.append(WindowedValue(f(wv.value, *args, **kwargs), wv.timestamp, wv.windows, wv.pane))
                else:
                    for wv in batch:
                        out.append(WindowedValue(f(wv.value), wv.timestamp, wv.windows, wv.pane))
            elif kind == "Filter":
                for wv in batch:
                    if f(wv.value, *args, **kwargs):
                        out.append(wv)
            else:
                for wv in batch:
                    res = f(wv.value, *args, **kwargs)
                    if res is None:
                        continue
                    for tag, o in normalize_outputs(res, wv.timestamp, wv.windows, wv.pane, self.label, wv.value):
                        if tag is not None:
                            raise FluvialError(
                                f"transform '{self.label}': FlatMap cannot emit tagged outputs; use ParDo"
                            )
                        out.append(o)
        except (FluvialError, UserCodeError):
            raise
        except Exception as e:
            raise user_error(self.label, wv.value if wv is not None else None, e) from e

    def _fast_guarded(self, batch: list[WindowedValue], out: list) -> None:
        """The direct call path, one try per element; a failing element contributes nothing."""
        f = self.fn.fn
        args, kwargs = self.args, self.kwargs
        kind = self.fast_kind
        handle = self.errors.handle
        for wv in batch:
            try:
                if kind == "Map":
                    out.append(WindowedValue(f(wv.value, *args, **kwargs), wv.timestamp, wv.windows, wv.pane))
                elif kind == "Filter":
                    if f(wv.value, *args, **kwargs):
                        out.append(wv)
                else:
                    res = f(wv.value, *args, **kwargs)
                    if res is None:
                        continue
                    buf = []
                    for tag, o in normalize_outputs(res, wv.timestamp, wv.windows, wv.pane, self.label, wv.value):
                        if tag is not None:
                            raise FluvialError(
                                f"transform '{self.label}': FlatMap cannot emit tagged outputs; use ParDo"
                            )
                        buf.append(o)
                    out.extend(buf)
            except Exception as e:
                handle(e, wv.value, wv.timestamp)

    def _batched(self, batch: list[WindowedValue], out: list) -> None:
        values = [wv.value for wv in batch]
        arg = np.asarray(values) if self.numpy_batch else values
        try:
            res = self.fn.process_batch(arg)
        except Exception as e:
            if self.errors.guarded and not isinstance(e, FluvialError):
                self._one_by_one(batch, out)
                return
            raise user_error(self.label, values[:5], e) from e
        self._zip_outputs(batch, res, out)

    def _one_by_one(self, batch: list[WindowedValue], out: list) -> None:
        """``process_batch`` raised: call it per element to isolate the failing ones."""
        handle = self.errors.handle
        for wv in batch:
            try:
                res = self.fn.process_batch(np.asarray([wv.value]) if self.numpy_batch else [wv.value])
            except Exception as e:
                handle(e, wv.value, wv.timestamp)
                continue
            self._zip_outputs([wv], res, out)

    def _zip_outputs(self, batch: list[WindowedValue], res: Any, out: list) -> None:
        if isinstance(res, np.ndarray):
            res = res.tolist()
        elif res is not None and not isinstance(res, list):
            res = list(res)
        if res is None or len(res) != len(batch):
            raise FluvialError(
                f"transform '{self.label}': process_batch must return one output per input "
                f"({len(batch)}), got {0 if res is None else len(res)}"
            )
        for wv, r in zip(batch, res):
            out.append(WindowedValue(r, wv.timestamp, wv.windows, wv.pane))

    def call(self, wv: WindowedValue, out: dict, key: Any = None, state: Any = None, timers: Any = None) -> None:
        sig = self.sig
        label = self.label
        if sig.needs_window:
            groups = [((w,), w) for w in wv.windows]
        else:
            groups = [(wv.windows, wv.windows[0] if wv.windows else None)]
        guarded = self.errors.guarded
        for ws, w in groups:
            dest: dict = {} if guarded else out
            try:
                if sig.process_params:
                    inv = Invocation(wv, w, key, state, timers, wv.timestamp)
                    kw = bind_kwargs(sig.process_params, inv, label)
                    if self.kwargs:
                        kw.update(self.kwargs)
                    res = self.fn.process(wv.value, *self.args, **kw)
                else:
                    res = self.fn.process(wv.value, *self.args, **self.kwargs)
                self.route(res, wv.timestamp, ws, wv.pane, wv.value, dest)
            except (FluvialError, UserCodeError):
                raise
            except Exception as e:
                if not guarded:
                    raise user_error(label, wv.value, e) from e
                self.errors.handle(e, wv.value, wv.timestamp)
                continue
            if guarded:
                merge_outputs(dest, out)


def merge_outputs(src: dict[str | None, list], out: dict[str | None, list]) -> None:
    """Append one element's buffered outputs to the bundle's, by tag."""
    for tag, vals in src.items():
        out.setdefault(tag, []).extend(vals)


class ParDoOperator(Operator):
    """A chain of stateless DoFns fused into one operator: the batch passes through every
    stage without intermediate buffers. Only the last stage may have tagged outputs."""

    def __init__(self, label: str, callers: list[DoFnCaller]) -> None:
        super().__init__(label)
        self.callers = callers
        self.labels = [c.label for c in callers]

    def open(self, metrics: Any) -> None:
        super().open(metrics)
        for c in self.callers:
            c.errors.metrics = metrics
            m.set_step(c.label)
            c.setup()

    def close(self) -> None:
        for c in self.callers:
            c.teardown()

    def process(self, idx: int, batch: Any) -> None:
        last = len(self.callers) - 1
        for i, c in enumerate(self.callers):
            m.set_step(c.label)
            out: dict[str | None, list] = {}
            c.run_bundle(batch, out)
            if i == last:
                for tag, b in out.items():
                    self.emit(b, tag)
                return
            batch = out.get(None, [])
            if not batch:
                return
