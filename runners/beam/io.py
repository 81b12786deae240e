"""fluvial's generic Read(Source) and Write(Sink) on Beam.

* Read: after an Impulse, one DoFn opens the source's reader and polls it until it is exhausted,
  emitting every record at its own timestamp; a record whose event time is out of range goes
  to the source's error policy instead (``SourceContext.in_range``). Only bounded sources (an unbounded reader would
  never return from that DoFn; Beam's unbounded sources are splittable DoFns).
* Write: a DoFn keeps one SinkWriter per DoFn instance (one per worker), buffers the bundle's
  elements and at ``finish_bundle`` writes them, then calls ``snapshot`` and
  ``notify_checkpoint_complete`` (a committed bundle is a completed checkpoint). Guarantee:
  at-least-once - a bundle Beam retries after a failure is written again; output committed by
  earlier bundles stays. ``close`` runs at teardown.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.transforms.window import TimestampedValue as BeamTimestampedValue

from fluvial.columnar import ColumnBatch
from fluvial.errors import FluvialError, UserCodeError
from fluvial.pane import NO_FIRING
from fluvial.source import Source, SourceContext

from .convert import from_beam_pane, from_beam_ts, from_beam_window, to_beam_ts
from .deadletters import dead_letter_output
from .metrics import STEP_BRIDGE, install_bridge


class _WallClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def __call__(self) -> int:
        return self.now_ms()


class ReadSourceFn(beam.DoFn):
    """Impulse -> every record of a bounded fluvial Source, at its timestamp. The reader's
    SourceContext sends dead-letter records to the tagged output ``DLQ_TAG`` (declared by the
    translation when the source's policy is "dead_letter")."""

    def __init__(self, source: Source, label: str, options: Any, batch: int) -> None:
        self.source = source
        self.label = label
        self.options = options
        self.batch = batch

    def process(self, _impulse):
        install_bridge()
        dead: list = []
        ctx = SourceContext(self.options, _WallClock(), self.label, STEP_BRIDGE, dead.append)
        reader = self.source.open(ctx)
        policy = getattr(self.source, "on_error", None)  # None: the pipeline's --on-error
        ok = False
        try:
            while True:
                got = reader.poll(self.batch)
                if dead:  # records the reader handed to ctx.handle_error
                    for rec in dead:
                        yield dead_letter_output(rec)
                    dead.clear()
                if got is None:
                    break
                got = ctx.in_range(got, policy)  # out-of-range event times -> the policy
                if dead:
                    for rec in dead:
                        yield dead_letter_output(rec)
                    dead.clear()
                if isinstance(got, ColumnBatch):
                    got = [((k, v), t) for k, v, t in got.rows()]
                for value, ts in got:
                    yield BeamTimestampedValue(value, to_beam_ts(ts))
            ok = True
        except FluvialError:
            raise
        except Exception as e:
            raise UserCodeError(self.label, None, e) from e
        finally:
            # a failed read commits nothing (e.g. no Kafka group offsets)
            reader.close() if ok else reader.abort()


class WriteSinkFn(beam.DoFn):
    """Writes bundles to a SinkWriter; commits at the end of every bundle."""

    _ids = itertools.count(1)

    def __init__(self, sink: Any, label: str, options: Any, dead_letters: bool = False) -> None:
        self.sink = sink
        self.label = label
        self.options = options
        self.dead_letters = dead_letters
        self.writer: Any = None
        self.buf: list = []
        self.dead: list = []

    def setup(self) -> None:
        install_bridge()
        self.dead = []
        # dead letters of elements the writer cannot write (a sink's own on_error), handed
        # out after the bundle is written
        ctx = SourceContext(self.options, _WallClock(), self.label, STEP_BRIDGE,
                            self.dead.append if self.dead_letters else None)
        self.writer = self.sink.open(ctx)

    def start_bundle(self) -> None:
        install_bridge()
        self.buf = []

    def process(self, element, ts=beam.DoFn.TimestampParam, w=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam):
        from fluvial.values import WindowedValue

        self.buf.append(WindowedValue(element, from_beam_ts(ts), (from_beam_window(w),),
                                      from_beam_pane(pane) if pane is not None else NO_FIRING))

    def finish_bundle(self) -> None:
        batch, self.buf = self.buf, []
        cid = next(self._ids)
        try:
            if batch:
                self.writer.write(batch)
                STEP_BRIDGE.inc(_key(self.label, "elements_written"), len(batch))
            self.writer.snapshot(cid)
            self.writer.notify_checkpoint_complete(cid)
        except FluvialError:
            raise
        except Exception as e:
            self.writer.abort()
            raise UserCodeError(self.label, batch[0].value if batch else None, e) from e
        dead, self.dead[:] = list(self.dead), []
        for rec in dead:  # in the global window, as every dead letter
            yield dead_letter_output(rec, GlobalWindow())

    def teardown(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _key(label: str, name: str) -> Any:
    from fluvial.metrics import MetricKey

    return MetricKey(label, "fluvial", name)
