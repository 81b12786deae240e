"""The rules of fluvial.watermarks (one generator per split, one combinator over inputs, one idle
rule), with values derived by hand from the module docstring, and the direct runner's sources
and operators following them."""

from __future__ import annotations

from typing import Any

from fluvial.metrics import MetricsContainer
from fluvial.runners.direct.operators.base import Operator
from fluvial.runners.direct.sources import ReadSource
from fluvial.source import Source, SourceContext, SourceReader
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.watermarks import BoundedOutOfOrderness, WatermarkCombinator, WatermarkGenerator

MIN, MAX = MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS


# -- the generator ----------------------------------------------------------------------------
def test_generator_is_highest_timestamp_minus_delay_and_never_moves_back():
    g = WatermarkGenerator(delay_ms=2_000)
    assert g.current() == MIN  # nothing seen yet
    seen = []
    for ts in (10_000, 7_000, 12_000, 11_999):
        g.on_event(ts)
        seen.append(g.current())
    assert seen == [8_000, 8_000, 10_000, 10_000]


def test_a_split_that_never_produces_is_idle_idle_timeout_after_the_read_started():
    g = WatermarkGenerator(delay_ms=0, idle_ms=5_000)
    assert not g.is_idle(1_000_000)  # not started: the idle clock has not begun
    g.start(now_ms=1_000)
    assert not g.is_idle(5_999)
    assert g.is_idle(6_000)  # 5 s after the read started, no record ever: idle
    assert g.current() == MIN


def test_idle_counts_from_the_last_record_or_buffered_data():
    g = WatermarkGenerator(delay_ms=0, idle_ms=5_000)
    g.start(now_ms=0)
    g.on_event(50_000, now_ms=10_000)
    assert not g.is_idle(14_999) and g.is_idle(15_000)
    g.on_activity(now_ms=14_000)  # data fetched, not handed out yet: active again
    assert not g.is_idle(18_999) and g.is_idle(19_000)
    g.on_event(60_000, now_ms=30_000)  # produces again
    assert not g.is_idle(30_000) and g.current() == 60_000


def test_without_idle_timeout_a_split_is_never_idle():
    g = WatermarkGenerator(delay_ms=0, idle_ms=None)
    g.start(now_ms=0)
    assert not g.is_idle(10**12)


def test_generator_checkpoint_keeps_the_timestamp_and_restarts_the_idle_clock():
    g = WatermarkGenerator(delay_ms=1_000, idle_ms=5_000)
    g.start(0)
    g.on_event(20_000, now_ms=0)
    st = g.snapshot()
    h = BoundedOutOfOrderness(1, idle_timeout=5).create()
    h.restore(st)
    assert h.current() == 19_000
    assert not h.is_idle(10**9)  # processing-time state is not restored: not started
    h.start(100_000)
    assert not h.is_idle(104_999) and h.is_idle(105_000)
    old = BoundedOutOfOrderness(1).create()
    old.restore((20_000, 123))  # the format of older checkpoints: (max_ts, last_active)
    assert old.current() == 19_000


# -- the combinator ---------------------------------------------------------------------------
def test_combinator_minimum_over_live_inputs_idle_left_out_never_backwards():
    c = WatermarkCombinator(["a", "b"])
    assert c.current() == MIN
    c.advance("a", 10_000)
    assert c.current() == MIN  # b has nothing yet: it holds the watermark
    assert c.holding_back() == ["b"]
    c.advance("b", 4_000)
    assert c.current() == 4_000 and c.holding_back() == ["b"]
    c.set_idle("b", True)
    assert c.current() == 10_000 and c.holding_back() == [] and not c.idle
    c.set_idle("b", False)
    c.advance("b", 6_000)  # back from idleness behind the watermark: it does not lower it
    assert c.current() == 10_000
    c.advance("a", 20_000)
    c.advance("b", 15_000)
    assert c.current() == 15_000
    c.advance("b", 12_000)  # an input's lower watermark is ignored
    assert c.wms["b"] == 15_000 and c.current() == 15_000


def test_combinator_all_idle_holds_and_is_idle_itself():
    c = WatermarkCombinator([0, 1])
    c.advance(0, 3_000)
    c.advance(1, 7_000)
    c.set_idle(0, True)
    c.set_idle(1, True)
    assert c.current() == MIN  # nothing live from the start: holds its value (MIN)
    assert c.idle
    c.set_idle(1, False)
    assert c.current() == 7_000 and not c.idle
    c.set_idle(1, True)
    c.advance(1, 9_000)
    assert c.current() == 7_000 and c.idle  # all idle again: holds 7 s


