"""Review findings: each test asserts the documented / Beam-model behaviour and fails today."""

from __future__ import annotations

from unit_support import collect, pipeline, tv

import fluvial as fl
from fluvial.metrics import MetricsContainer
from fluvial.options import PipelineOptions
from fluvial.pane import NO_FIRING
from fluvial.runners.direct.operators.base import Operator
from fluvial.runners.direct.operators.group import GroupOperator
from fluvial.runners.direct.sources import ReadSource
from fluvial.source import SourceContext
from fluvial.testing import TestStream
from fluvial.values import WindowedValue
from fluvial.window import IntervalWindow
from fluvial.windowing import TimestampCombiner, Windowing


class _WmRecorder(Operator):
    def __init__(self, n_inputs: int = 1) -> None:
        super().__init__("rec", n_inputs)
        self.seen: list = []

    def process(self, idx, batch):
        self.seen.extend(batch)


def test_global_window_with_lateness_over_one_day_still_expires_at_end_of_input():
    # GlobalWindow.max_timestamp + 2 days > MAX_TIMESTAMP: the GC time is capped (gc_time), so
    # the window must expire when the final watermark arrives and emit its final pane (Never()).
    s = TestStream().add_elements([tv(("k", 1), 1), tv(("k", 2), 2)]).advance_watermark_to_infinity()
    p = pipeline()
    out = collect(p | s | fl.WindowInto(fl.GlobalWindows(), trigger=fl.Never(), allowed_lateness=2 * 86_400)
                  | fl.GroupByKey())
    p.run().wait_until_finish()
    got = [(v[0], sorted(v[1]), pane.is_last) for v, _, _, pane in out.panes()]
    assert got == [("k", [1, 2], True)]


def test_grouping_releases_earliest_hold_after_a_processing_time_pane():
    # EARLIEST holds the output watermark at 1_000 while the pane is pending; once the pane is
    # emitted (processing-time trigger) nothing earlier can follow, so the output watermark must
    # advance to the input watermark (50_000) without waiting for another input watermark.
    w = Windowing(fl.FixedWindows(100), fl.Repeatedly(fl.AfterProcessingTime(1)),
                  timestamp_combiner=TimestampCombiner.OUTPUT_AT_EARLIEST)
    op = GroupOperator("G", w)
    rec = _WmRecorder()
    op.add_consumer(None, rec, 0)
    op.open(MetricsContainer())
    op.process(0, [WindowedValue(("k", 1), 1_000, (IntervalWindow(0, 100_000),), NO_FIRING)])
    op.receive_watermark(0, 50_000)
    assert rec.input_wms[0] == 1_000  # held
    op.on_processing_time(1_000)  # the pane fires and the hold is released
    assert len(rec.seen) == 1
    assert rec.input_wms[0] == 50_000


class _Reader(fl.SourceReader):
    def __init__(self) -> None:
        self.queue: list = []

    def poll(self, max_records):
        out, self.queue = self.queue, []
        return out

    def snapshot(self):
        return None

    def restore(self, state):
        pass


class _Src(fl.Source):
    def __init__(self) -> None:
        self.reader = _Reader()

    def open(self, ctx):
        return self.reader


class _Ctx:
    class clock:  # noqa: N801 - a tiny stand-in for the executor's Clock
        now = 0

        @classmethod
        def now_ms(cls):
            return cls.now


def _read_source(src):
    ctx = SourceContext(PipelineOptions(), _Ctx.clock, "R")  # the clock is _Ctx's
    op = ReadSource("R", src, ctx, fl.BoundedOutOfOrderness(0, idle_timeout=1))
    rec = _WmRecorder(n_inputs=2)
    op.add_consumer(None, rec, 0)
    op.open(MetricsContainer())
    return op, rec


def test_idle_source_restored_from_checkpoint_becomes_active_again():
    src = _Src()
    op, rec = _read_source(src)
    _Ctx.clock.now = 0
    src.reader.queue = [("a", 5_000)]
    op.poll(10)
    _Ctx.clock.now = 2_000
    op.poll(10)  # no data for 2 s > idle_timeout: idle
    assert rec.input_idle[0] is True
    snap, rec_snap = op.snapshot(), rec.snapshot()

    src2 = _Src()
    op2, rec2 = _read_source(src2)
    op2.restore(snap)
    rec2.restore(rec_snap)
    _Ctx.clock.now = 3_000
    src2.reader.queue = [("b", 6_000)]
    op2.poll(10)  # data again: the input is active and counts in the watermark minimum
    assert rec2.input_idle[0] is False
