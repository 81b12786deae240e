"""Operator base: input watermarks, output wiring, and the push-based batch protocol.

Operators receive batches synchronously from their producers: :class:`~fluvial.runners.direct.
rows.Rows` if they accept them (``accepts_rows``), a ColumnBatch as it is if they accept columns
(``accepts_columns``), else a list of WindowedValue; :meth:`Operator.emit` converts once per
batch and format; a batch is processed to completion downstream before the next is pulled from a
source, so memory stays bounded by the batch size and a slow operator pauses the sources.

Watermarks: an operator's input watermark is the sdk's :class:`~fluvial.watermarks.
WatermarkCombinator` over its inputs (the minimum over live inputs; an idle input is left out
until it is active again, an input at the end of time for good; all idle: hold; never
backwards). When every unfinished input is idle the operator tells its consumers it is idle
itself, so idleness travels downstream to every multi-input operator.
"""

from __future__ import annotations

from typing import Any

from fluvial import metrics as m
from fluvial.columnar import ColumnBatch
from fluvial.metrics import MetricKey, MetricsContainer
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.watermarks import WatermarkCombinator

from ..rows import as_rows, as_windowed_values


class Operator:
    label: str = ""
    n_inputs: int = 1
    accepts_columns = False  # whether process() takes ColumnBatch as it is
    accepts_rows = False  # whether process() takes Rows (else: a list of WindowedValue)

    def __init__(self, label: str, n_inputs: int = 1) -> None:
        self.label = label
        self.n_inputs = n_inputs
        # the sdk's combinator over the inputs (minimum over live inputs, idle ones left out,
        # finished ones for good, never backwards): fluvial.watermarks
        self.inputs = WatermarkCombinator(range(max(n_inputs, 1)))
        self.watermark = MIN_TIMESTAMP_MS  # combined input watermark
        self.out_wm = MIN_TIMESTAMP_MS  # last forwarded output watermark
        self.out_idle = False  # last idleness told to the consumers
        self.consumers: dict[str | None, list[tuple[Operator, int]]] = {}
        self.metrics: MetricsContainer | None = None
        self.processing_time = 0

    @property
    def input_wms(self) -> list[int]:
        """Each input's latest watermark."""
        return list(self.inputs.wms.values())

    @property
    def input_idle(self) -> list[bool]:
        """Whether each input is idle (left out of the minimum) right now."""
        return [i in self.inputs.idle_inputs for i in self.inputs.wms]

    # wiring ---------------------------------------------------------------------------------
    def add_consumer(self, tag: str | None, op: Operator, idx: int) -> None:
        self.consumers.setdefault(tag, []).append((op, idx))

    def emit(self, batch: Any, tag: str | None = None) -> None:
        if not batch:
            return
        rows = wvs = None
        columns = isinstance(batch, ColumnBatch)
        for op, idx in self.consumers.get(tag, ()):
            if columns and getattr(op, "accepts_columns", False):
                op.process(idx, batch)
            elif getattr(op, "accepts_rows", False):
                if rows is None:
                    rows = as_rows(batch)
                op.process(idx, rows)
            else:
                if wvs is None:
                    wvs = as_windowed_values(batch)
                op.process(idx, wvs)

    def all_consumers(self):
        for lst in self.consumers.values():
            yield from lst

    # lifecycle ------------------------------------------------------------------------------
    def open(self, metrics: MetricsContainer) -> None:
        self.metrics = metrics

    def close(self) -> None:
        pass

    def abort(self) -> None:
        """The run failed: release resources without committing anything."""
        self.close()

    # data -----------------------------------------------------------------------------------
    def process(self, idx: int, batch: Any) -> None:
        raise NotImplementedError

    # time -----------------------------------------------------------------------------------
    def receive_watermark(self, idx: int, wm: int) -> None:
        inputs = self.inputs
        if wm <= inputs.wms[idx]:
            return
        inputs.advance(idx, wm)
        self._recompute()

    def receive_idle(self, idx: int, idle: bool) -> None:
        """An input became idle (left out of the watermark minimum) or active again."""
        if (idx in self.inputs.idle_inputs) == idle:
            return
        self.inputs.set_idle(idx, idle)
        self._recompute()

    def _recompute(self) -> None:
        new = self.inputs.current()
        if new > self.watermark:
            self.watermark = new
            m.set_step(self.label)
            self.on_watermark(new)
        self.forward_watermark()
        idle = self.inputs.idle
        if idle != self.out_idle:
            # every input idle: this operator is idle too, so its consumers leave it out
            self.out_idle = idle
            for op, i in self.all_consumers():
                op.receive_idle(i, idle)

    def forward_watermark(self) -> None:
        out = self.output_watermark()
        if out > self.out_wm:
            self.out_wm = out
            for op, idx in self.all_consumers():
                op.receive_watermark(idx, out)

    def output_watermark(self) -> int:
        return self.watermark

    def on_watermark(self, wm: int) -> None:
        pass

    def on_processing_time(self, now: int) -> None:
        self.processing_time = now

    def next_processing_timer(self) -> int | None:
        return None

    # checkpoints ----------------------------------------------------------------------------
    def snapshot(self) -> Any:
        return {"wm": (self.inputs.snapshot(), self.watermark, self.out_wm)}

    def restore(self, st: Any) -> None:
        """Watermarks come back; every input is active again (idleness is processing-time
        state: sources restart their idle clocks)."""
        wm = st["wm"]
        if len(wm) == 4:  # (input watermarks, watermark, out_wm, idle flags): older checkpoints
            wms, self.watermark, self.out_wm, _idle = wm
            inputs = {"wms": dict(enumerate(wms)), "value": self.watermark,
                      "finished": {i for i, w in enumerate(wms) if w >= MAX_TIMESTAMP_MS}}
        else:
            inputs, self.watermark, self.out_wm = wm
        self.inputs.restore(inputs)
        self.out_idle = False

    # metrics --------------------------------------------------------------------------------
    def count(self, name: str, n: int = 1) -> None:
        if self.metrics is not None and n:
            self.metrics.inc(MetricKey(self.label, "fluvial", name), n)
