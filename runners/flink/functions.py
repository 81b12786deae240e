"""The Python functions fluvial hands to Flink (wrapped by :mod:`.boot`): a fused chain of
stateless stages and the reader of a bounded Python source (sink writers: :mod:`.committing`;
Kafka: :mod:`.kafka_functions`). Pure Python (no
pyflink import): Flink calls ``open``, ``process_element`` and ``close``; what
``process_element`` returns is the list of outputs, a ``(output_tag, record)`` pair being a side
output.

Every function keeps a MetricsContainer of its own, makes it fluvial's current container on
every call (several functions may share a thread), writes it to the side channel when Flink
closes the function, and records the error that fails the job there before raising it (see
:mod:`.sidechannel`).
"""

from __future__ import annotations

import time
from typing import Any

from fluvial import metrics as m
from fluvial.columnar import ColumnBatch
from fluvial.errors import BadElementError, FluvialError, UserCodeError
from fluvial.metrics import MetricKey, MetricsContainer
from fluvial.runners.common.failures import user_error
from fluvial.runners.common.keys import checked_kv
from fluvial.source import SourceContext
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.values import WindowedValue

from .records import (
    CLOCK_KEY_BYTES,
    ClockTick,
    KeyClock,
    decode_script,
    from_wire,
    key_bytes,
    script_batch,
    script_element,
    script_watermark,
    to_wire,
)
from .sidechannel import SideChannel
from .stages import dead_letter


class _Function:
    """Metrics and error reporting shared by fluvial's Flink functions."""

    label = ""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.metrics: MetricsContainer | None = None

    def _open_metrics(self) -> None:
        self.metrics = MetricsContainer()
        self._bind(self.label)

    def _bind(self, step: str) -> None:
        if m._current.get() is not self.metrics:
            m.set_container(self.metrics)
        m.set_step(step)

    def _fail(self, e: BaseException, element: Any = None) -> BaseException:
        """Record the error the job fails with and return it to raise."""
        err = e if isinstance(e, (FluvialError, UserCodeError)) else user_error(self.label, element, e)
        SideChannel(self.channel).write_error(err)
        return err

    def _close_metrics(self) -> None:
        if self.metrics is not None:
            SideChannel(self.channel).write_metrics(self.metrics)


class WallClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def __call__(self) -> int:
        return self.now_ms()


class ChainFunction(_Function):
    """Stateless stages fused into one Flink operator. ``script_input``: the input is a script
    stream (decoded here), else wire records. Clock ticks skip the stages and go to every
    output (``tick_tags``: the side output tags besides the main output).

    ``keyed``: the main output feeds a keyed operator, given as ``(label, what, errors)``: it is
    emitted as keyed rows ``Row(key, wire record)`` (see :mod:`.records`); an element that is
    not a (key, value) pair with a hashable key goes to that transform's error policy
    ``errors`` (a dead letter or a skip counted under that transform, or the run fails naming
    it).

    ``feeder``: the main output feeds the Java combine path (:mod:`.combine_java`): what one
    input record produces is encoded as one batch (a source's columnar batch without per-element
    Python when no stage runs before). ``combined``: the input is the Java combine path's result
    batches, ``(label of the CombinePerKey, ResultDecoder)``.

    Every input record may hold several elements (a columnar batch from a source, a batch of
    results); their outputs are concatenated in order."""

    def __init__(self, label: str, stages: list, script_input: bool, channel: str,
                 tick_tags: list, keyed: tuple[str, str, Any] | None = None, feeder: Any = None,
                 combined: tuple[str, Any] | None = None) -> None:
        super().__init__(channel)
        self.label = label
        self.stages = stages
        self.script_input = script_input
        self.tick_tags = tick_tags
        self.keyed = keyed
        self.feeder = feeder
        self.combined = combined
        self.row: Any = None

    def open(self, runtime_context: Any = None) -> None:
        self._open_metrics()
        if self.keyed is not None:
            from pyflink.common import Row

            self.row = Row
            self.keyed[2].metrics = self.metrics
        try:
            for st in self.stages:
                self._bind(st.label)
                st.open(self.metrics)
        except Exception as e:
            raise self._fail(e) from None

    def _inputs(self, value: Any) -> list:
        """What one input record holds: WindowedValues, ClockTicks and ColumnBatches."""
        if self.combined is not None:
            label, decoder = self.combined
            items, dropped = decoder.decode(value)
            if dropped:
                self.metrics.inc(MetricKey(label, "fluvial", "dropped_due_to_lateness"), dropped)  # type: ignore[union-attr]
            return [it if type(it) is ClockTick else from_wire(it) for it in items]
        if self.script_input:
            got = decode_script(value)
            return [] if got is None else [got]
        if type(value) is ClockTick:
            return [value]
        return [from_wire(value)]

    def process_element(self, value: Any, ctx: Any = None) -> list:
        out: list = []
        feed: list = []  # what goes to the Java combine path, encoded once per input record
        for item in self._inputs(value):
            t = type(item)
            if t is ClockTick:
                if feed:
                    out.append(self._encode(feed))
                    feed = []
                out.extend(self._tick(item))
            elif t is ColumnBatch:
                if self.feeder is not None and not self.stages:
                    out.append(self._encode(item))
                else:
                    for wv in item.to_windowed_values():
                        self._one(wv, out, feed)
            else:
                self._one(item, out, feed)
        if feed:
            out.append(self._encode(feed))
        return out

    def _encode(self, items: Any) -> bytes:
        """A batch for the Java combine path (a list of WindowedValues or a ColumnBatch)."""
        try:
            if type(items) is ColumnBatch:
                return self.feeder.encode_columns(items.keys, items.values, items.timestamps)  # type: ignore[union-attr]
            return self.feeder.encode(items)  # type: ignore[union-attr]
        except FluvialError as e:
            raise self._fail(e) from None

    def _tick(self, tick: ClockTick) -> list:
        side_ticks = [(tag, tick) for tag in self.tick_tags]
        if self.keyed is not None:
            return [self.row(None, KeyClock(tick.now_ms)), self.row(CLOCK_KEY_BYTES, tick),
                    *side_ticks]
        if self.feeder is not None:
            return [self.feeder.encode_tick(tick.now_ms), *side_ticks]
        return [tick, *side_ticks]

    def _one(self, wv: WindowedValue, out: list, feed: list) -> None:
        side: list = []
        batch = [wv]
        try:
            for st in self.stages:
                self._bind(st.label)
                batch = st.run(batch, side)
                if not batch:
                    break
        except Exception as e:
            raise self._fail(e, wv.value) from None
        if self.feeder is not None:
            feed.extend(batch)
        elif self.keyed is not None:
            out.extend(self._keyed_rows(batch, side))
        else:
            out.extend(to_wire(o) for o in batch)
        if side:
            out.extend(x for x in side if x[0] is not None)  # None: an output nobody reads

    def _keyed_rows(self, batch: list, side: list) -> list:
        label, what, errors = self.keyed  # type: ignore[misc]
        row = self.row
        out = []
        for o in batch:
            try:
                kv = checked_kv(label, o.value, what)
                key = kv[0]
            except BadElementError as e:
                self._bind(label)
                try:
                    errors.handle(e, o.value, o.timestamp, side)
                except Exception as failed:
                    raise self._fail(failed) from None
                continue
            w = to_wire(o)
            out.append(row(key_bytes(key), w if kv is o.value else (kv, w[1], w[2], w[3])))
        return out

    def close(self) -> None:
        try:
            for st in self.stages:
                self._bind(st.label)
                st.close()
        except Exception as e:
            raise self._fail(e) from None
        finally:
            self._close_metrics()


