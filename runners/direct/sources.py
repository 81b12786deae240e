"""Source operators of the direct runner: Create, Read(Source), TestStream, and the
dead-letter source behind ``p.dead_letters()``."""

from __future__ import annotations

from typing import Any

from fluvial import metrics as m
from fluvial.columnar import ColumnBatch
from fluvial.metrics import MetricKey
from fluvial.pane import NO_FIRING
from fluvial.testing.test_script import (
    ElementEvent,
    EndOfInput,
    ProcessingTimeEvent,
    TestScript,
    WatermarkEvent,
)
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.values import GLOBAL_WINDOWS, TimestampedValue, WindowedValue

from .operators.base import Operator
from .operators.errors import user_error
from .rows import Rows


class SourceOperator(Operator):
    """A source: polled by the executor; ``poll`` pushes one batch downstream and returns the
    number of elements, 0 when nothing is available now, or None when exhausted."""

    is_test_stream = False
    records_read = 0  # elements handed downstream (for the progress display)

    def __init__(self, label: str) -> None:
        super().__init__(label, n_inputs=0)
        self.done = False

    def poll(self, max_records: int) -> int | None:
        raise NotImplementedError

    def set_watermark(self, wm: int) -> None:
        if wm > self.out_wm:
            self.out_wm = wm
            self.watermark = wm
            for op, idx in self.all_consumers():
                op.receive_watermark(idx, wm)

    def process(self, idx: int, batch: Any) -> None:  # pragma: no cover
        raise TypeError("sources have no inputs")


class _PositionSource(SourceOperator):
    """A source whose checkpointed position is an index into its own list."""

    pos = 0

    def snapshot(self) -> Any:
        st = super().snapshot()
        st.update(pos=self.pos, done=self.done)
        return st

    def restore(self, st: Any) -> None:
        super().restore(st)
        self.pos, self.done = st["pos"], st["done"]


class CreateSource(_PositionSource):
    def __init__(self, label: str, values: list) -> None:
        super().__init__(label)
        self.values = values
        self.pos = 0

    def poll(self, max_records: int) -> int | None:
        if self.pos >= len(self.values):
            if not self.done:
                self.done = True
                self.set_watermark(MAX_TIMESTAMP_MS)
            return None
        chunk = self.values[self.pos : self.pos + max_records]
        self.pos += len(chunk)
        values, stamps = [], []
        for v in chunk:
            if isinstance(v, TimestampedValue):
                values.append(v.value)
                stamps.append(v.timestamp_ms)
            else:
                values.append(v)
                stamps.append(MIN_TIMESTAMP_MS)
        self.records_read += len(values)
        self.emit(Rows(values, stamps))
        return len(values)


class ReadSource(SourceOperator):
    """Reads a :class:`fluvial.source.Source`. With a watermark strategy the watermark comes
    from the sdk's generator over the records' timestamps (one split: the whole source), else
    from the reader; either way the source tells its consumers when it is idle (the sdk's idle
    rule, :mod:`fluvial.watermarks`), so they leave it out of their minimum. A record whose
    event time is out of range goes to the source's error policy before it is emitted or seen by
    the generator (:meth:`fluvial.source.SourceContext.in_range`)."""

    def __init__(self, label: str, source: Any, ctx: Any, strategy: Any = None) -> None:
        super().__init__(label)
        self.source = source
        self.ctx = ctx
        self.reader: Any = None
        self.records_read = 0
        self.gen = strategy.create() if strategy is not None else None
        self.policy = getattr(source, "on_error", None)  # None: the pipeline's --on-error

    @property
    def idle(self) -> bool:
        return self.out_idle

    def _set_idle(self, idle: bool) -> None:
        if idle != self.out_idle:
            self.out_idle = idle
            for op, idx in self.all_consumers():
                op.receive_idle(idx, idle)

    def _strategy_watermark(self, max_ts: int | None) -> None:
        gen = self.gen
        now = self.ctx.clock.now_ms()
        if max_ts is not None:
            gen.on_event(max_ts, now)
        # the watermark first: consumers count it before they leave an idle source out
        self.set_watermark(gen.current())
        self._set_idle(gen.is_idle(now))

    def open(self, metrics: Any) -> None:
        super().open(metrics)
        try:
            self.reader = self.source.open(self.ctx)
        except Exception as e:
            raise user_error(self.label, None, e) from e
        if self.gen is not None:
            self.gen.start(self.ctx.clock.now_ms())  # the idle clock starts with the read

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def abort(self) -> None:
        if self.reader is not None:
            self.reader.abort()

    def poll(self, max_records: int) -> int | None:
        if self.done:
            return None
        try:
            got = self.reader.poll(max_records)
        except Exception as e:
            raise user_error(self.label, None, e) from e
        if got is None:
            self.done = True
            self.set_watermark(MAX_TIMESTAMP_MS)
            return None
        got, max_ts = self.ctx.in_range_with_max(got, self.policy)  # out of range: the policy
        n = len(got)
        if n:
            if isinstance(got, ColumnBatch):
                self.emit(got)
            else:
                self.emit(Rows([v for v, _ in got], [t for _, t in got]))
            self.records_read += n
            self.count("records_read", n)
        if self.gen is not None:
            self._strategy_watermark(max_ts)
        else:
            self.set_watermark(self.reader.watermark())
            self._set_idle(self.reader.is_idle())
        return n

    def snapshot(self) -> Any:
        st = super().snapshot()
        st.update(reader=self.reader.snapshot(), done=self.done,
                  gen=self.gen.snapshot() if self.gen is not None else None)
        return st

    def restore(self, st: Any) -> None:
        super().restore(st)
        self.done = st["done"]
        self.reader.restore(st["reader"])
        if self.gen is not None and st.get("gen") is not None:
            self.gen.restore(st["gen"])
            self.gen.start(self.ctx.clock.now_ms())  # the idle clock restarts with the read