def test_combinator_finished_inputs_are_left_out_for_good():
    c = WatermarkCombinator(["p0", "p1", "p2"])
    c.advance("p0", 5_000)
    c.advance("p1", 8_000)
    c.advance("p2", 9_000)
    c.finish("p0")
    assert c.current() == 8_000
    c.advance("p1", MAX)  # the end of time finishes an input too
    assert "p1" in c.finished and c.current() == 9_000
    c.set_idle("p2", True)
    assert c.current() == 9_000 and c.idle  # the only unfinished input is idle: hold
    c.finish("p2")
    assert c.current() == MAX and not c.idle  # every input finished: the end of time


def test_a_finished_input_and_an_idle_one_hold_instead_of_ending():
    # A bounded branch that is done (MAX) next to an idle unbounded one: taking the minimum over
    # "not idle" inputs alone would give MAX and make every later record of the idle input late.
    c = WatermarkCombinator([0, 1])
    c.advance(1, 2_000)
    c.set_idle(1, True)
    c.advance(0, MAX)
    assert c.current() == MIN and c.idle
    c.set_idle(1, False)
    assert c.current() == 2_000


def test_combinator_checkpoint():
    c = WatermarkCombinator([0, 1, 2])
    c.advance(0, 4_000)
    c.advance(1, 6_000)
    c.finish(2)
    c.set_idle(0, True)
    assert c.current() == 6_000
    d = WatermarkCombinator([0, 1, 2])
    d.restore(c.snapshot())
    # watermarks, finished inputs and the value come back; idleness does not (all active)
    assert d.wms == {0: 4_000, 1: 6_000, 2: MIN} and d.finished == {2}
    assert d.current() == 6_000 and d.idle_inputs == set()
    d.advance(0, 7_000)
    assert d.current() == 6_000  # min(7 000, 6 000)


# -- the direct runner's operators --------------------------------------------------------------
class _Pass(Operator):
    def process(self, idx: int, batch: Any) -> None:
        self.emit(batch)


class _Recorder(Operator):
    def __init__(self, label: str, n_inputs: int) -> None:
        super().__init__(label, n_inputs)
        self.seen: list[int] = []

    def process(self, idx: int, batch: Any) -> None:
        pass

    def on_watermark(self, wm: int) -> None:
        self.seen.append(wm)


def test_operator_with_a_finished_and_an_idle_input_holds():
    op = _Recorder("Flatten", 2)
    op.receive_watermark(1, 2_000)
    op.receive_idle(1, True)
    op.receive_watermark(0, MAX)
    assert op.watermark == MIN and op.seen == []
    op.receive_idle(1, False)  # active again: its 2 s count
    op.receive_watermark(1, 5_000)
    assert op.seen == [2_000, 5_000]
    op.receive_watermark(1, MAX)
    assert op.seen == [2_000, 5_000, MAX]


def test_idleness_travels_downstream_through_single_input_operators():
    # idle input -> Map -> Flatten(Map, active input): the Flatten leaves the idle branch out
    mapped, flat = _Pass("Map", 1), _Recorder("Flatten", 2)
    mapped.add_consumer(None, flat, 0)
    flat.receive_watermark(1, 30_000)
    assert flat.watermark == MIN  # the Map branch holds it
    mapped.receive_watermark(0, 1_000)
    assert flat.watermark == 1_000
    mapped.receive_idle(0, True)
    assert mapped.out_idle and flat.input_idle == [True, False]
    assert flat.watermark == 30_000
    mapped.receive_idle(0, False)
    mapped.receive_watermark(0, 40_000)
    assert flat.input_idle == [False, False] and flat.seen == [1_000, 30_000]
    flat.receive_watermark(1, 50_000)
    assert flat.seen == [1_000, 30_000, 40_000]


def test_operator_checkpoint_restores_watermarks_and_reads_older_checkpoints():
    op = _Recorder("G", 2)
    op.receive_watermark(0, 3_000)
    op.receive_watermark(1, MAX)
    st = op.snapshot()
    again = _Recorder("G", 2)
    again.restore(st)
    assert again.input_wms == [3_000, MAX] and again.watermark == 3_000
    again.receive_watermark(0, 8_000)
    assert again.seen == [8_000]
    older = _Recorder("G", 2)
    older.restore({"wm": ([3_000, MAX], 3_000, 3_000, [False, False])})
    older.receive_watermark(0, 9_000)
    assert older.seen == [9_000] and older.inputs.finished == {1}


# -- Read with a watermark strategy on the direct runner -----------------------------------------
class _ManualClock:
    def __init__(self) -> None:
        self.now = 0

    def now_ms(self) -> int:
        return self.now


class _Queue(SourceReader):
    def __init__(self) -> None:
        self.queue: list = []

    def poll(self, max_records: int) -> Any:
        out, self.queue = self.queue, []
        return out


