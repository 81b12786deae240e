"""The Flink runner's stateful-DoFn store (runners/flink/stateful_state.py) without an engine:
scripted timelines played over fakes of Flink's keyed state and timer service (tests/unit/
flink_fakes.py) as the keyed process function and Flink would play them, with hand-derived
goldens, the same timelines compared with the direct runner (the sdk's other store), and the
state left behind checked."""

from __future__ import annotations

import pytest
from flink_fakes import LONG_MAX, FakeBackend
from unit_support import collect, pipeline, tv

import fluvial as fl
from fluvial.dofn_invoker import DoFnSignature
from fluvial.pane import NO_FIRING
from fluvial.runners.flink.stateful_state import FlinkStatefulState, KeyedStateful, raw_cell_names
from fluvial.stateful_driver import StatefulDriver
from fluvial.testing import TestStream
from fluvial.testing.test_stream import (
    ElementEvent,
    EndOfInput,
    ProcessingTimeEvent,
    WatermarkEvent,
)
from fluvial.timeutil import MAX_TIMESTAMP_MS, TimeDomain
from fluvial.values import GLOBAL_WINDOWS, WindowedValue
from fluvial.window import GlobalWindow

BAG = fl.BagStateSpec("bag")
COUNT = fl.CombiningStateSpec("count", sum)
EVENT = fl.TimerSpec("flush", TimeDomain.WATERMARK)
PROC = fl.TimerSpec("proc", TimeDomain.REAL_TIME)


class _Out:
    """The driver's output: records ``(tag, value, timestamp_ms, window bounds)``."""

    def __init__(self) -> None:
        self.records: list[tuple] = []
        self.dropped_counts: dict[str, int] = {}

    def emit(self, tag, wv):
        for w in wv.windows:
            bounds = None if isinstance(w, GlobalWindow) else (w.start_ms, w.end_ms)
            self.records.append((tag, wv.value, wv.timestamp, bounds))

    def dropped(self, reason, n):
        self.dropped_counts[reason] = self.dropped_counts.get(reason, 0) + n


def run_flink(stream: TestStream, fn, window_fn=None, lateness_ms: int = 0):
    """Play ``stream`` into ``fn`` as the Flink runner does: elements keyed, Flink's event
    timers fired as the watermark advances, the scripted clock fanned out to every key seen."""
    backend = FakeBackend()
    sig = DoFnSignature(fn, "S")
    driver = StatefulDriver(fn, sig, "S", lateness_ms, set())
    state = FlinkStatefulState(backend.value_state("book"), backend.map_state("cells"),
                               raw_cell_names(sig), scripted_clock=True)
    ks = KeyedStateful(driver, state)
    out = _Out()
    keys: list = []
    clock = 0

    def watermark(wm):
        flink_wm = LONG_MAX if wm >= MAX_TIMESTAMP_MS else wm
        backend.advance_watermark(
            flink_wm, lambda t, key: ks.event_timer(key, t, backend.timer_service(), out))

    for step in stream.script.steps:
        if isinstance(step, ElementEvent):
            for value, ts in step.elements:
                key = value[0]
                if key not in keys:
                    keys.append(key)
                ws = GLOBAL_WINDOWS if window_fn is None else tuple(window_fn.assign(ts, value))
                backend.current_key = key
                ks.element(key, WindowedValue(value, ts, ws, NO_FIRING), backend.timer_service(), out)
        elif isinstance(step, WatermarkEvent):
            watermark(step.watermark_ms)
        elif isinstance(step, ProcessingTimeEvent):
            clock += step.advance_ms
            for key in keys:
                backend.current_key = key
                ks.clock(key, clock, backend.timer_service(), out)
        elif isinstance(step, EndOfInput):
            watermark(MAX_TIMESTAMP_MS)
    return out, backend


def run_direct(stream: TestStream, fn, window_fn=None, lateness_ms: int = 0):
    p = pipeline()
    pc = p | stream
    if window_fn is not None:
        pc = pc | fl.WindowInto(window_fn, allowed_lateness=lateness_ms / 1000)
    got = collect(pc | "S" >> fl.ParDo(fn))
    result = p.run()
    recs = [(None, v, ts, None if isinstance(w, GlobalWindow) else (w.start_ms, w.end_ms))
            for v, ts, ws, _ in got.records for w in ws]
    return recs, result.metrics().query().counter("dropped_due_to_lateness")


# -- DoFns -------------------------------------------------------------------------------------


class BufferUntil(fl.DoFn):
    def process(self, kv, bag=fl.DoFn.StateParam(BAG), t=fl.DoFn.TimerParam(EVENT)):
        bag.add(kv[1])
        t.set(10)
        return []

    @fl.on_timer(EVENT)
    def flush(self, key=fl.DoFn.KeyParam, ts=fl.DoFn.TimestampParam, bag=fl.DoFn.StateParam(BAG)):
        yield (key, ts.millis, sorted(bag.read()))
        bag.clear()


