"""The direct runner names who holds the watermark back once it has not moved for
STALL_AFTER_S (10 s): in one log line (logger fluvial.watermark) and in the status line. The
clock is injected; nothing sleeps."""

from __future__ import annotations

import logging
from typing import Any

from unit_support import pipeline

import fluvial as fl
from fluvial.metrics import MetricsContainer
from fluvial.runners.direct.executor import Executor
from fluvial.runners.direct.progress import RecentRate, snapshot_of
from fluvial.runners.direct.sources import DeadLetterSource, ReadSource
from fluvial.runners.direct.watermark_stall import (
    STALL_AFTER_S,
    SourceWatermark,
    WatermarkStall,
    culprits,
    describe,
)
from fluvial.source import Source, SourceContext, SourceReader
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.watermarks import BoundedOutOfOrderness

MIN = MIN_TIMESTAMP_MS


def test_a_while_is_ten_seconds():
    assert STALL_AFTER_S == 10.0


def test_names_the_partition_after_a_while_and_logs_once(caplog):
    caplog.set_level(logging.WARNING, logger="fluvial.watermark")
    w = WatermarkStall(after_s=10)
    src = [SourceWatermark("Orders/Read", MIN, {"orders/1": MIN})]
    assert w.check(src, now=100.0) is None  # the watermark is first seen at 100 s
    assert w.check(src, now=109.9) is None and w.held_by == ()
    assert w.check(src, now=110.0) == ("orders/1",)
    assert w.held_by == ("orders/1",) and w.stalled_s == 10.0
    assert w.check(src, now=125.0) == ("orders/1",) and w.stalled_s == 25.0
    assert [r.getMessage() for r in caplog.records] == [
        "the watermark has stayed at -inf for 10 s, held back by partition orders/1 of "
        "'Orders/Read' (no records yet); an input without records for its idle_timeout stops "
        "holding it back (docs/concepts.md, Watermarks)"
    ]
    assert caplog.records[0].levelname == "WARNING"
    # the watermark moves: the stall is over; a new one is reported again, 10 s later
    moved = [SourceWatermark("Orders/Read", 4_000, {"orders/0": 4_000})]
    assert w.check(moved, now=126.0) is None and w.held_by == () and w.stalled_s is None
    assert w.check(moved, now=135.9) is None
    assert w.check(moved, now=136.0) == ("orders/0",)
    assert len(caplog.records) == 2
    assert "stayed at 1970-01-01T00:00:04.000Z for 10 s" in caplog.records[1].getMessage()
    assert "partition orders/0 of 'Orders/Read' (at 1970-01-01T00:00:04.000Z)" in (
        caplog.records[1].getMessage())


def test_culprits_change_during_a_stall_are_logged_again(caplog):
    caplog.set_level(logging.WARNING, logger="fluvial.watermark")
    w = WatermarkStall(after_s=10)
    w.check([SourceWatermark("R", MIN, {"t/1": MIN, "t/2": MIN})], now=0.0)
    assert w.check([SourceWatermark("R", MIN, {"t/1": MIN, "t/2": MIN})], now=10.0) == ("t/1", "t/2")
    assert w.check([SourceWatermark("R", MIN, {"t/2": MIN})], now=11.0) == ("t/2",)
    assert w.check([SourceWatermark("R", MIN, {"t/2": MIN})], now=12.0) == ("t/2",)
    assert len(caplog.records) == 2


def test_a_source_behind_another_is_named_a_quiet_input_is_not(caplog):
    caplog.set_level(logging.WARNING, logger="fluvial.watermark")
    # two sources: "B" (no splits reported) is behind "A"
    two = [SourceWatermark("A", 9_000), SourceWatermark("B", 2_000)]
    assert culprits(two) == [("B", None, 2_000)]
    assert describe(culprits(two)) == "source 'B' (at 1970-01-01T00:00:02.000Z)"
    # level sources naming no split: the input is quiet, nobody holds anything back
    level = [SourceWatermark("A", 2_000), SourceWatermark("B", 2_000)]
    assert culprits(level) == []
    w = WatermarkStall(after_s=10)
    w.check(level, now=0.0)
    assert w.check(level, now=60.0) is None and w.held_by == ()
    assert caplog.records == []
    # a source at the minimum naming its splits names them, not itself
    mixed = [SourceWatermark("A", 9_000), SourceWatermark("K", 2_000, {"k/3": 2_000})]
    assert culprits(mixed) == [("K", "k/3", 2_000)]


