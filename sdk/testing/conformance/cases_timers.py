"""Timers: event-time and processing-time timers, clearing and re-setting, timers that re-arm
themselves, timers at the end of a window, and @on_window_expiration.

Rules: ``timer.set(t)`` takes seconds (event time) or, for REAL_TIME timers, an absolute
processing time in seconds; setting a timer again replaces it; ``clear()`` cancels it. Event-time
timers fire when watermark >= timer time, as in Beam and Flink (a timer set in the past fires as
soon as the watermark moves); processing-time timers when the TestStream clock >= timer time; pending processing-time
timers are dropped at the end of the stream. Outputs of an event-time timer callback carry the
timer's timestamp and the timer's window, pane UNKNOWN.
"""

from __future__ import annotations

from fluvial.combiners import CountCombineFn
from fluvial.dofn import DoFn
from fluvial.gbk import GroupByKey
from fluvial.pardo import ParDo
from fluvial.testing.conformance.case import Case
from fluvial.testing.conformance.cases_common import Out, on_time, tv, tvs, unknown
from fluvial.testing.test_stream import TestStream
from fluvial.timeutil import TimeDomain
from fluvial.userstate import (
    BagStateSpec,
    CombiningStateSpec,
    StateTTL,
    TimerSpec,
    ValueStateSpec,
    on_timer,
    on_window_expiration,
)
from fluvial.window import FixedWindows
from fluvial.windowinto import WindowInto

U = unknown()

BUF = BagStateSpec("buf")
GAP = TimerSpec("gap", TimeDomain.WATERMARK)


class GapFlush(DoFn):
    """Buffer values; (re)set an event-time timer 10 s after each element; flush on the timer."""

    def process(
        self, kv, ts=DoFn.TimestampParam, buf=DoFn.StateParam(BUF), gap=DoFn.TimerParam(GAP)
    ):
        buf.add(kv[1])
        gap.set(ts.seconds + 10)
        return []

    @on_timer(GAP)
    def flush(self, key=DoFn.KeyParam, ts=DoFn.TimestampParam, buf=DoFn.StateParam(BUF)):
        values = sorted(buf.read())
        buf.clear()
        yield (key, values, ts.seconds)


ALARM = TimerSpec("alarm", TimeDomain.WATERMARK)


class StartCancel(DoFn):
    """'start' sets an alarm 9 s later, 'cancel' clears it."""

    def process(self, kv, ts=DoFn.TimestampParam, alarm=DoFn.TimerParam(ALARM)):
        if kv[1] == "start":
            alarm.set(ts.seconds + 9)
        else:
            alarm.clear()
        return []

    @on_timer(ALARM)
    def ring(self, key=DoFn.KeyParam):
        yield (key, "fired")


END = TimerSpec("end", TimeDomain.WATERMARK)
N = CombiningStateSpec("n", CountCombineFn())


class CountAtWindowEnd(DoFn):
    def process(self, kv, w=DoFn.WindowParam, n=DoFn.StateParam(N), end=DoFn.TimerParam(END)):
        n.add(kv[1])
        end.set(w.max_timestamp().seconds)
        return []

    @on_timer(END)
    def emit(self, key=DoFn.KeyParam, n=DoFn.StateParam(N)):
        yield (key, n.read())


TICK = TimerSpec("tick", TimeDomain.WATERMARK)


class Ticker(DoFn):
    """A timer that re-arms itself every 10 s until 30."""

    def process(self, kv, tick=DoFn.TimerParam(TICK)):
        tick.set(10)
        return []

    @on_timer(TICK)
    def on_tick(self, key=DoFn.KeyParam, ts=DoFn.TimestampParam, tick=DoFn.TimerParam(TICK)):
        if ts.seconds < 30:
            tick.set(ts.seconds + 10)
        yield (key, ts.seconds)


PT = TimerSpec("pt", TimeDomain.REAL_TIME)


class ProcessingAlarm(DoFn):
    """(k, t): set a processing-time timer at absolute clock t seconds."""

    def process(self, kv, pt=DoFn.TimerParam(PT)):
        pt.set(kv[1])
        return []

    @on_timer(PT)
    def fire(self, key=DoFn.KeyParam):
        yield (key, "fired")


PBUF = BagStateSpec("pbuf")


class ProcessingFlush(DoFn):
    """(k, (v, t)): buffer v; if t is not None (re)set the processing-time timer to t."""

    def process(self, kv, buf=DoFn.StateParam(PBUF), pt=DoFn.TimerParam(PT)):
        v, t = kv[1]
        buf.add(v)
        if t is not None:
            pt.set(t)
        return []

    @on_timer(PT)
    def flush(self, key=DoFn.KeyParam, buf=DoFn.StateParam(PBUF)):
        values = sorted(buf.read())
        buf.clear()
        yield (key, values)