class Counting(fl.DoFn):
    def process(self, kv, n=fl.DoFn.StateParam(COUNT), w=fl.DoFn.WindowParam):
        n.add(1)
        yield (kv[0], kv[1], n.read())


class Expiring(fl.DoFn):
    def process(self, kv, bag=fl.DoFn.StateParam(BAG)):
        bag.add(kv[1])
        return []

    @fl.on_window_expiration
    def expired(self, key=fl.DoFn.KeyParam, bag=fl.DoFn.StateParam(BAG)):
        yield (key, sorted(bag.read()))


class Looping(fl.DoFn):
    def process(self, kv, t=fl.DoFn.TimerParam(EVENT)):
        t.set(10)
        return []

    @fl.on_timer(EVENT)
    def tick(self, ts=fl.DoFn.TimestampParam, t=fl.DoFn.TimerParam(EVENT)):
        if ts.millis < 40_000:
            t.set(ts.seconds + 10)
        yield ts.millis


class AfterDelay(fl.DoFn):
    def process(self, kv, t=fl.DoFn.TimerParam(PROC), bag=fl.DoFn.StateParam(BAG)):
        bag.add(kv[1])
        t.set(5)
        return []

    @fl.on_timer(PROC)
    def fire(self, key=fl.DoFn.KeyParam, bag=fl.DoFn.StateParam(BAG)):
        yield (key, sorted(bag.read()))
        bag.clear()


V_TTL = fl.ValueStateSpec("v", ttl=10)
B_TTL = fl.BagStateSpec("b", ttl=fl.StateTTL(10, TimeDomain.WATERMARK))
M_TTL = fl.MapStateSpec("m", ttl=10)
P_TTL = fl.ValueStateSpec("p", ttl=fl.StateTTL(5, TimeDomain.REAL_TIME))


class Ttl(fl.DoFn):
    def process(self, kv, v=fl.DoFn.StateParam(V_TTL), b=fl.DoFn.StateParam(B_TTL),
                m=fl.DoFn.StateParam(M_TTL), p=fl.DoFn.StateParam(P_TTL)):
        k, cmd = kv
        if cmd.startswith("w"):
            v.write(cmd)
            b.add(cmd)
            m.put(cmd, 1)
            p.write(cmd)
        else:
            yield (cmd, v.read(), b.read(), sorted(m.keys()), p.read())


# -- hand-derived goldens ------------------------------------------------------------------------


def test_event_timer_flushes_each_key_when_the_watermark_reaches_it():
    s = (TestStream().add_elements([tv(("a", 1), 1), tv(("b", 2), 2)])
         .advance_watermark_to(9.999)  # the timer is at 10 s: not yet
         .add_elements([tv(("a", 3), 10)])
         .advance_watermark_to(10)  # reaches 10 s: fires for a and b
         .add_elements([tv(("a", 4), 11)])  # set again, already passed: fires at the next advance
         .advance_watermark_to_infinity())
    out, backend = run_flink(s, BufferUntil())
    assert out.records == [
        (None, ("a", 10_000, [1, 3]), 10_000, None),
        (None, ("b", 10_000, [2]), 10_000, None),
        (None, ("a", 10_000, [4]), 10_000, None),
    ]
    assert backend.is_empty()  # the global window expired at the end: nothing is left


def test_processing_timer_fires_from_the_scripted_clock_with_the_setting_elements_timestamp():
    s = (TestStream().add_elements([tv(("a", 1), 3)])
         .advance_processing_time(4.999)
         .add_elements([tv(("a", 2), 4)])
         .advance_processing_time(0.001)  # clock 5 s: fires
         .add_elements([tv(("a", 3), 6)])  # set to 5 s again: due at the next clock advance
         .advance_processing_time(1)
         .advance_watermark_to_infinity())
    out, _ = run_flink(s, AfterDelay())
    assert [(r[1], r[2]) for r in out.records] == [(("a", [1, 2]), 4_000), (("a", [3]), 6_000)]


def test_expiry_runs_the_callback_once_per_window_then_forgets_the_window():
    s = (TestStream().add_elements([tv(("a", 1), 1), tv(("b", 2), 2), tv(("a", 3), 12)])
         .advance_watermark_to(9.999)
         .add_elements([tv(("a", 4), 9)])  # [0, 10) has not expired: accepted
         .advance_watermark_to(10)
         .add_elements([tv(("a", 5), 9)])  # expired: dropped
         .advance_watermark_to_infinity())
    out, backend = run_flink(s, Expiring(), fl.FixedWindows(10))
    assert sorted(out.records) == [
        (None, ("a", [1, 4]), 9_999, (0, 10_000)),
        (None, ("a", [3]), 19_999, (10_000, 20_000)),
        (None, ("b", [2]), 9_999, (0, 10_000)),
    ]
    assert out.dropped_counts == {"dropped_due_to_lateness": 1}
    assert backend.is_empty()


