"""Keyed state (value, bag, map, combining; TTL) and timers (event / processing time, clear,
window expiration) of stateful DoFns on the direct runner."""

from __future__ import annotations

import pytest
from unit_support import collect, pipeline, tv

import fluvial as fl
from fluvial.combiners import MeanCombineFn
from fluvial.runners.direct.executor import Executor
from fluvial.runners.direct.operators.stateful import StatefulParDoOperator
from fluvial.testing import TestStream
from fluvial.timeutil import TimeDomain

VALUE = fl.ValueStateSpec("value")
BAG = fl.BagStateSpec("bag")
MAP = fl.MapStateSpec("map")
SUM = fl.CombiningStateSpec("sum", sum)
MEAN = fl.CombiningStateSpec("mean", MeanCombineFn())


def run_stateful(stream_or_values, dofn, window_fn=None, label="Stateful", **window_kwargs):
    p = pipeline()
    src = stream_or_values if isinstance(stream_or_values, TestStream) else fl.Create(stream_or_values)
    pc = p | src
    if window_fn is not None:
        pc = pc | fl.WindowInto(window_fn, **window_kwargs)
    out = collect(pc | label >> fl.ParDo(dofn))
    result = p.run()
    return out, result


# -- state per key and window ---------------------------------------------------------------


class AllStates(fl.DoFn):
    def process(
        self,
        kv,
        value=fl.DoFn.StateParam(VALUE),
        bag=fl.DoFn.StateParam(BAG),
        mp=fl.DoFn.StateParam(MAP),
        total=fl.DoFn.StateParam(SUM),
        mean=fl.DoFn.StateParam(MEAN),
    ):
        k, v = kv
        prev = value.read()
        value.write(v)
        bag.add(v)
        mp.put(v % 2, v)
        total.add(v)
        mean.add(v)
        yield (k, v, prev, sorted(bag.read()), sorted(mp.items()), total.read(), mean.read())


def test_value_bag_map_combining_state_per_key():
    data = [("a", 1), ("b", 10), ("a", 2), ("a", 3), ("b", 20)]
    out, _ = run_stateful(TestStream().add_elements(data), AllStates())
    assert out.values() == [
        ("a", 1, None, [1], [(1, 1)], 1, 1.0),
        ("b", 10, None, [10], [(0, 10)], 10, 10.0),
        ("a", 2, 1, [1, 2], [(0, 2), (1, 1)], 3, 1.5),
        ("a", 3, 2, [1, 2, 3], [(0, 2), (1, 3)], 6, 2.0),
        ("b", 20, 10, [10, 20], [(0, 20)], 30, 15.0),
    ]


def test_state_is_scoped_per_window():
    class Count(fl.DoFn):
        def process(self, kv, total=fl.DoFn.StateParam(SUM), w=fl.DoFn.WindowParam):
            total.add(1)
            yield (kv[0], (w.start_ms, w.end_ms), total.read())

    data = [tv(("a", 0), 1), tv(("a", 0), 2), tv(("a", 0), 11), tv(("b", 0), 3), tv(("a", 0), 9)]
    out, _ = run_stateful(data, Count(), window_fn=fl.FixedWindows(10))
    assert sorted(out.values()) == [
        ("a", (0, 10_000), 1),
        ("a", (0, 10_000), 2),
        ("a", (0, 10_000), 3),
        ("a", (10_000, 20_000), 1),
        ("b", (0, 10_000), 1),
    ]


def test_state_in_sliding_windows_is_per_window():
    class Count(fl.DoFn):
        def process(self, kv, total=fl.DoFn.StateParam(SUM), w=fl.DoFn.WindowParam):
            total.add(kv[1])
            yield ((w.start_ms, w.end_ms), total.read())

    data = [tv(("a", 1), 5), tv(("a", 2), 15)]
    out, _ = run_stateful(data, Count(), window_fn=fl.SlidingWindows(20, 10))
    assert sorted(out.values()) == [
        ((-10_000, 10_000), 1),
        ((0, 20_000), 1),
        ((0, 20_000), 3),
        ((10_000, 30_000), 2),
    ]