class ReadFunction(_Function):
    """Reads a bounded fluvial Source to exhaustion when the single impulse record arrives,
    emitting a script stream: every record at its timestamp, and a watermark record whenever
    the source's watermark (or its ``strategy``'s) moves forward. Records the reader hands to
    ``ctx.handle_error`` go to ``dlq_tag`` as dead letters, and so do records whose event time
    is out of range (``SourceContext.in_range``), before the strategy sees them."""

    def __init__(self, label: str, source: Any, options: Any, batch: int, strategy: Any,
                 channel: str, dlq_tag: Any) -> None:
        super().__init__(channel)
        self.label = label
        self.source = source
        self.options = options
        self.batch = batch
        self.strategy = strategy
        self.dlq_tag = dlq_tag

    def open(self, runtime_context: Any = None) -> None:
        self._open_metrics()

    def process_element(self, impulse: Any, ctx: Any = None) -> Any:
        dead: list = []
        read = MetricKey(self.label, "fluvial", "records_read")
        sctx = SourceContext(self.options, WallClock(), self.label, self.metrics, dead.append)
        try:
            reader = self.source.open(sctx)
        except Exception as e:
            raise self._fail(e) from None
        gen = self.strategy.create() if self.strategy is not None else None
        wm = MIN_TIMESTAMP_MS
        policy = getattr(self.source, "on_error", None)  # None: the pipeline's --on-error
        ok = False
        try:
            while True:
                self._bind(self.label)
                got = reader.poll(self.batch)
                if got:  # out-of-range event times -> the policy, before any watermark
                    got = sctx.in_range(got, policy)
                if dead:
                    side: list = []
                    for rec in dead:
                        dead_letter(self.dlq_tag, rec, side, self.metrics)
                    dead.clear()
                    yield from side
                if got is None:
                    break
                if isinstance(got, ColumnBatch):
                    if not len(got):
                        time.sleep(0.001)
                        continue
                    yield script_batch(got)  # one record: the next operator takes the columns
                    self.metrics.inc(read, len(got))  # type: ignore[union-attr]
                    last = int(got.timestamps.max())
                else:
                    if not got:
                        time.sleep(0.001)
                        continue
                    for value, ts in got:
                        yield script_element(value, ts)
                    self.metrics.inc(read, len(got))  # type: ignore[union-attr]
                    last = max(t for _, t in got)
                if gen is not None:
                    gen.on_event(last)
                    new = gen.current()
                else:
                    new = reader.watermark()
                if wm < new < MAX_TIMESTAMP_MS:
                    wm = new
                    yield script_watermark(new)
            ok = True
        except GeneratorExit:
            raise
        except Exception as e:
            raise self._fail(e) from None
        finally:
            reader.close() if ok else reader.abort()

    def close(self) -> None:
        self._close_metrics()
