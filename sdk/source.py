"""Sources and the Read primitive. A source opens a reader per run; readers hand out batches,
report their watermark, and snapshot/restore their position for checkpoints.

>>> class Numbers(Source):
...     def __init__(self, n): self.n = n
...     def open(self, ctx): return ListReader([(i, i * 1000) for i in range(self.n)])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fluvial.deadletter import DeadLetterRecord
from fluvial.errors import PipelineConstructionError, UserCodeError
from fluvial.metrics import MetricKey
from fluvial.ptransform import PrimitiveTransform
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.watermarks import WatermarkStrategy
from fluvial.windowing import Windowing


class SourceContext:
    """What a runner tells a reader: options, metrics container, the processing-time clock, and
    where records that cannot be read go (:meth:`handle_error`)."""

    def __init__(self, options: Any, clock: Any, label: str, metrics: Any = None,
                 dead_letter: Callable[[DeadLetterRecord], None] | None = None) -> None:
        self.options = options
        self.clock = clock
        self.label = label
        self.metrics = metrics
        self.dead_letter = dead_letter

    def handle_error(self, exc: BaseException, payload: Any, policy: str | None = None, **where: Any) -> None:
        """Apply the error policy to a record the reader could not decode: ``policy`` is the
        source's own ``on_error`` (None: the pipeline's ``--on-error``, default "fail").
        ``where`` holds the DeadLetterRecord fields timestamp_ms, topic, partition, offset, key.
        "fail" raises UserCodeError; "skip" counts ``fluvial/errors_skipped``; "dead_letter"
        hands a DeadLetterRecord to the runner."""
        if policy is None:
            policy = getattr(self.options, "on_error", None) or "fail"
        if policy == "fail":
            raise UserCodeError(self.label, payload, exc) from exc
        if policy == "skip":
            if self.metrics is not None:
                self.metrics.inc(MetricKey(self.label, "fluvial", "errors_skipped"))
            return
        if self.dead_letter is None:
            raise PipelineConstructionError(
                f"transform '{self.label}': on_error='dead_letter' but this runner gave the source "
                "no dead-letter output"
            )
        self.dead_letter(DeadLetterRecord.from_exception(self.label, exc, payload, **where))


class SourceReader:
    """Reads a source. ``poll`` returns a list of ``(value, timestamp_ms)`` or a ColumnBatch, an
    empty list when nothing is available right now (unbounded), or None when exhausted."""

    def poll(self, max_records: int) -> Any:
        raise NotImplementedError

    def watermark(self) -> int:
        """The source watermark after the records handed out so far."""
        return MIN_TIMESTAMP_MS

    def is_idle(self) -> bool:
        """Every split of the reader is idle (:mod:`fluvial.watermarks`' idle rule): the runner
        leaves this source out of the watermark minimum downstream until it is active again."""
        return False

    def snapshot(self) -> Any:
        """The reader's position, stored in checkpoints."""
        return None

    def restore(self, state: Any) -> None:
        """Resume from a position returned by :meth:`snapshot`."""

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """A checkpoint covering the records read so far is durable."""

    def progress(self) -> dict[str, Any]:
        """Live figures for the progress display, e.g. ``{"lag": {"orders/0": 12}}`` (records
        behind the end of each partition) and ``{"watermark_held_by": {"orders/1": wm_ms}}``
        (the splits holding the reader's watermark back). Empty when the reader has none."""
        return {}

    def close(self) -> None:
        """The run ended successfully: release resources (a reader may commit its final
        position to an external system here)."""

    def abort(self) -> None:
        """The run failed or was cancelled: release resources without committing anything."""
        self.close()


class Source:
    is_bounded: bool = True

    def open(self, ctx: SourceContext) -> SourceReader:
        raise NotImplementedError

    def display_name(self) -> str:
        return type(self).__name__


class ListReader(SourceReader):
    """Reads an in-memory list of (value, timestamp_ms); watermark: an optional strategy, else
    MIN until exhausted, then MAX (bounded semantics)."""

    def __init__(self, records: list[tuple[Any, int]], strategy: WatermarkStrategy | None = None) -> None:
        self.records = records
        self.pos = 0
        self.gen = strategy.create() if strategy else None

    def poll(self, max_records: int) -> Any:
        if self.pos >= len(self.records):
            return None
        out = self.records[self.pos : self.pos + max_records]
        self.pos += len(out)
        if self.gen is not None:
            for _, ts in out:
                self.gen.on_event(ts)
        return out

    def watermark(self) -> int:
        if self.pos >= len(self.records):
            return MAX_TIMESTAMP_MS
        return self.gen.current() if self.gen is not None else MIN_TIMESTAMP_MS

    def snapshot(self) -> Any:
        return (self.pos, self.gen.snapshot() if self.gen else None)

    def restore(self, state: Any) -> None:
        self.pos = state[0]
        if self.gen is not None and state[1] is not None:
            self.gen.restore(state[1])


class Read(PrimitiveTransform):
    """Read a :class:`Source`: ``p | Read(MySource())``.

    ``watermark_strategy`` (e.g. ``BoundedOutOfOrderness(5, idle_timeout=30)``) makes the runner
    derive the watermark from the records' timestamps instead of asking the reader; with an idle
    timeout, a source that produced nothing for that long (processing time, counted from the
    start of the read if it never produced) stops holding back the watermark of the operators it
    feeds until it produces again (the rules of :mod:`fluvial.watermarks`).
    """

    def __init__(self, source: Source, watermark_strategy: WatermarkStrategy | None = None) -> None:
        if not isinstance(source, Source):
            raise TypeError(f"Read needs a Source, got {source!r}")
        if watermark_strategy is not None and not isinstance(watermark_strategy, WatermarkStrategy):
            raise TypeError(
                f"Read: watermark_strategy must be a WatermarkStrategy such as "
                f"BoundedOutOfOrderness(5), got {watermark_strategy!r}"
            )
        self.source = source
        self.watermark_strategy = watermark_strategy

    def default_label(self) -> str:
        return f"Read({self.source.display_name()})"

    def expand_primitive(self, node, pipeline):
        return pipeline.new_pcollection(node, Windowing(), self.source.is_bounded)