def test_state_clear_and_map_operations():
    class MapOps(fl.DoFn):
        def process(self, kv, mp=fl.DoFn.StateParam(MAP), value=fl.DoFn.StateParam(VALUE)):
            k, cmd = kv
            if cmd == "clear":
                mp.clear()
                value.clear()
            elif cmd.startswith("rm:"):
                mp.remove(cmd[3:])
            else:
                mp.put(cmd, len(cmd))
                value.write(cmd)
            yield (cmd, sorted(mp.keys()), mp.get("xy", -1), mp.contains("xy"), value.read())

    data = [("k", "xy"), ("k", "abc"), ("k", "rm:xy"), ("k", "clear"), ("k", "z")]
    out, _ = run_stateful(TestStream().add_elements(data), MapOps())
    assert out.values() == [
        ("xy", ["xy"], 2, True, "xy"),
        ("abc", ["abc", "xy"], 2, True, "abc"),
        ("rm:xy", ["abc"], -1, False, "abc"),
        ("clear", [], -1, False, None),
        ("z", ["z"], -1, False, "z"),
    ]


def test_stateful_dofn_on_non_kv_input_names_the_label():
    class Stateful(fl.DoFn):
        def process(self, x, value=fl.DoFn.StateParam(VALUE)):
            yield x

    p = pipeline()
    _ = p | fl.Create([1, 2]) | "MyStatefulStep" >> fl.ParDo(Stateful())
    with pytest.raises(fl.FluvialError) as ei:
        p.run()
    msg = str(ei.value)
    assert "MyStatefulStep" in msg and "(key, value)" in msg


def test_timer_without_callback_is_a_construction_error():
    T = fl.TimerSpec("t")

    class NoCallback(fl.DoFn):
        def process(self, kv, t=fl.DoFn.TimerParam(T)):
            yield kv

    p = pipeline()
    with pytest.raises(fl.PipelineConstructionError, match="NoCb"):
        _ = p | fl.Create([("a", 1)]) | "NoCb" >> fl.ParDo(NoCallback())


# -- TTL --------------------------------------------------------------------------------------


def test_event_time_ttl_boundary():
    V = fl.ValueStateSpec("v", ttl=10)

    class Ttl(fl.DoFn):
        def process(self, kv, v=fl.DoFn.StateParam(V)):
            k, cmd = kv
            if cmd == "write":
                v.write("x")
            else:
                yield (cmd, v.read())

    s = (
        TestStream()
        .add_elements([tv(("k", "write"), 5)])  # expires at 5 + 10 = 15 s
        .advance_watermark_to(15)  # watermark == expiry: still live
        .add_elements([tv(("k", "at 15"), 16)])
        .advance_watermark_to(15.001)  # watermark past expiry: gone
        .add_elements([tv(("k", "at 15.001"), 16)])
        .advance_watermark_to_infinity()
    )
    out, _ = run_stateful(s, Ttl())
    assert out.values() == [("at 15", "x"), ("at 15.001", None)]


def test_event_time_ttl_restarts_on_write():
    B = fl.BagStateSpec("b", ttl=fl.StateTTL(10, TimeDomain.WATERMARK))

    class Ttl(fl.DoFn):
        def process(self, kv, b=fl.DoFn.StateParam(B)):
            k, cmd = kv
            if cmd.startswith("add"):
                b.add(cmd)
            else:
                yield (cmd, b.read())

    s = (
        TestStream()
        .add_elements([tv(("k", "add1"), 0)])  # expiry 10
        .advance_watermark_to(8)
        .add_elements([tv(("k", "add2"), 8)])  # rewritten: expiry 18
        .advance_watermark_to(17)
        .add_elements([tv(("k", "read@17"), 17)])
        .advance_watermark_to(18.001)
        .add_elements([tv(("k", "read@18.001"), 19)])
        .advance_watermark_to_infinity()
    )
    out, _ = run_stateful(s, Ttl())
    assert out.values() == [("read@17", ["add1", "add2"]), ("read@18.001", [])]