def test_no_live_source_or_the_end_of_time_is_no_stall():
    w = WatermarkStall(after_s=10)
    assert w.check([], now=0.0) is None and w.check([], now=100.0) is None
    end = [SourceWatermark("A", MAX_TIMESTAMP_MS), SourceWatermark("B", MAX_TIMESTAMP_MS)]
    assert w.check(end, now=0.0) is None and w.check(end, now=100.0) is None


# -- on the direct runner's source operators -----------------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.now = 0

    def now_ms(self) -> int:
        return self.now


class _Queue(SourceReader):
    def __init__(self, held: dict[str, int] | None = None) -> None:
        self.queue: list = []
        self.held = held

    def poll(self, max_records: int) -> Any:
        out, self.queue = self.queue, []
        return out

    def progress(self) -> dict[str, Any]:
        return {"watermark_held_by": self.held} if self.held is not None else {}


class _Src(Source):
    is_bounded = False

    def __init__(self, reader: _Queue) -> None:
        self.reader = reader

    def open(self, ctx: Any) -> SourceReader:
        return self.reader


def _read(label: str, clock: _Clock, reader: _Queue, strategy: Any = None) -> ReadSource:
    op = ReadSource(label, _Src(reader), SourceContext(None, clock, label), strategy)
    op.open(MetricsContainer())
    return op


def test_tick_reads_the_sources_and_leaves_out_idle_and_dead_letter_sources(caplog):
    caplog.set_level(logging.WARNING, logger="fluvial.watermark")
    clock = _Clock()
    fast = _read("Fast", clock, _Queue(), BoundedOutOfOrderness(0))
    slow = _read("Slow", clock, _Queue(), BoundedOutOfOrderness(0))
    quiet = _read("Quiet", clock, _Queue(), BoundedOutOfOrderness(0, idle_timeout=1))
    dead = DeadLetterSource("DeadLetters")  # MIN until every other source is done: not watched
    fast.reader.queue = [("x", 30_000)]
    slow.reader.queue = [("y", 5_000)]
    for op in (fast, slow, quiet):
        op.poll(10)
    clock.now = 1_000
    quiet.poll(10)
    assert quiet.idle
    mono = [0.0]
    logged_before: list[int] = []
    w = WatermarkStall(after_s=10, clock=lambda: mono[0],
                       before_log=lambda: logged_before.append(len(caplog.records)))
    sources = [fast, slow, quiet, dead]
    w.tick(sources)
    mono[0] = 9.0
    w.tick(sources)
    assert w.held_by == ()
    mono[0] = 10.0
    w.tick(sources)
    assert w.held_by == ("Slow",)  # behind Fast; Quiet (idle, MIN) and the dead letters left out
    assert logged_before == [0]  # the display ends its line before the log line is written
    assert "source 'Slow' (at 1970-01-01T00:00:05.000Z)" in caplog.records[0].getMessage()
    mono[0] = 10.2
    slow.reader.queue = [("z", 40_000)]
    slow.poll(10)
    w.tick(sources)  # checked at most every 0.5 s: nothing changes yet
    assert w.held_by == ("Slow",)
    mono[0] = 10.5
    w.tick(sources)
    assert w.held_by == ()  # the watermark moved (min 30 000)


def test_a_reader_naming_its_partitions(caplog):
    caplog.set_level(logging.WARNING, logger="fluvial.watermark")
    clock = _Clock()
    kafka = _read("Kafka", clock, _Queue(held={"orders/1": MIN}))
    kafka.reader.queue = []
    kafka.poll(10)
    mono = [0.0]
    w = WatermarkStall(after_s=10, clock=lambda: mono[0])
    w.tick([kafka])
    mono[0] = 10.0
    w.tick([kafka])
    assert w.held_by == ("orders/1",)
    assert "held back by partition orders/1 of 'Kafka' (no records yet)" in (
        caplog.records[0].getMessage())


def test_status_line_shows_who_holds_the_watermark_back():
    p = pipeline("--progress", "off")
    _ = p | fl.Create([1])
    ex = Executor(p, p.options)
    assert ex.stall is not None
    ex.stall.held_by, ex.stall.stalled_s = ("orders/1",), 12.0
    snap = snapshot_of(ex, 0.0, RecentRate())
    assert snap.held_by == ("orders/1",) and snap.stalled_s == 12.0


def test_teststream_runs_are_not_watched():
    from fluvial.testing import TestStream

    p = pipeline()
    _ = p | TestStream().add_elements([1]).advance_watermark_to_infinity()
    assert Executor(p, p.options).stall is None
