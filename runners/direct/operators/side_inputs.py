"""A stateless ParDo with side inputs on the direct runner (the semantics:
:mod:`fluvial.side_inputs`).

Input 0 is the main input, input ``i >= 1`` the i-th side input. Side elements are kept per side
window. A main element is processed once per window; when the side windows it maps to are all
ready (each side input's watermark has passed its side window) it is processed at once,
otherwise it waits, in arrival order, and is processed as soon as a side watermark makes them
ready, before that watermark goes downstream. Waiting elements hold the output watermark at the
earliest of their timestamps.

A side window's contents are dropped once the operator's input watermark passes its expiry
time with the main input's allowed lateness (every main window reading it has expired then);
side elements arriving for such a window are not kept. Checkpoints hold the contents and the
waiting elements.
"""

from __future__ import annotations

from typing import Any

from fluvial import metrics as m
from fluvial.side_inputs import SideArgs
from fluvial.values import WindowedValue
from fluvial.window import is_expired

from .base import Operator
from .pardo import DoFnCaller


class SideInputParDoOperator(Operator):
    """``caller`` (a stateless DoFn) over input 0 with the views of ``side_args`` over inputs
    1..n; ``main_lateness_ms``: the main input's allowed lateness."""

    def __init__(self, label: str, caller: DoFnCaller, side_args: SideArgs,
                 main_lateness_ms: int = 0) -> None:
        super().__init__(label, n_inputs=1 + len(side_args.views))
        self.caller = caller
        self.side_args = side_args
        self.views = side_args.views
        self.main_lateness_ms = main_lateness_ms
        # per side input: side window -> its elements, in arrival order
        self.contents: list[dict[Any, list]] = [{} for _ in self.views]
        self.waiting: list[WindowedValue] = []  # one window each, in arrival order

    # -- lifecycle -------------------------------------------------------------------------------
    def open(self, metrics: Any) -> None:
        super().open(metrics)
        self.caller.errors.metrics = metrics
        m.set_step(self.label)
        self.caller.setup()

    def close(self) -> None:
        self.caller.teardown()

    # -- data ------------------------------------------------------------------------------------
    def process(self, idx: int, batch: Any) -> None:
        m.set_step(self.label)
        if idx > 0:
            self._add_side(idx - 1, batch)
            return
        ready = []
        for wv in batch:
            for w in wv.windows:
                one = WindowedValue(wv.value, wv.timestamp, (w,), wv.pane)
                (ready if self._ready(w) else self.waiting).append(one)
        self._run(ready)

    def _add_side(self, i: int, batch: Any) -> None:
        store = self.contents[i]
        for wv in batch:
            for w in wv.windows:
                if is_expired(w, self.main_lateness_ms, self.watermark):
                    continue  # every main window reading it has expired
                store.setdefault(w, []).append(wv.value)

    def _ready(self, w: Any) -> bool:
        wms = self.inputs.wms
        return all(wms[i + 1] > v.side_window(w).max_timestamp_ms
                   for i, v in enumerate(self.views))

    def _take_ready(self) -> list[WindowedValue]:
        """The waiting elements that are ready now, in arrival order; the rest keep waiting."""
        ready, still = [], []
        for wv in self.waiting:
            (ready if self._ready(wv.windows[0]) else still).append(wv)
        self.waiting = still
        return ready

    def _run(self, elements: list[WindowedValue]) -> None:
        if not elements:
            return
        c = self.caller
        out: dict[str | None, list] = {}
        c.start_bundle()
        for wv in elements:
            w = wv.windows[0]
            values = self.side_args.values_for(
                w, lambda i, sw: self.contents[i].get(sw, ()), self.label)
            c.args, c.kwargs = self.side_args.bind(values)
            c.call(wv, out)
        c.finish_bundle(out)
        for tag, b in out.items():
            self.emit(b, tag)

    # -- time ------------------------------------------------------------------------------------
    def receive_watermark(self, idx: int, wm: int) -> None:
        inputs = self.inputs
        if wm <= inputs.wms[idx]:
            return
        inputs.advance(idx, wm)
        if idx > 0 and self.waiting:
            m.set_step(self.label)
            self._run(self._take_ready())  # before the watermark goes downstream
        self._recompute()

    def output_watermark(self) -> int:
        if not self.waiting:
            return self.watermark
        return min(self.watermark, min(wv.timestamp for wv in self.waiting))

    def on_watermark(self, wm: int) -> None:
        for store in self.contents:
            for w in [w for w in store if is_expired(w, self.main_lateness_ms, wm)]:
                del store[w]

    # -- checkpoints -----------------------------------------------------------------------------
    def snapshot(self) -> Any:
        st = super().snapshot()
        st["side_contents"] = [{w: list(vs) for w, vs in s.items()} for s in self.contents]
        st["waiting"] = [(wv.value, wv.timestamp, wv.windows, wv.pane) for wv in self.waiting]
        return st

    def restore(self, st: Any) -> None:
        super().restore(st)
        self.contents = [{w: list(vs) for w, vs in s.items()} for s in st["side_contents"]]
        self.waiting = [WindowedValue(*t) for t in st["waiting"]]