def test_map_entries_expire_individually():
    M = fl.MapStateSpec("m", ttl=10)

    class Ttl(fl.DoFn):
        def process(self, kv, m=fl.DoFn.StateParam(M)):
            k, cmd = kv
            if cmd == "read":
                yield sorted(m.items())
            else:
                m.put(cmd, 1)

    s = (
        TestStream()
        .add_elements([tv(("k", "old"), 0)])  # expiry 10
        .advance_watermark_to(8)
        .add_elements([tv(("k", "new"), 8)])  # expiry 18
        .advance_watermark_to(10)
        .add_elements([tv(("k", "read"), 10)])
        .advance_watermark_to(12)
        .add_elements([tv(("k", "read"), 12)])
        .advance_watermark_to(19)
        .add_elements([tv(("k", "read"), 19)])
        .advance_watermark_to_infinity()
    )
    out, _ = run_stateful(s, Ttl())
    assert out.values() == [[("new", 1), ("old", 1)], [("new", 1)], []]


def test_processing_time_ttl():
    V = fl.ValueStateSpec("v", ttl=fl.StateTTL(5, TimeDomain.REAL_TIME))
    C = fl.CombiningStateSpec("c", sum, ttl=fl.StateTTL(5, TimeDomain.REAL_TIME))

    class Ttl(fl.DoFn):
        def process(self, kv, v=fl.DoFn.StateParam(V), c=fl.DoFn.StateParam(C)):
            k, cmd = kv
            if cmd == "write":
                v.write("x")
                c.add(3)
            else:
                yield (cmd, v.read(), c.read())

    s = (
        TestStream()
        .add_elements([("k", "write")])  # processing time 0: expires at 5
        .advance_processing_time(4.999)
        .add_elements([("k", "read@4.999")])
        .advance_processing_time(0.001)
        .add_elements([("k", "read@5")])
        .advance_watermark_to_infinity()
    )
    out, _ = run_stateful(s, Ttl())
    assert out.values() == [("read@4.999", "x", 3), ("read@5", None, 0)]


def test_ttl_is_per_key():
    V = fl.ValueStateSpec("v", ttl=10)

    class Ttl(fl.DoFn):
        def process(self, kv, v=fl.DoFn.StateParam(V)):
            k, cmd = kv
            if cmd == "write":
                v.write(k)
            else:
                yield (k, v.read())

    s = (
        TestStream()
        .add_elements([tv(("a", "write"), 0), tv(("b", "write"), 9)])
        .advance_watermark_to(12)
        .add_elements([tv(("a", "read"), 12), tv(("b", "read"), 12)])
        .advance_watermark_to_infinity()
    )
    out, _ = run_stateful(s, Ttl())
    assert sorted(out.values(), key=repr) == [("a", None), ("b", "b")]


# -- event-time timers --------------------------------------------------------------------------

EVENT = fl.TimerSpec("flush", TimeDomain.WATERMARK)


class BufferUntil(fl.DoFn):
    """Buffers values; flushes them when the watermark passes ``at`` (seconds)."""

    def __init__(self, at):
        self.at = at

    def process(self, kv, bag=fl.DoFn.StateParam(BAG), t=fl.DoFn.TimerParam(EVENT)):
        bag.add(kv[1])
        t.set(self.at)
        return []

    @fl.on_timer(EVENT)
    def flush(self, key=fl.DoFn.KeyParam, ts=fl.DoFn.TimestampParam, bag=fl.DoFn.StateParam(BAG)):
        yield (key, ts, sorted(bag.read()))
        bag.clear()


def test_event_timer_fires_when_watermark_reaches_it():
    # Beam and Flink fire an event-time timer at t once the watermark is >= t
    s = (
        TestStream()
        .add_elements([tv(("a", 1), 1), tv(("b", 2), 2)])
        .advance_watermark_to(9.999)  # timer at 10 s: not yet
        .add_elements([tv(("a", 3), 10)])
        .advance_watermark_to(10)  # reaches 10 s: fires for a and b
        .add_elements([tv(("a", 4), 11)])  # sets the timer again, already passed; fires next advance
        .advance_watermark_to_infinity()
    )
    out, _ = run_stateful(s, BufferUntil(10))
    recs = [(v, ts) for v, ts, _, _ in out.records]
    assert sorted(recs[:2], key=repr) == [
        (("a", fl.Timestamp(10), [1, 3]), 10_000),
        (("b", fl.Timestamp(10), [2]), 10_000),
    ]
    assert recs[2:] == [(("a", fl.Timestamp(10), [4]), 10_000)]


