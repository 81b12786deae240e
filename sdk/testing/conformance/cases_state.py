"""Stateful DoFns: ValueState, BagState, MapState, CombiningState, per key and window, with TTL
in event time and processing time.

Rules: state is scoped per key and window. TTL: a cell (a map entry, for MapState) expires ttl
seconds after its last write; event time: the write timestamp is the timestamp of the element
being processed and the cell is expired once watermark > write_ts + ttl; processing time: expired
once clock >= write_clock + ttl. Expired state reads as empty. Outputs of process() carry the
element's timestamp and window and pane UNKNOWN (no grouping upstream).
"""

from __future__ import annotations

from fluvial.combiners import CountCombineFn, SumCombineFn
from fluvial.dofn import DoFn
from fluvial.pardo import ParDo
from fluvial.testing.conformance.case import Case
from fluvial.testing.conformance.cases_common import Out, tv, tvs, unknown
from fluvial.testing.test_stream import TestStream
from fluvial.timeutil import TimeDomain
from fluvial.userstate import (
    BagStateSpec,
    CombiningStateSpec,
    MapStateSpec,
    StateTTL,
    ValueStateSpec,
)
from fluvial.window import FixedWindows
from fluvial.windowinto import WindowInto

U = unknown()

COUNT = ValueStateSpec("count")


class RunningCount(DoFn):
    """(k, v) -> (k, number of elements of k so far) with ValueState."""

    def process(self, kv, count=DoFn.StateParam(COUNT)):
        n = (count.read() or 0) + 1
        count.write(n)
        yield (kv[0], n)


BUF = BagStateSpec("buf")


class BatchOfThree(DoFn):
    """Buffer values in a bag; every third value emit the sorted batch and clear."""

    def process(self, kv, buf=DoFn.StateParam(BUF)):
        buf.add(kv[1])
        items = list(buf.read())
        if len(items) == 3:
            buf.clear()
            yield (kv[0], sorted(items))


MAP = MapStateSpec("m")


def _map_op(m, op):
    name = op[0]
    if name == "put":
        m.put(op[1], op[2])
        return None
    if name == "remove":
        m.remove(op[1])
        return None
    if name == "get":
        return [name, op[1], m.get(op[1], "absent")]
    if name == "contains":
        return [name, op[1], m.contains(op[1])]
    if name == "in":
        return [name, op[1], op[1] in m]
    if name == "items":
        return [name, sorted([list(kv) for kv in m.items()])]
    if name == "keys":
        return [name, sorted(m.keys())]
    if name == "values":
        return [name, sorted(m.values())]
    if name == "clear":
        m.clear()
        return None
    raise ValueError(op)


class MapOps(DoFn):
    """(k, op) runs a MapState operation; ops that read emit (k, result)."""

    def process(self, kv, m=DoFn.StateParam(MAP)):
        r = _map_op(m, kv[1])
        if r is not None:
            yield (kv[0], r)


SUM = CombiningStateSpec("sum", SumCombineFn())
COUNT_C = CombiningStateSpec("n", CountCombineFn())


class RunningSum(DoFn):
    def process(self, kv, total=DoFn.StateParam(SUM), n=DoFn.StateParam(COUNT_C)):
        total.add(kv[1])
        n.add(kv[1])
        yield (kv[0], total.read(), n.read())


LAST_EV = ValueStateSpec("last", ttl=StateTTL(10, TimeDomain.WATERMARK))
LAST_PT = ValueStateSpec("last", ttl=StateTTL(10, TimeDomain.REAL_TIME))


class PreviousEvent(DoFn):
    """(k, v) -> (k, previous v still alive) then remember v (event-time TTL 10 s)."""

    def process(self, kv, last=DoFn.StateParam(LAST_EV)):
        prev = last.read()
        last.write(kv[1])
        yield (kv[0], prev)


class PreviousProcessing(DoFn):
    """(k, v) -> (k, previous v still alive) then remember v (processing-time TTL 10 s)."""

    def process(self, kv, last=DoFn.StateParam(LAST_PT)):
        prev = last.read()
        last.write(kv[1])
        yield (kv[0], prev)


BAG_TTL = BagStateSpec("bag", ttl=StateTTL(10))


class BagSoFar(DoFn):
    def process(self, kv, bag=DoFn.StateParam(BAG_TTL)):
        bag.add(kv[1])
        yield (kv[0], sorted(bag.read()))


MAP_TTL = MapStateSpec("m", ttl=StateTTL(10, TimeDomain.WATERMARK))


class MapOpsTTL(DoFn):
    def process(self, kv, m=DoFn.StateParam(MAP_TTL)):
        r = _map_op(m, kv[1])
        if r is not None:
            yield (kv[0], r)


SUM_PT = CombiningStateSpec("sum", SumCombineFn(), ttl=StateTTL(10, TimeDomain.REAL_TIME))


class RunningSumTTL(DoFn):
    def process(self, kv, total=DoFn.StateParam(SUM_PT)):
        total.add(kv[1])
        yield (kv[0], total.read())