class _QueueSource(Source):
    is_bounded = False

    def __init__(self) -> None:
        self.reader = _Queue()

    def open(self, ctx: Any) -> SourceReader:
        return self.reader


def _read(clock: _ManualClock, strategy: Any) -> tuple[ReadSource, _QueueSource]:
    src = _QueueSource()
    op = ReadSource("Read", src, SourceContext(None, clock, "Read"), strategy)
    op.open(MetricsContainer())
    return op, src


def test_read_with_strategy_idle_before_its_first_record_and_active_again():
    clock = _ManualClock()
    clock.now = 1_000  # the read starts at 1 s
    quiet, qsrc = _read(clock, BoundedOutOfOrderness(0, idle_timeout=5))
    busy, bsrc = _read(clock, BoundedOutOfOrderness(0))
    flat = _Recorder("Flatten", 2)
    quiet.add_consumer(None, flat, 0)
    busy.add_consumer(None, flat, 1)
    bsrc.reader.queue = [("x", 20_000)]
    busy.poll(10)
    clock.now = 5_999
    quiet.poll(10)
    assert flat.watermark == MIN and not quiet.idle  # 4.999 s without a record: not idle yet
    clock.now = 6_000
    quiet.poll(10)
    assert quiet.idle and flat.seen == [20_000]  # 5 s after the read started: left out
    qsrc.reader.queue = [("y", 25_000)]
    quiet.poll(10)
    assert not quiet.idle and flat.input_wms == [25_000, 20_000]
    bsrc.reader.queue = [("z", 30_000)]
    busy.poll(10)
    assert flat.seen == [20_000, 25_000]  # min(25 000, 30 000)


def test_follow_applies_idleness_in_the_order_it_began():
    # idle after 5 s. "a" has a record (event time 9 s) at 100 ms, "b" never: b is idle from
    # 5.0 s, a from 5.1 s. Sampled only at 60 s, the watermark is what it was between the two:
    # a's 9 s (then all idle: hold), not -inf.
    a, b = WatermarkGenerator(0, 5_000), WatermarkGenerator(0, 5_000)
    a.start(0)
    b.start(0)
    a.on_event(9_000, now_ms=100)
    c = WatermarkCombinator(["a", "b"])
    assert c.follow({"a": a, "b": b}, now_ms=60_000) == 9_000 and c.idle
    # sampled between the two instants: the same
    a2, b2 = WatermarkGenerator(0, 5_000), WatermarkGenerator(0, 5_000)
    a2.start(0)
    b2.start(0)
    a2.on_event(9_000, now_ms=100)
    c2 = WatermarkCombinator(["a", "b"])
    assert c2.follow({"a": a2, "b": b2}, now_ms=5_050) == 9_000 and not c2.idle
    assert c2.follow({"a": a2, "b": b2}, now_ms=60_000) == 9_000 and c2.idle
    # both idle at the same instant: neither was live without the other, the watermark holds
    x, y = WatermarkGenerator(0, 5_000), WatermarkGenerator(0, 5_000)
    x.start(0)
    y.start(0)
    x.on_event(9_000, now_ms=0)
    assert WatermarkCombinator(["x", "y"]).follow({"x": x, "y": y}, now_ms=60_000) == MIN
    # a record on b makes it active again; a is still idle: b's watermark counts
    b.on_event(30_000, now_ms=61_000)
    assert c.follow({"a": a, "b": b}, now_ms=61_000) == 30_000 and not c.idle


class _Scripted(SourceReader):
    """Each poll returns nothing and takes the next (watermark, idle) of the script."""

    def __init__(self, script: list[tuple[int, bool]]) -> None:
        self.script = script
        self.now = (MIN, False)

    def poll(self, max_records: int) -> Any:
        self.now = self.script.pop(0)
        return []

    def watermark(self) -> int:
        return self.now[0]

    def is_idle(self) -> bool:
        return self.now[1]


class _ScriptedSource(Source):
    is_bounded = False

    def __init__(self, reader: SourceReader) -> None:
        self.reader = reader

    def open(self, ctx: Any) -> SourceReader:
        return self.reader


def test_a_reader_going_idle_hands_over_its_last_watermark_first():
    # the reader's watermark reached 9 s at the poll where it became idle (its last partitions
    # went idle in turn): the consumer counts 9 s before it leaves the source out
    reader = _Scripted([(9_000, True), (9_000, True), (12_000, False)])
    op = ReadSource("Read", _ScriptedSource(reader), SourceContext(None, _ManualClock(), "Read"))
    op.open(MetricsContainer())
    rec = _Recorder("Sink", 1)
    op.add_consumer(None, rec, 0)
    op.poll(10)
    assert rec.seen == [9_000] and rec.input_idle == [True]
    op.poll(10)
    op.poll(10)
    assert rec.seen == [9_000, 12_000] and rec.input_idle == [False]
