"""The stateless steps a fused Flink operator runs in Python: ParDo (stateless DoFns) and
window assignment. Pure Python: no pyflink here, so the steps are the same code in the driver's
tests and in Flink's workers.

A stage takes a list of :class:`~fluvial.values.WindowedValue` (one element, or what the stage
before produced from it) and returns the main output's list; tagged outputs and dead letters go
to ``side`` as ``(output_tag, wire_record)`` pairs (``output_tag`` is what the translation
created for that output, opaque here).

Rules, as on the other runners:

* Map / FlatMap / Filter of a plain function (``CallableDoFn.kind``) call the function directly;
  other DoFns go through :mod:`fluvial.dofn_invoker` (parameters, tagged outputs, outputs with
  their own timestamps or windows). A DoFn asking for its window is called once per window.
* Each element is its own bundle: PyFlink gives a Python function no bundle boundaries, so a
  DoFn that overrides ``start_bundle`` / ``finish_bundle`` has them called around every element
  (outputs of ``finish_bundle`` must be WindowedValues, as everywhere). DoFns that do not
  override them pay nothing.
* The error policy of each ParDo (``fail``, ``dead_letter``, ``skip``) applies per element; under
  ``dead_letter`` and ``skip`` an element's outputs are kept only if it completes. Dead-letter
  records are built as on the other runners (:meth:`DeadLetterRecord.from_exception`) and
  counted in ``fluvial/dead_letters`` under the transform; skipped elements in
  ``fluvial/errors_skipped``. fluvial's own usage errors (an undeclared output tag) always fail.
"""

from __future__ import annotations

from typing import Any

from fluvial.deadletter import DeadLetterRecord
from fluvial.dofn import CallableDoFn, DoFn
from fluvial.dofn_invoker import DoFnSignature, Invocation, bind_kwargs, normalize_outputs
from fluvial.errors import FluvialError
from fluvial.metrics import MetricKey, MetricsContainer
from fluvial.pane import NO_FIRING
from fluvial.runners.common.failures import apply_policy, user_error
from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.values import TaggedOutput, WindowedValue
from fluvial.window import GlobalWindows

from .records import to_wire


class ErrorPolicy:
    """The error policy ``policy`` of the transform ``label`` at run time."""

    __slots__ = ("label", "policy", "dlq_tag", "guarded", "metrics", "_skipped")

    def __init__(self, label: str, policy: str, dlq_tag: Any = None) -> None:
        if policy == "dead_letter" and dlq_tag is None:
            raise FluvialError(
                f"transform '{label}': on_error='dead_letter' but the pipeline has no consumed "
                "dead-letter output; add p.dead_letters() | WriteDeadLettersToJsonLines(path)"
            )
        self.label = label
        self.policy = policy
        self.dlq_tag = dlq_tag
        self.guarded = policy != "fail"
        self.metrics: MetricsContainer | None = None
        self._skipped = MetricKey(label, "fluvial", "errors_skipped")

    def handle(self, exc: BaseException, element: Any, timestamp_ms: int | None, side: list,
               where: str | None = None) -> None:
        """Called from an ``except`` block: raise (policy "fail", or a fluvial usage error), or
        record the failure and return. ``where`` describes a failure that concerns no single
        element (the UserCodeError of policy "fail" says it instead of "while processing
        element ...")."""
        record = apply_policy(self.label, self.policy, exc, element, timestamp_ms, where)
        if record is None:  # skip
            if self.metrics is not None:
                self.metrics.inc(self._skipped)
            return
        dead_letter(self.dlq_tag, record, side, self.metrics)


def dead_letter(dlq_tag: Any, record: DeadLetterRecord, side: list, metrics: MetricsContainer | None) -> None:
    """Send ``record`` to the dead-letter output (global window, at its timestamp), counted in
    ``fluvial/dead_letters`` under the transform that produced it."""
    ts = record.timestamp_ms if record.timestamp_ms is not None else MIN_TIMESTAMP_MS
    if metrics is not None:
        metrics.inc(MetricKey(record.transform, "fluvial", "dead_letters"))
    side.append((dlq_tag, (record, ts, None, None)))


class Stage:
    """One step of a fused operator."""

    label: str = ""

    def open(self, metrics: MetricsContainer) -> None:
        pass

    def run(self, batch: list[WindowedValue], side: list) -> list[WindowedValue]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class WindowStage(Stage):
    """WindowInto: assigns each element the windows of ``window_fn`` at its timestamp."""

    def __init__(self, label: str, window_fn: Any) -> None:
        self.label = label
        self.window_fn = window_fn

    def run(self, batch: list[WindowedValue], side: list) -> list[WindowedValue]:
        fn = self.window_fn
        if isinstance(fn, GlobalWindows):
            from fluvial.values import GLOBAL_WINDOWS

            return [WindowedValue(wv.value, wv.timestamp, GLOBAL_WINDOWS, NO_FIRING) for wv in batch]
        out = []
        for wv in batch:
            try:
                ws = tuple(fn.assign(wv.timestamp, wv.value))
            except Exception as e:
                raise user_error(self.label, wv.value, e) from e
            out.append(WindowedValue(wv.value, wv.timestamp, ws, NO_FIRING))
        return out


def _overrides(fn: DoFn, name: str) -> bool:
    return getattr(type(fn), name, None) is not getattr(DoFn, name)


