"""Sources and the Read primitive. A source opens a reader per run; readers hand out batches,
report their watermark, and snapshot/restore their position for checkpoints.

>>> class Numbers(Source):
...     def __init__(self, n): self.n = n
...     def open(self, ctx): return ListReader([(i, i * 1000) for i in range(self.n)])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fluvial.deadletter import DeadLetterRecord
from fluvial.errors import EventTimeOutOfRangeError, PipelineConstructionError, UserCodeError
from fluvial.metrics import MetricKey
from fluvial.ptransform import PrimitiveTransform
from fluvial.timeutil import (
    MAX_EVENT_TIME_MS,
    MAX_TIMESTAMP_MS,
    MIN_EVENT_TIME_MS,
    MIN_TIMESTAMP_MS,
    event_time_problem,
)
from fluvial.watermarks import WatermarkStrategy
from fluvial.windowing import Windowing


class SourceContext:
    """What a runner tells a reader: options, metrics container, the processing-time clock, and
    where records that cannot be read go (:meth:`handle_error`).

    Event times (docs/concepts.md, "Event times"): a record's time must lie in
    ``MIN_EVENT_TIME_MS .. latest_event_time()`` — the fixed range of
    :mod:`fluvial.timeutil`, and no more than ``--max-event-time-ahead`` ahead of the wall
    clock. Runners check every record a reader hands out (:meth:`in_range`) before it is
    emitted or moves a watermark the runner derives; a reader that derives its own watermark
    from its records checks each one with :meth:`check_event_time` first.
    """

    def __init__(self, options: Any, clock: Any, label: str, metrics: Any = None,
                 dead_letter: Callable[[DeadLetterRecord], None] | None = None) -> None:
        self.options = options
        self.clock = clock
        self.label = label
        self.metrics = metrics
        self.dead_letter = dead_letter
        self.max_ahead_s: float | None = getattr(options, "max_event_time_ahead", None)

    def latest_event_time(self) -> int:
        """The latest event time (ms) a record read now may have: the wall clock plus
        ``--max-event-time-ahead``, never beyond :data:`~fluvial.timeutil.MAX_EVENT_TIME_MS`
        (which alone applies when the option is off). The wall clock, also under a TestStream:
        the bound concerns real time."""
        ahead = self.max_ahead_s
        if ahead is None:
            return MAX_EVENT_TIME_MS
        latest = int(time.time() * 1000) + int(ahead * 1000)
        return latest if latest < MAX_EVENT_TIME_MS else MAX_EVENT_TIME_MS

    def check_event_time(self, timestamp_ms: int, payload: Any, policy: str | None = None,
                         latest_ms: int | None = None, **where: Any) -> bool:
        """True when ``timestamp_ms`` is a supported event time for a record read now
        (``latest_ms``: :meth:`latest_event_time`, computed once per batch by the caller);
        else the error policy applies to the record (:meth:`handle_error` with an
        :class:`~fluvial.errors.EventTimeOutOfRangeError` saying why, ``payload`` and
        ``where`` as there; the record's ``timestamp_ms`` is None: it has no usable time) and
        the result is False: drop the record, and do not let it move a watermark."""
        latest = self.latest_event_time() if latest_ms is None else latest_ms
        if MIN_EVENT_TIME_MS <= timestamp_ms <= latest:
            return True
        reason = event_time_problem(timestamp_ms, latest, self.max_ahead_s)
        where.pop("timestamp_ms", None)
        self.handle_error(EventTimeOutOfRangeError(reason, timestamp_ms), payload, policy, **where)
        return False

    def in_range(self, got: Any, policy: str | None = None) -> Any:
        """The records of a reader's batch (a list of ``(value, timestamp_ms)`` or a
        ColumnBatch) whose event times are supported; each other record goes to the error
        policy (:meth:`check_event_time`; payload: the value, for a ColumnBatch its
        ``(key, value)``). Returns ``got`` itself when every time is in range (the common
        case costs a min and a max)."""
        return self.in_range_with_max(got, policy)[0]

    def in_range_with_max(self, got: Any, policy: str | None = None) -> tuple[Any, int | None]:
        """:meth:`in_range`, and the largest event time of the records kept (None when none
        is): what a runner feeds its watermark generator, found in the same pass."""
        from fluvial.columnar import ColumnBatch

        if not len(got):
            return got, None
        latest = self.latest_event_time()
        if isinstance(got, ColumnBatch):
            ts = got.timestamps
            hi = int(ts.max())
            if int(ts.min()) >= MIN_EVENT_TIME_MS and hi <= latest:
                return got, hi
            keep = (ts >= MIN_EVENT_TIME_MS) & (ts <= latest)
            for i in (~keep).nonzero()[0].tolist():
                self.check_event_time(int(ts[i]), (got.keys[i].item(), got.values[i].item()),
                                      policy, latest)
            kept = ColumnBatch(got.keys[keep], got.values[keep], ts[keep])
            return kept, (int(kept.timestamps.max()) if len(kept) else None)
        stamps = [t for _, t in got]
        hi = max(stamps)
        if min(stamps) >= MIN_EVENT_TIME_MS and hi <= latest:
            return got, hi
        kept = [r for r in got if self.check_event_time(r[1], r[0], policy, latest)]
        return kept, (max(t for _, t in kept) if kept else None)

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
    MIN until exhausted, then MAX (bounded semantics). With ``ctx`` (the context ``open``
    receives), a record whose event time is out of range goes to the pipeline's error policy
    here (:meth:`SourceContext.check_event_time`); without it, such a record is handed out (the
    runner's check catches it) but never feeds the strategy's watermark."""

    def __init__(self, records: list[tuple[Any, int]], strategy: WatermarkStrategy | None = None,
                 ctx: SourceContext | None = None) -> None:
        self.records = records
        self.pos = 0
        self.gen = strategy.create() if strategy else None
        self.ctx = ctx

    def poll(self, max_records: int) -> Any:
        if self.pos >= len(self.records):
            return None
        out = self.records[self.pos : self.pos + max_records]
        self.pos += len(out)
        ctx = self.ctx
        if ctx is not None:
            latest = ctx.latest_event_time()
            out = [r for r in out if ctx.check_event_time(r[1], r[0], None, latest)]
        if self.gen is not None:
            for _, ts in out:
                if MIN_EVENT_TIME_MS <= ts <= MAX_EVENT_TIME_MS:
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