def _value_count(p):
    ts = (
        TestStream()
        .add_elements([tv(("a", "x"), 1), tv(("b", "y"), 2), tv(("a", "z"), 3), tv(("a", "w"), 4)])
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(RunningCount())


def _value_per_window(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(0, 1), (0, 2), (0, 11)]))
        .advance_watermark_to_infinity()
    )
    return p | ts | WindowInto(FixedWindows(10)) | ParDo(RunningCount())


def _bag_batches(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(3, 1), (1, 2), (2, 3), (5, 4)]))
        .add_elements(tvs("b", [(9, 5), (8, 6), (7, 7)]))
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(BatchOfThree())


def _map_ops(p):
    ops = [
        ("put", "x", 1),
        ("put", "y", 2),
        ("get", "x"),
        ("contains", "y"),
        ("put", "x", 10),
        ("items",),
        ("remove", "y"),
        ("contains", "y"),
        ("get", "y"),
        ("keys",),
        ("values",),
        ("clear",),
        ("items",),
    ]
    elements = [tv(("a", op), i + 1) for i, op in enumerate(ops)]
    elements.append(tv(("b", ("items",)), 20))
    ts = TestStream()
    for e in elements:
        ts = ts.add_elements([e])
    return p | ts.advance_watermark_to_infinity() | ParDo(MapOps())


def _map_in(p):
    ops = [("put", "x", 1), ("in", "x"), ("in", "z"), ("remove", "x"), ("in", "x")]
    ts = TestStream()
    for i, op in enumerate(ops):
        ts = ts.add_elements([tv(("a", op), i + 1)])
    return p | ts.advance_watermark_to_infinity() | ParDo(MapOps())


def _combining(p):
    ts = (
        TestStream()
        .add_elements([*tvs("a", [(1, 1), (2, 2)]), *tvs("b", [(10, 3)]), *tvs("a", [(4, 4)])])
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(RunningSum())


def _ttl_event(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(1, 0)]))
        .advance_watermark_to(5)
        .add_elements(tvs("a", [(2, 5)]))
        .advance_watermark_to(16)
        .add_elements([*tvs("a", [(3, 16)]), *tvs("b", [(9, 16)])])
        .advance_watermark_to(20)
        .add_elements(tvs("a", [(4, 20)]))
        .advance_watermark_to(30)
        .add_elements(tvs("a", [(5, 30)]))
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(PreviousEvent())


def _ttl_processing(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(1, 1)]))
        .advance_processing_time(5)
        .add_elements(tvs("a", [(2, 2)]))
        .advance_processing_time(10)
        .add_elements(tvs("a", [(3, 3)]))
        .advance_processing_time(9)
        .add_elements(tvs("a", [(4, 4)]))
        .advance_processing_time(10)
        .add_elements(tvs("a", [(5, 5)]))
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(PreviousProcessing())


def _bag_ttl(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(1, 0), (2, 5)]))
        .advance_watermark_to(15)
        .add_elements(tvs("a", [(3, 15)]))
        .advance_watermark_to(26)
        .add_elements(tvs("a", [(4, 26)]))
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(BagSoFar())