class ParDoStage(Stage):
    """A stateless ParDo under its error policy. ``tags`` maps each declared output tag to the
    output tag object of the translation."""

    def __init__(self, label: str, pardo: Any, errors: ErrorPolicy, tags: dict[str, Any]) -> None:
        self.label = label
        self.fn = pardo.fn
        self.args = pardo.args
        self.kwargs = pardo.kwargs
        self.errors = errors
        self.tags = tags
        self.sig: Any = None

    # -- lifecycle ---------------------------------------------------------------------------
    def _lifecycle(self, what: str) -> Any:
        try:
            return getattr(self.fn, what)()
        except Exception as e:
            raise user_error(self.label, f"<{what}>", e) from e

    def open(self, metrics: MetricsContainer) -> None:
        self.errors.metrics = metrics
        self.sig = sig = DoFnSignature(self.fn, self.label)
        kind = self.fn.kind if isinstance(self.fn, CallableDoFn) else None
        self.fast = kind if kind in ("Map", "FlatMap", "Filter") and not sig.process_params else None
        self.use_batch = (self.fast is None and sig.has_batch and not sig.process_params
                          and not self.args and not self.kwargs)
        self.bundles = _overrides(self.fn, "start_bundle") or _overrides(self.fn, "finish_bundle")
        self._lifecycle("setup")

    def close(self) -> None:
        self._lifecycle("teardown")

    # -- elements ----------------------------------------------------------------------------
    def run(self, batch: list[WindowedValue], side: list) -> list[WindowedValue]:
        out: list[WindowedValue] = []
        if self.bundles:
            for wv in batch:
                self._lifecycle("start_bundle")
                self._one(wv, out, side)
                self._finish_bundle(out, side)
            return out
        for wv in batch:
            self._one(wv, out, side)
        return out

    def _one(self, wv: WindowedValue, out: list, side: list) -> None:
        if self.fast is not None:
            self._fast(wv, out, side)
        elif self.use_batch:
            self._batched(wv, out, side)
        else:
            self._general(wv, out, side)

    def _fast(self, wv: WindowedValue, out: list, side: list) -> None:
        f = self.fn.fn
        kind = self.fast
        try:
            if kind == "Map":
                out.append(WindowedValue(f(wv.value, *self.args, **self.kwargs), wv.timestamp,
                                         wv.windows, wv.pane))
            elif kind == "Filter":
                if f(wv.value, *self.args, **self.kwargs):
                    out.append(wv)
            else:
                res = f(wv.value, *self.args, **self.kwargs)
                if res is None:
                    return
                buf = []
                for tag, o in normalize_outputs(res, wv.timestamp, wv.windows, wv.pane,
                                                self.label, wv.value):
                    if tag is not None:
                        raise FluvialError(
                            f"transform '{self.label}': FlatMap cannot emit tagged outputs; use ParDo"
                        )
                    buf.append(o)
                out.extend(buf)
        except Exception as e:
            if not self.errors.guarded:
                raise user_error(self.label, wv.value, e) from e
            self.errors.handle(e, wv.value, wv.timestamp, side)

    def _batched(self, wv: WindowedValue, out: list, side: list) -> None:
        import numpy as np

        numpy = getattr(self.fn, "batch_type", "list") == "numpy"
        try:
            res = self.fn.process_batch(np.asarray([wv.value]) if numpy else [wv.value])
            if isinstance(res, np.ndarray):
                res = res.tolist()
            elif res is not None and not isinstance(res, list):
                res = list(res)
            if res is None or len(res) != 1:
                raise FluvialError(
                    f"transform '{self.label}': process_batch must return one output per input "
                    f"(1), got {0 if res is None else len(res)}"
                )
        except Exception as e:
            if not self.errors.guarded or isinstance(e, FluvialError):
                raise user_error(self.label, wv.value, e) from e
            self.errors.handle(e, wv.value, wv.timestamp, side)
            return
        out.append(WindowedValue(res[0], wv.timestamp, wv.windows, wv.pane))

    def _general(self, wv: WindowedValue, out: list, side: list) -> None:
        sig = self.sig
        label = self.label
        if sig.needs_window:
            groups = [((w,), w) for w in wv.windows]
        else:
            groups = [(wv.windows, wv.windows[0] if wv.windows else None)]
        guarded = self.errors.guarded
        for ws, w in groups:
            main: list = [] if guarded else out
            tagged: list = [] if guarded else side
            try:
                if sig.process_params:
                    inv = Invocation(wv, w, None, None, None, wv.timestamp)
                    kw = bind_kwargs(sig.process_params, inv, label)
                    if self.kwargs:
                        kw.update(self.kwargs)
                    res = self.fn.process(wv.value, *self.args, **kw)
                else:
                    res = self.fn.process(wv.value, *self.args, **self.kwargs)
                for tag, o in normalize_outputs(res, wv.timestamp, ws, wv.pane, label, wv.value):
                    if tag is None:
                        main.append(o)
                    else:
                        tagged.append((self._tag(tag), to_wire(o)))
            except Exception as e:
                if not guarded or isinstance(e, FluvialError):
                    raise user_error(label, wv.value, e) from e
                self.errors.handle(e, wv.value, wv.timestamp, side)
                continue
            if guarded:
                out.extend(main)
                side.extend(tagged)

    def _tag(self, tag: str) -> Any:
        try:
            return self.tags[tag]
        except KeyError:
            raise FluvialError(
                f"transform '{self.label}': output tagged {tag!r} is not declared; declare it "
                f"with ParDo(...).with_outputs({tag!r}) (declared: {sorted(self.tags)})"
            ) from None

    def _finish_bundle(self, out: list, side: list) -> None:
        res = self._lifecycle("finish_bundle")
        if res is None:
            return
        for r in res:
            tag = None
            if isinstance(r, TaggedOutput):
                tag, r = r.tag, r.value
            if not isinstance(r, WindowedValue):
                raise FluvialError(
                    f"transform '{self.label}': finish_bundle must yield WindowedValue(value, "
                    f"timestamp_ms, windows) (there is no current element), got {r!r}"
                )
            if tag is None:
                out.append(r)
            else:
                side.append((self._tag(tag), to_wire(r)))