def test_looping_timer_fires_within_one_watermark_advance():
    s = TestStream().add_elements([tv(("a", 0), 0)]).advance_watermark_to(35).advance_watermark_to_infinity()
    out, _ = run_flink(s, Looping())
    assert [r[1] for r in out.records] == [10_000, 20_000, 30_000, 40_000]


def test_ttl_in_both_domains_and_cleanup_frees_the_key():
    s = (TestStream().add_elements([tv(("k", "w1"), 0)])  # event TTL to 10 s, proc TTL to 5 s
         .advance_watermark_to(8)
         .add_elements([tv(("k", "w2"), 8)])  # event TTL to 18 s
         .advance_processing_time(4.999)
         .add_elements([tv(("k", "r1"), 9)])
         .advance_processing_time(0.001)  # clock 5 s: processing-time TTL expired
         .add_elements([tv(("k", "r2"), 9)])
         .advance_watermark_to(10.001)  # w1's map entry expired (written at 0 s)
         .add_elements([tv(("k", "r3"), 11)])
         .advance_watermark_to(18.001)  # everything written at 8 s expired
         .add_elements([tv(("k", "r4"), 19)])
         .advance_watermark_to(100))
    out, backend = run_flink(s, Ttl())
    assert [r[1] for r in out.records] == [
        ("r1", "w2", ["w1", "w2"], ["w1", "w2"], "w2"),
        ("r2", "w2", ["w1", "w2"], ["w1", "w2"], None),
        ("r3", "w2", ["w1", "w2"], ["w2"], None),
        ("r4", None, [], [], None),
    ]
    # the cleanups emptied every cell and no timer waits: the key's book and cells are gone
    # although its (global) window has not expired
    assert backend.is_empty()


# -- the same timelines on the direct runner -----------------------------------------------------

CASES = [
    ("buffer", BufferUntil, None, 0,
     TestStream().add_elements([tv(("a", 1), 1), tv(("b", 2), 2)]).advance_watermark_to(10)
     .add_elements([tv(("a", 4), 11), tv(("c", 5), 3)]).advance_watermark_to_infinity()),
    ("counting-sliding", Counting, fl.SlidingWindows(20, 10), 0,
     TestStream().add_elements([tv(("a", 1), 5), tv(("a", 2), 15), tv(("b", 3), 16)])
     .advance_watermark_to(20).add_elements([tv(("a", 4), 19), tv(("a", 5), 25)])
     .advance_watermark_to_infinity()),
    ("expiring-lateness", Expiring, fl.FixedWindows(10), 5_000,
     TestStream().add_elements([tv(("a", 1), 1)]).advance_watermark_to(14.999)
     .add_elements([tv(("a", 2), 2)]).advance_watermark_to(15)
     .add_elements([tv(("a", 3), 3)]).advance_watermark_to_infinity()),
    ("looping", Looping, None, 0,
     TestStream().add_elements([tv(("a", 0), 0), tv(("b", 0), 0)]).advance_watermark_to(25)
     .advance_watermark_to_infinity()),
    ("processing", AfterDelay, None, 0,
     TestStream().add_elements([tv(("a", 1), 3), tv(("b", 1), 3)]).advance_processing_time(5)
     .add_elements([tv(("a", 2), 6)]).advance_processing_time(1).advance_watermark_to_infinity()),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_same_output_as_the_direct_runner(case):
    _, cls, window_fn, lateness, stream = case
    out, backend = run_flink(stream, cls(), window_fn, lateness)
    want, dropped = run_direct(stream, cls(), window_fn, lateness)
    assert sorted(out.records, key=repr) == sorted(want, key=repr)
    assert out.dropped_counts.get("dropped_due_to_lateness", 0) == dropped
    assert backend.is_empty()


def test_state_cells_are_typed_long_keys_and_the_book_is_written_once_per_element():
    backend = FakeBackend()
    sig = DoFnSignature(Counting(), "S")
    driver = StatefulDriver(Counting(), sig, "S", 0, set())
    state = FlinkStatefulState(backend.value_state("book"), backend.map_state("cells"),
                               raw_cell_names(sig), scripted_clock=True)
    ks = KeyedStateful(driver, state)
    out = _Out()
    backend.current_key = "a"
    writes = []
    for i in range(5):
        before = backend.values.get(("book", "a"))
        ks.element("a", WindowedValue(("a", i), i, GLOBAL_WINDOWS, NO_FIRING),
                   backend.timer_service(), out)
        writes.append(backend.values.get(("book", "a")) != before)
    # the book changes only for the first element (the window and its expiry timer); a state
    # write is one cell write
    assert writes == [True, False, False, False, False]
    assert list(backend.maps[("cells", "a")]) == [0]
    assert [r[1] for r in out.records] == [("a", i, i + 1) for i in range(5)]