EBUF = BagStateSpec("ebuf")


class ExpiryFlush(DoFn):
    def process(self, kv, buf=DoFn.StateParam(EBUF)):
        buf.add(kv[1])
        return []

    @on_window_expiration
    def expire(self, key=DoFn.KeyParam, w=DoFn.WindowParam, buf=DoFn.StateParam(EBUF)):
        yield (key, sorted(buf.read()), [w.start_ms / 1000, w.end_ms / 1000])


TTL_V = ValueStateSpec("v", ttl=StateTTL(10, TimeDomain.WATERMARK))
LATER = TimerSpec("later", TimeDomain.WATERMARK)


class TimerWritesState(DoFn):
    """'set' writes 'e' and sets a timer at 20; the timer writes 't'; 'read' emits the value."""

    def process(self, kv, v=DoFn.StateParam(TTL_V), later=DoFn.TimerParam(LATER)):
        if kv[1] == "set":
            v.write("e")
            later.set(20)
        else:
            yield (kv[0], v.read())

    @on_timer(LATER)
    def on_later(self, v=DoFn.StateParam(TTL_V)):
        v.write("t")
        return []


def _ttl_timer_write(p):
    ts = (
        TestStream()
        .add_elements([tv(("a", "set"), 0)])
        .advance_watermark_to(25)
        .add_elements([tv(("a", "read"), 25)])
        .advance_watermark_to(30)
        .add_elements([tv(("a", "read"), 30)])
        .advance_watermark_to(31)
        .add_elements([tv(("a", "read"), 31)])
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(TimerWritesState())


def _gap_flush(p):
    ts = (
        TestStream()
        .add_elements([*tvs("a", [(1, 1), (2, 5)]), *tvs("b", [(7, 3)])])
        .advance_watermark_to(14)
        .add_elements(tvs("a", [(3, 14)]))
        .advance_watermark_to(25)
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(GapFlush())


def _gap_flush_boundary(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(1, 1)]))
        .advance_watermark_to(10.999)
        .advance_watermark_to(11)
        .add_elements(tvs("a", [(2, 12)]))
        .advance_watermark_to(21.999)
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(GapFlush())


class KeyedValues(DoFn):
    """(key, values, t) -> (key, values)."""

    def process(self, x):
        yield (x[0], x[1])


def _gap_flush_grouped(p):
    ts = TestStream().add_elements(tvs("a", [(1, 1), (2, 2)])).advance_watermark_to_infinity()
    windowed = p | ts | WindowInto(FixedWindows(60))
    return windowed | ParDo(GapFlush()) | "Key" >> ParDo(KeyedValues()) | GroupByKey()


def _timer_clear(p):
    ts = (
        TestStream()
        .add_elements([tv(("a", "start"), 1), tv(("a", "cancel"), 2), tv(("b", "start"), 4)])
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(StartCancel())


def _window_end_timer(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(0, 1), (0, 2), (0, 12)]))
        .advance_watermark_to_infinity()
    )
    return p | ts | WindowInto(FixedWindows(10)) | ParDo(CountAtWindowEnd())