def _map_ttl(p):
    ts = (
        TestStream()
        .add_elements([tv(("a", ("put", "x", 1)), 0)])
        .add_elements([tv(("a", ("put", "y", 2)), 8)])
        .advance_watermark_to(12)
        .add_elements([tv(("a", ("keys",)), 12)])
        .add_elements([tv(("a", ("get", "x")), 12)])
        .advance_watermark_to(19)
        .add_elements([tv(("a", ("keys",)), 19)])
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(MapOpsTTL())


def _combining_ttl(p):
    ts = (
        TestStream()
        .add_elements(tvs("a", [(1, 1)]))
        .advance_processing_time(5)
        .add_elements(tvs("a", [(2, 2)]))
        .advance_processing_time(10)
        .add_elements(tvs("a", [(4, 3)]))
        .advance_watermark_to_infinity()
    )
    return p | ts | ParDo(RunningSumTTL())


CASES = [
    Case(
        "value_state_running_count",
        ("test_stream", "state", "value_state"),
        _value_count,
        (
            Out(["a", 1], None, U, 1),
            Out(["b", 1], None, U, 2),
            Out(["a", 2], None, U, 3),
            Out(["a", 3], None, U, 4),
        ),
        "ValueState per key: a → 1, 2, 3; b → 1; outputs at the elements' timestamps.",
    ),
    Case(
        "value_state_per_window",
        ("test_stream", "fixed_windows", "state", "value_state"),
        _value_per_window,
        (
            Out(["a", 1], (0, 10), U, 1),
            Out(["a", 2], (0, 10), U, 2),
            Out(["a", 1], (10, 20), U, 11),
        ),
        "State is per key and window: FixedWindows(10), a@1, a@2 count 1, 2 in [0,10); a@11 "
        "starts again at 1 in [10,20).",
    ),
    Case(
        "bag_state_batches",
        ("test_stream", "state", "bag_state"),
        _bag_batches,
        (
            Out(["a", [1, 2, 3]], None, U, 3),
            Out(["b", [7, 8, 9]], None, U, 7),
        ),
        "BagState: every third value of a key emits the sorted batch and clears: a → [3,1,2] at "
        "the 3rd element (t=3), a:5 stays buffered; b → [9,8,7] at t=7.",
    ),
    Case(
        "map_state_ops",
        ("test_stream", "state", "map_state"),
        _map_ops,
        (
            Out(["a", ["get", "x", 1]], None, U, 3),
            Out(["a", ["contains", "y", True]], None, U, 4),
            Out(["a", ["items", [["x", 10], ["y", 2]]]], None, U, 6),
            Out(["a", ["contains", "y", False]], None, U, 8),
            Out(["a", ["get", "y", "absent"]], None, U, 9),
            Out(["a", ["keys", ["x"]]], None, U, 10),
            Out(["a", ["values", [10]]], None, U, 11),
            Out(["a", ["items", []]], None, U, 13),
            Out(["b", ["items", []]], None, U, 20),
        ),
        "MapState ops in order: put x=1, y=2; get x → 1; contains y; put x=10 overwrites; items; "
        "remove y; contains y → False; get y → default; keys [x]; values [10]; clear → items []; "
        "key b has its own empty map.",
    ),
    Case(
        "combining_state_sum_count",
        ("test_stream", "state", "combining_state"),
        _combining,
        (
            Out(["a", 1, 1], None, U, 1),
            Out(["a", 3, 2], None, U, 2),
            Out(["b", 10, 1], None, U, 3),
            Out(["a", 7, 3], None, U, 4),
        ),
        "CombiningState(Sum) and CombiningState(Count) per key: a: 1/1, 3/2, 7/3; b: 10/1.",
    ),
    Case(
        "value_state_ttl_event_time",
        ("test_stream", "state", "value_state", "ttl"),
        _ttl_event,
        (
            Out(["a", None], None, U, 0),
            Out(["a", 1], None, U, 5),
            Out(["a", None], None, U, 16),
            Out(["b", None], None, U, 16),
            Out(["a", 3], None, U, 20),
            Out(["a", 4], None, U, 30),
        ),
        "TTL 10 s event time: a:1 written at ts 0; at wm 5 alive → 1; a:2 written at 5 expires once "
        "wm > 15 → at wm 16 None; a:3 written at 16 alive at wm 20 → 3; a:4 written at 20 is still "
        "alive at wm 30 (30 > 30 is false) → 4.",
    ),
    Case(
        "value_state_ttl_processing_time",
        ("test_stream", "processing_time", "state", "value_state", "ttl", "processing_time_ttl"),
        _ttl_processing,
        (
            Out(["a", None], None, U, 1),
            Out(["a", 1], None, U, 2),
            Out(["a", None], None, U, 3),
            Out(["a", 3], None, U, 4),
            Out(["a", None], None, U, 5),
        ),
        "TTL 10 s processing time: writes at clock 0, 5, 15, 24, reads at 5 (alive), 15 (15 >= "
        "5+10 expired), 24 (alive), 34 (34 >= 24+10 expired).",
    ),
    Case(
        "bag_state_ttl_event_time",
        ("test_stream", "state", "bag_state", "ttl"),
        _bag_ttl,
        (
            Out(["a", [1]], None, U, 0),
            Out(["a", [1, 2]], None, U, 5),
            Out(["a", [1, 2, 3]], None, U, 15),
            Out(["a", [4]], None, U, 26),
        ),
        "Bag TTL 10 s (event time, whole cell): last write at 5 → alive at wm 15 (15 > 15 false) "
        "→ [1,2,3]; last write at 15 → expired at wm 26 → [4].",
    ),
    Case(
        "map_state_ttl_per_entry",
        ("test_stream", "state", "map_state", "ttl"),
        _map_ttl,
        (
            Out(["a", ["keys", ["y"]]], None, U, 12),
            Out(["a", ["get", "x", "absent"]], None, U, 12),
            Out(["a", ["keys", []]], None, U, 19),
        ),
        "MapState TTL 10 s per entry: x written at 0 expires at wm > 10, y written at 8 at wm > "
        "18; at wm 12 keys [y], x absent; at wm 19 none.",
    ),
    Case(
        "combining_state_ttl_processing_time",
        (
            "test_stream", "processing_time", "state", "combining_state", "ttl",
            "processing_time_ttl",
        ),
        _combining_ttl,
        (
            Out(["a", 1], None, U, 1),
            Out(["a", 3], None, U, 2),
            Out(["a", 4], None, U, 3),
        ),
        "CombiningState(Sum) TTL 10 s processing time: clock 0 → 1; clock 5 → 3 (write at 5); "
        "clock 15 >= 5+10 → expired, restarts at 4.",
    ),
    Case(
        "map_state_in_operator",
        ("test_stream", "state", "map_state"),
        _map_in,
        (
            Out(["a", ["in", "x", True]], None, U, 2),
            Out(["a", ["in", "z", False]], None, U, 3),
            Out(["a", ["in", "x", False]], None, U, 5),
        ),
        "`key in map_state` (Python's membership test) as MapState.contains: put x; x in → "
        "True; z in → False; remove x; x in → False.",
    ),
]