def test_event_timer_output_holds_watermark_for_downstream_windows():
    s = (
        TestStream()
        .add_elements([tv(("a", 1), 1)])
        .advance_watermark_to(20)
        .advance_watermark_to_infinity()
    )

    class Later(fl.DoFn):
        def process(self, kv, t=fl.DoFn.TimerParam(EVENT)):
            t.set(25)
            return []

        @fl.on_timer(EVENT)
        def flush(self, key=fl.DoFn.KeyParam):
            yield (key, "fired")

    p = pipeline()
    timed = p | s | "Timed" >> fl.ParDo(Later())
    grouped = timed | fl.WindowInto(fl.FixedWindows(10)) | fl.GroupByKey()
    out = collect(grouped)
    result = p.run()
    assert out.with_windows() == [(("a", ["fired"]), (20_000, 30_000))]
    assert result.metrics().query().counter("dropped_due_to_lateness") == 0


def test_timer_clear():
    class ClearOnSecond(fl.DoFn):
        def process(self, kv, t=fl.DoFn.TimerParam(EVENT)):
            if kv[1] == "set":
                t.set(5)
            else:
                t.clear()
            return []

        @fl.on_timer(EVENT)
        def flush(self, key=fl.DoFn.KeyParam):
            yield key

    s = (
        TestStream()
        .add_elements([tv(("a", "set"), 0), tv(("b", "set"), 0)])
        .add_elements([tv(("a", "clear"), 1)])
        .advance_watermark_to_infinity()
    )
    out, _ = run_stateful(s, ClearOnSecond())
    assert out.values() == ["b"]


def test_timer_reset_replaces_previous_time():
    class Reset(fl.DoFn):
        def process(self, kv, t=fl.DoFn.TimerParam(EVENT)):
            t.set(kv[1])
            return []

        @fl.on_timer(EVENT)
        def flush(self, key=fl.DoFn.KeyParam, ts=fl.DoFn.TimestampParam):
            yield (key, ts)

    s = (
        TestStream()
        .add_elements([tv(("a", 5), 0)])
        .add_elements([tv(("a", 8), 0)])
        .advance_watermark_to(6)
        .advance_watermark_to_infinity()
    )
    out, _ = run_stateful(s, Reset())
    assert out.values() == [("a", fl.Timestamp(8))]


def test_looping_timer():
    class Loop(fl.DoFn):
        def process(self, kv, t=fl.DoFn.TimerParam(EVENT)):
            t.set(10)
            return []

        @fl.on_timer(EVENT)
        def flush(self, ts=fl.DoFn.TimestampParam, t=fl.DoFn.TimerParam(EVENT)):
            if ts < 40:
                t.set(ts.seconds + 10)
            yield ts.seconds

    s = TestStream().add_elements([tv(("a", 0), 0)]).advance_watermark_to(35).advance_watermark_to_infinity()
    out, _ = run_stateful(s, Loop())
    assert out.values() == [10, 20, 30, 40]


# -- processing-time timers ---------------------------------------------------------------------

PROC = fl.TimerSpec("proc", TimeDomain.REAL_TIME)


