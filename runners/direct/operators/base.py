"""Operator base: input watermarks, output wiring, and the push-based batch protocol.

Operators receive batches (lists of WindowedValue, or ColumnBatch) synchronously from their
producers; a batch is processed to completion downstream before the next is pulled from a
source, so memory stays bounded by the batch size and a slow operator pauses the sources.
"""

from __future__ import annotations

from typing import Any

from fluvial import metrics as m
from fluvial.columnar import ColumnBatch
from fluvial.metrics import MetricKey, MetricsContainer
from fluvial.timeutil import MIN_TIMESTAMP_MS


class Operator:
    label: str = ""
    n_inputs: int = 1
    accepts_columns = False  # whether process() takes ColumnBatch as it is

    def __init__(self, label: str, n_inputs: int = 1) -> None:
        self.label = label
        self.n_inputs = n_inputs
        self.input_wms = [MIN_TIMESTAMP_MS] * max(n_inputs, 1)
        self.input_idle = [False] * max(n_inputs, 1)
        self.watermark = MIN_TIMESTAMP_MS  # combined input watermark
        self.out_wm = MIN_TIMESTAMP_MS  # last forwarded output watermark
        self.consumers: dict[str | None, list[tuple[Operator, int]]] = {}
        self.metrics: MetricsContainer | None = None
        self.processing_time = 0

    # wiring ---------------------------------------------------------------------------------
    def add_consumer(self, tag: str | None, op: Operator, idx: int) -> None:
        self.consumers.setdefault(tag, []).append((op, idx))

    def emit(self, batch: Any, tag: str | None = None) -> None:
        if not batch:
            return
        rows = None
        for op, idx in self.consumers.get(tag, ()):
            if isinstance(batch, ColumnBatch) and not op.accepts_columns:
                if rows is None:
                    rows = batch.to_windowed_values()
                op.process(idx, rows)
            else:
                op.process(idx, batch)

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
        if wm <= self.input_wms[idx]:
            return
        self.input_wms[idx] = wm
        self._recompute()

    def receive_idle(self, idx: int, idle: bool) -> None:
        """An input became idle (left out of the watermark minimum) or active again."""
        if self.input_idle[idx] == idle:
            return
        self.input_idle[idx] = idle
        self._recompute()

    def _recompute(self) -> None:
        live = [w for w, idle in zip(self.input_wms, self.input_idle) if not idle]
        if not live:
            return
        new = min(live)
        if new > self.watermark:
            self.watermark = new
            m.set_step(self.label)
            self.on_watermark(new)
        self.forward_watermark()

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
        return {"wm": (self.input_wms, self.watermark, self.out_wm, self.input_idle)}

    def restore(self, st: Any) -> None:
        self.input_wms, self.watermark, self.out_wm, self.input_idle = st["wm"]

    # metrics --------------------------------------------------------------------------------
    def count(self, name: str, n: int = 1) -> None:
        if self.metrics is not None and n:
            self.metrics.inc(MetricKey(self.label, "fluvial", name), n)