class TestStreamSource(_PositionSource):
    """Plays a TestScript one step per poll, by the contract of
    :mod:`fluvial.testing.test_script`: elements go downstream as one batch (the operators
    evaluate triggers per element), watermark steps set the watermark, processing-time steps
    advance the executor's test clock (firing the timers that became due), EndOfInput moves the
    watermark to infinity and finishes the source."""

    __test__ = False
    is_test_stream = True

    def __init__(self, label: str, script: TestScript, executor: Any) -> None:
        super().__init__(label)
        self.steps = script.steps
        self.pos = 0
        self.executor = executor

    def poll(self, max_records: int) -> int | None:
        if self.done:
            return None
        step = self.steps[self.pos]
        self.pos += 1
        if isinstance(step, ElementEvent):
            els = step.elements
            self.records_read += len(els)
            self.emit(Rows([v for v, _ in els], [t for _, t in els]))
            return len(els)
        if isinstance(step, WatermarkEvent):
            self.set_watermark(step.watermark_ms)
        elif isinstance(step, ProcessingTimeEvent):
            self.executor.advance_test_clock(step.advance_ms)
        elif isinstance(step, EndOfInput):
            self.done = True
            self.set_watermark(MAX_TIMESTAMP_MS)
            return None
        return 0


class DeadLetterSource(SourceOperator):
    """Feeds ``p.dead_letters()``: operators and sources :meth:`push` DeadLetterRecords during
    the run and each goes downstream at once (so a checkpoint, taken between batches, finds it
    in downstream state or in a sink's pending transaction, never in flight). The watermark
    stays at MIN until every other source is done, then MAX. Counts ``fluvial/dead_letters``
    under the step of the transform that produced the record."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.others: list[SourceOperator] = []
        self.records = 0

    def push(self, record: Any) -> None:
        ts = record.timestamp_ms if record.timestamp_ms is not None else MIN_TIMESTAMP_MS
        self.records += 1
        if self.metrics is not None:
            self.metrics.inc(MetricKey(record.transform, "fluvial", "dead_letters"))
        step = m._current_step.get()  # downstream operators set their own step; restore ours
        try:
            self.emit([WindowedValue(record, ts, GLOBAL_WINDOWS, NO_FIRING)])
        finally:
            m.set_step(step)

    def poll(self, max_records: int) -> int | None:
        if self.done:
            return None
        if all(s.done for s in self.others):
            self.done = True
            self.set_watermark(MAX_TIMESTAMP_MS)
            return None
        return 0

    def snapshot(self) -> Any:
        st = super().snapshot()
        st.update(done=self.done, records=self.records)
        return st

    def restore(self, st: Any) -> None:
        super().restore(st)
        self.done, self.records = st["done"], st["records"]