def _ticker(p):
    ts = (
        TestStream()
        .add_elements([tv(("a", 0), 0)])
        .advance_watermark_to(100)
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(Ticker())


def _processing_timer(p):
    ts = (
        TestStream()
        .add_elements([tv(("a", 5), 1), tv(("b", 20), 2)])
        .advance_processing_time(3)
        .advance_processing_time(2)
        .advance_processing_time(5)
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(ProcessingAlarm())


def _processing_timer_reset(p):
    ts = (
        TestStream()
        .add_elements([tv(("a", (1, 10)), 1)])
        .advance_processing_time(5)
        .add_elements([tv(("a", (2, 15)), 2)])
        .advance_processing_time(5)
        .add_elements([tv(("a", (3, None)), 3)])
        .advance_processing_time(5)
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(ProcessingFlush())


def _expiry(p):
    ts = (
        TestStream()
        .add_elements([*tvs("a", [(1, 1), (3, 3)]), *tvs("b", [(4, 4)]), *tvs("a", [(15, 15)])])
        .advance_watermark_to_infinity()
    )
    return p | ts | WindowInto(FixedWindows(10)) | ParDo(ExpiryFlush())


CASES = [
    Case(
        "event_timer_fires_at_watermark_equal",
        ("test_stream", "state", "bag_state", "timers"),
        _gap_flush_boundary,
        (
            Out(["a", [1], 11], None, U, 11),
            Out(["a", [2], 22], None, U, 22),
        ),
        "Timer a@1 → 11: not at wm 10.999, fires when the watermark reaches exactly 11 (>=); a@12 "
        "→ timer 22: not at wm 21.999, fires at ∞. Outputs at the timer timestamps.",
    ),
    Case(
        "event_timer_gap_flush",
        ("test_stream", "state", "bag_state", "timers"),
        _gap_flush,
        (
            Out(["b", [7], 13], None, U, 13),
            Out(["a", [1, 2, 3], 24], None, U, 24),
        ),
        "Timer reset to ts+10 per element: b@3 → 13, fires at wm 14 (14 >= 13); a@1,5 → timer 15, "
        "not yet at wm 14; a@14 moves it to 24 → fires at wm 25 with [1,2,3]; outputs carry the "
        "timer timestamp.",
    ),
    Case(
        "event_timer_output_grouped_at_end",
        ("test_stream", "fixed_windows", "group_by_key", "state", "bag_state", "timers"),
        _gap_flush_grouped,
        (Out(["a", [[1, 2]]], (0, 60), on_time(), 59.999),),
        "FixedWindows(60): a@1, a@2 set the gap timer to 12; the watermark jumps to ∞ and the "
        "timer fires there: its output ('a', [1, 2])@12 holds the DoFn's output watermark until "
        "it is emitted, so the GroupByKey's window [0,60) still takes it: one ON_TIME pane.",
    ),
    Case(
        "event_timer_clear",
        ("test_stream", "timers"),
        _timer_clear,
        (Out(["b", "fired"], None, U, 13),),
        "a: start sets 10, cancel clears it → never fires; b: start@4 sets 13 → fires at ∞ with "
        "timestamp 13.",
    ),
    Case(
        "event_timer_window_end",
        ("test_stream", "fixed_windows", "state", "combining_state", "timers"),
        _window_end_timer,
        (
            Out(["a", 2], (0, 10), U, 9.999),
            Out(["a", 1], (10, 20), U, 19.999),
        ),
        "Timer at the window's max_timestamp (the Beam idiom): it fires when the watermark passes "
        "it, before the window's state is cleared; counts per window 2 and 1, output in the "
        "timer's window at its timestamp.",
    ),
    Case(
        "event_timer_rearms_itself",
        ("test_stream", "timers", "looping_timers"),
        _ticker,
        (
            Out(["a", 10], None, U, 10),
            Out(["a", 20], None, U, 20),
            Out(["a", 30], None, U, 30),
        ),
        "Timer at 10 fires at wm 100; the callback sets 20, which is already behind the watermark "
        "and fires in the same advance, then 30; at 30 it stops.",
    ),
    Case(
        "processing_timer_fires",
        ("test_stream", "processing_time", "timers", "processing_time_timers"),
        _processing_timer,
        (Out(["a", "fired"], None, U, None),),
        "REAL_TIME timers at absolute clock 5 (a) and 20 (b): clock 3 nothing, clock 5 fires a; "
        "clock 10 then end of stream → b's timer is dropped. (Timestamp of a processing-time "
        "timer output not checked.)",
    ),
    Case(
        "processing_timer_reset",
        (
            "test_stream", "processing_time", "state", "bag_state", "timers",
            "processing_time_timers",
        ),
        _processing_timer_reset,
        (Out(["a", [1, 2, 3]], None, U, None),),
        "Timer set to 10, then replaced by 15 at clock 5: nothing at clock 10 (v3 buffered), fires "
        "once at clock 15 with [1,2,3].",
    ),
    Case(
        "on_window_expiration",
        ("test_stream", "fixed_windows", "state", "bag_state", "on_window_expiration"),
        _expiry,
        (
            Out(["a", [1, 3], [0, 10]], (0, 10), U, 9.999),
            Out(["b", [4], [0, 10]], (0, 10), U, 9.999),
            Out(["a", [15], [10, 20]], (10, 20), U, 19.999),
        ),
        "@on_window_expiration runs once per key and window when it expires (here at ∞) with the "
        "window's state: a [1,3] and b [4] in [0,10), a [15] in [10,20); outputs at the window's "
        "max_timestamp (as Beam's OnWindowExpiration).",
    ),
    Case(
        "state_ttl_written_by_timer",
        ("test_stream", "state", "value_state", "ttl", "timers"),
        _ttl_timer_write,
        (
            Out(["a", "t"], None, U, 25),
            Out(["a", "t"], None, U, 30),
            Out(["a", None], None, U, 31),
        ),
        "TTL write timestamp of a timer callback is the timer's time: 'e' written at 0; the timer "
        "at 20 fires at wm 25 and writes 't' at 20 (alive while wm <= 30); reads at wm 25 and 30 "
        "→ 't', at wm 31 → expired (None). Had the write been stamped with the watermark (25), "
        "the read at 31 would still see 't'.",
    ),
]