def test_processing_time_timer_with_test_stream_clock():
    class AfterDelay(fl.DoFn):
        def process(self, kv, t=fl.DoFn.TimerParam(PROC), bag=fl.DoFn.StateParam(BAG)):
            bag.add(kv[1])
            t.set(5)  # absolute processing time, seconds
            return []

        @fl.on_timer(PROC)
        def fire(self, key=fl.DoFn.KeyParam, bag=fl.DoFn.StateParam(BAG)):
            yield (key, sorted(bag.read()))
            bag.clear()

    s = (
        TestStream()
        .add_elements([tv(("a", 1), 3)])
        .advance_processing_time(4.999)
        .add_elements([tv(("a", 2), 4)])
        .advance_processing_time(0.001)  # clock 5: fires
        .add_elements([tv(("a", 3), 6)])  # timer at 5 again: due at the next clock advance
        .advance_processing_time(1)
        .advance_watermark_to_infinity()
    )
    out, _ = run_stateful(s, AfterDelay())
    # processing-time timer output carries the timestamp of the element that set it
    assert [(v, ts) for v, ts, _, _ in out.records] == [(("a", [1, 2]), 4_000), (("a", [3]), 6_000)]


# -- window expiration --------------------------------------------------------------------------


class Expiring(fl.DoFn):
    def process(self, kv, bag=fl.DoFn.StateParam(BAG)):
        bag.add(kv[1])
        return []

    @fl.on_window_expiration
    def expired(self, key=fl.DoFn.KeyParam, w=fl.DoFn.WindowParam, bag=fl.DoFn.StateParam(BAG)):
        yield (key, (w.start_ms, w.end_ms), sorted(bag.read()))


def _expiring_pipeline(lateness):
    s = (
        TestStream()
        .add_elements([tv(("a", 1), 1), tv(("b", 2), 2), tv(("a", 3), 12)])
        .advance_watermark_to(9.999 + lateness)  # [0,10): max_ts + lateness == watermark
        .add_elements([tv(("a", 4), 9)])  # still accepted
        .advance_watermark_to(10 + lateness)  # one ms more: [0,10) expires
        .add_elements([tv(("a", 5), 9)])  # dropped
        .advance_watermark_to_infinity()
    )
    p = pipeline()
    pc = p | s | fl.WindowInto(fl.FixedWindows(10), allowed_lateness=lateness)
    out = collect(pc | "Expiring" >> fl.ParDo(Expiring()))
    return p, out


@pytest.mark.parametrize("lateness", [0, 5])
def test_on_window_expiration_called_once_per_key_and_window(lateness):
    p, out = _expiring_pipeline(lateness)
    ex = Executor(p, p.options)
    assert ex.run() == "DONE"
    got = [(v, ts) for v, ts, _, _ in out.records]
    assert sorted(got, key=repr) == [
        (("a", (0, 10_000), [1, 4]), 9_999),
        (("a", (10_000, 20_000), [3]), 19_999),
        (("b", (0, 10_000), [2]), 9_999),
    ]
    op = next(o for o in ex.ops if isinstance(o, StatefulParDoOperator))
    assert op.cells == {}, "state must be cleared after the expiration callback"
    assert op.bookkeeping_size() == 0, "every per-key structure is released at expiry"
    assert ex.metrics.query().counter("dropped_due_to_lateness") == 1


def test_on_window_expiration_sees_late_state_within_lateness():
    s = (
        TestStream()
        .add_elements([tv(("a", 1), 1)])
        .advance_watermark_to(14.999)  # [0,10) + 5 s lateness: max_ts + lateness == watermark
        .add_elements([tv(("a", 2), 2)])  # accepted
        .advance_watermark_to(15)  # expires
        .add_elements([tv(("a", 3), 3)])  # dropped
        .advance_watermark_to_infinity()
    )
    p = pipeline()
    pc = p | s | fl.WindowInto(fl.FixedWindows(10), allowed_lateness=5)
    out = collect(pc | "Expiring" >> fl.ParDo(Expiring()))
    result = p.run()
    assert out.values() == [("a", (0, 10_000), [1, 2])]
    assert result.metrics().query().counter("dropped_due_to_lateness") == 1


def test_on_window_expiration_global_window_at_end_of_input():
    out, _ = run_stateful([("a", 1), ("a", 2), ("b", 3)], Expiring())
    from fluvial.window import GlobalWindow

    assert sorted(v[0] for v in out.values()) == ["a", "b"]
    assert sorted(v[2] for v in out.values()) == [[1, 2], [3]]
    assert GlobalWindow().start_ms == out.values()[0][1][0]
