"""Stateless ParDo on the direct runner. Map/FlatMap/Filter run as tight loops over the batch;
DoFns with ``process_batch`` get the whole batch's values at once; other DoFns go through the
shared invoker. Each batch is one bundle (start_bundle / finish_bundle around it).

Under the error policies "dead_letter" and "skip" each element's outputs are buffered and kept
only if the element completes (as Beam's ``with_exception_handling``); a failing
``process_batch`` is retried element by element to find the failing elements."""

from __future__ import annotations

import copy
from itertools import chain, repeat
from typing import Any

import numpy as np

from fluvial import metrics as m
from fluvial.dofn import CallableDoFn
from fluvial.dofn_invoker import Invocation, bind_kwargs, check_tag, normalize_outputs
from fluvial.errors import FluvialError, UserCodeError, bounded_repr
from fluvial.timeutil import check_event_time
from fluvial.values import TaggedOutput, TimestampedValue, WindowedValue

from ..rows import Rows, as_rows, as_windowed_values
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

    def run_bundle(self, batch: Any) -> dict[str | None, Any]:
        """One bundle over ``batch`` (Rows or a list of WindowedValue): the outputs by tag, each
        Rows or a list of WindowedValue."""
        self.start_bundle()
        out: dict[str | None, Any] = {}
        if self.fast_kind is not None:
            rows = as_rows(batch)
            if self.fast_kind == "Map":
                res = self._map(rows)
            elif self.fast_kind == "Filter":
                res = self._filter(rows)
            else:
                res = self._flat_map(rows)
            out[None] = res
        elif self.use_batch:
            out[None] = self._batched(as_rows(batch))
        else:
            for wv in as_windowed_values(batch):
                self.call(wv, out)
        extra: dict[str | None, list] = {}
        self.finish_bundle(extra)
        for tag, lst in extra.items():
            prev = out.get(tag)
            out[tag] = lst if not prev else as_windowed_values(prev) + lst
        return out

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

    # Map / Filter / FlatMap on Rows: one loop per stage, the other columns passed on. Under the
    # "fail" policy the loop stops at the first failing element (named in the error); under a
    # guarded policy each element is tried on its own and a failing one contributes nothing.
    def _call_fn(self) -> Any:
        f, args, kwargs = self.fn.fn, self.args, self.kwargs
        if args or kwargs:
            return lambda v: f(v, *args, **kwargs)
        return f

    def _failed(self, values: list, it: Any, e: Exception) -> BaseException:
        """The error of the element ``map(f, it)`` was at when ``f`` raised ``e``."""
        if isinstance(e, (FluvialError, UserCodeError)):
            return e
        i = len(values) - it.__length_hint__() - 1
        return user_error(self.label, values[i] if 0 <= i < len(values) else None, e)

    def _apply(self, f: Any, rows: Rows, fill: Any) -> tuple[list, list | None]:
        """``f`` over the values column: its results, and ``None`` when nothing failed, else a
        mask of the values it did not fail on. Unguarded, the first failure is raised naming its
        element; guarded, a failure goes to the error policy and ``fill`` takes its place."""
        values = rows.values
        if not self.errors.guarded:
            it = iter(values)
            try:
                return list(map(f, it)), None
            except Exception as e:
                raise self._failed(values, it, e) from e
        out: list = []
        append = out.append
        ok = None
        handle, stamps = self.errors.handle, rows.stamps
        for i, v in enumerate(values):
            try:
                append(f(v))
            except Exception as e:
                handle(e, v, stamps[i])
                append(fill)
                if ok is None:
                    ok = [True] * len(values)
                ok[i] = False
        return out, ok

    def _map(self, rows: Rows) -> Rows:
        out, ok = self._apply(self._call_fn(), rows, None)
        res = Rows(out, rows.stamps, rows.windows, rows.panes)
        return res if ok is None else res.take(ok)

    def _filter(self, rows: Rows) -> Rows:
        keep, _ = self._apply(self._call_fn(), rows, False)
        return rows.take(keep)

    def _flat_map(self, rows: Rows) -> Rows:
        f = self._call_fn()
        if self.errors.guarded:  # a generator's failure is the element's: run it under the policy
            call, materialise = f, self._materialise

            def f(v: Any) -> Any:
                res = call(v)
                if res is not None and type(res) not in _SEQUENCES:
                    res = materialise(v, res)
                return res
        results, _ = self._apply(f, rows, None)
        if set(map(type, results)) <= _SEQUENCES:  # every result a list or tuple
            lens = list(map(len, results))
            out = rows.repeat_each(list(chain.from_iterable(results)), lens)
        else:
            out = self._flatten(rows, results)
        if not _SPECIAL.isdisjoint(map(type, out.values)):
            out = self._special_outputs(rows, results)
        return out

    def _materialise(self, v: Any, res: Any) -> list:
        """A result that is not a list or tuple, as a list (a generator runs here)."""
        tr = type(res)
        if tr is str or tr is bytes or tr is dict or not hasattr(res, "__iter__"):
            raise _not_iterable(self.label, v, res)
        return list(res)

    def _flatten(self, rows: Rows, results: list) -> Rows:
        """The outputs of each element's result (None: no output), in order; a result that is
        not a list or tuple is replaced in ``results`` by the list it gave."""
        vals: list = []
        src: list = []
        values = rows.values
        for i, res in enumerate(results):
            if res is None:
                continue
            if type(res) not in _SEQUENCES:
                try:
                    res = results[i] = self._materialise(values[i], res)
                except (FluvialError, UserCodeError):
                    raise
                except Exception as e:
                    raise user_error(self.label, values[i], e) from e
            n = len(res)
            if n == 1:
                vals.append(res[0])
                src.append(i)
            elif n:
                vals.extend(res)
                src.extend(repeat(i, n))
        return rows.gather(vals, src)

    def _special_outputs(self, rows: Rows, results: list) -> Rows:
        """The outputs again when some set their own timestamp (TimestampedValue) or windows
        (WindowedValue), read as :func:`fluvial.dofn_invoker.normalize_outputs` reads them; an
        element whose outputs are not valid (a WindowedValue out of the event-time range) goes
        to the error policy whole."""
        guarded, handle = self.errors.guarded, self.errors.handle
        values, stamps = rows.values, rows.stamps
        wl, pl = rows.window_list(), rows.pane_list()
        out_v: list = []
        out_t: list = []
        out_w: list = []
        out_p: list = []
        for i, res in enumerate(results):
            if not res:
                continue
            buf = []
            try:
                for o in res:
                    t = type(o)
                    if t is TaggedOutput:
                        raise FluvialError(
                            f"transform '{self.label}': FlatMap cannot emit tagged outputs; use "
                            "ParDo")
                    if t is TimestampedValue:
                        buf.append((o.value, o.timestamp_ms, wl[i], pl[i]))
                    elif t is WindowedValue:
                        check_event_time(o.timestamp)  # as normalize_outputs does
                        buf.append((o.value, o.timestamp, o.windows, o.pane))
                    else:
                        buf.append((o, stamps[i], wl[i], pl[i]))
            except FluvialError:
                raise
            except Exception as e:
                if not guarded:
                    raise user_error(self.label, values[i], e) from e
                handle(e, values[i], stamps[i])
                continue
            for v, t, w, p in buf:
                out_v.append(v)
                out_t.append(t)
                out_w.append(w)
                out_p.append(p)
        return Rows(out_v, out_t, out_w, out_p)

    def _batched(self, rows: Rows) -> Rows:
        values = rows.values
        arg = np.asarray(values) if self.numpy_batch else values
        try:
            res = self.fn.process_batch(arg)
        except Exception as e:
            if self.errors.guarded and not isinstance(e, FluvialError):
                return self._one_by_one(rows)
            raise user_error(self.label, values[:5], e) from e
        return Rows(self._check_batch_result(len(values), res), rows.stamps, rows.windows,
                    rows.panes)

    def _one_by_one(self, rows: Rows) -> Rows:
        """``process_batch`` raised: call it per element to isolate the failing ones."""
        handle = self.errors.handle
        out: list = []
        keep = [True] * len(rows)
        for i, v in enumerate(rows.values):
            try:
                res = self.fn.process_batch(np.asarray([v]) if self.numpy_batch else [v])
            except Exception as e:
                handle(e, v, rows.stamps[i])
                keep[i] = False
                out.append(None)
                continue
            out.extend(self._check_batch_result(1, res))
        res_rows = Rows(out, rows.stamps, rows.windows, rows.panes)
        return res_rows if all(keep) else res_rows.take(keep)

    def _check_batch_result(self, n: int, res: Any) -> list:
        if isinstance(res, np.ndarray):
            res = res.tolist()
        elif res is not None and not isinstance(res, list):
            res = list(res)
        if res is None or len(res) != n:
            raise FluvialError(
                f"transform '{self.label}': process_batch must return one output per input "
                f"({n}), got {0 if res is None else len(res)}"
            )
        return res

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


_SPECIAL = frozenset((TaggedOutput, TimestampedValue, WindowedValue))
_SEQUENCES = frozenset((list, tuple))


def _not_iterable(label: str, element: Any, res: Any) -> UserCodeError:
    return UserCodeError(
        label, element,
        TypeError(f"process() must yield or return an iterable of outputs, got "
                  f"{type(res).__name__}; use Map for one output per element"),
    )


def merge_outputs(src: dict[str | None, list], out: dict[str | None, list]) -> None:
    """Append one element's buffered outputs to the bundle's, by tag."""
    for tag, vals in src.items():
        out.setdefault(tag, []).extend(vals)


class ParDoOperator(Operator):
    """A chain of stateless DoFns fused into one operator: the batch passes through every
    stage as Rows (Map, Filter, FlatMap and ``process_batch`` stages) or as WindowedValues
    (other DoFns). Only the last stage may have tagged outputs."""

    accepts_rows = True

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
            out = c.run_bundle(batch)
            if i == last:
                for tag, b in out.items():
                    self.emit(b, tag)
                return
            batch = out.get(None)
            if not batch:
                return
