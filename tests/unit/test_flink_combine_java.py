"""The Python side of the Flink runner's Java combine path, without a JVM: which groupings take
it, the batches the feeder encodes (the format CombineInput.java reads), the result batches
decoded back (the format ResultBatcher.java writes, built here by hand), and the errors that
name the transform and the flag."""

from __future__ import annotations

import pickle
import struct
from decimal import Decimal

import numpy as np
import pytest

from fluvial.combine import CallableCombineFn
from fluvial.combiners import (
    CountCombineFn,
    MaxCombineFn,
    MeanCombineFn,
    MinCombineFn,
    SumCombineFn,
    TopCombineFn,
)
from fluvial.errors import FluvialError, NotKeyedError, UnhashableKeyError, UserCodeError
from fluvial.pane import PaneInfo, PaneTiming
from fluvial.runners.flink.combine_java import (
    BOOL,
    FLOAT,
    INT,
    Feeder,
    ResultDecoder,
    java_kind,
    window_params,
)
from fluvial.runners.flink.options import parse_flink_args
from fluvial.runners.flink.records import ClockTick
from fluvial.triggers import AccumulationMode, AfterCount, AfterWatermark
from fluvial.values import GLOBAL_WINDOWS, WindowedValue
from fluvial.window import FixedWindows, IntervalWindow, Sessions, SlidingWindows
from fluvial.windowing import TimestampCombiner, Windowing


@pytest.mark.parametrize("fn,kind", [(SumCombineFn(), "sum"), (CountCombineFn(), "count"),
                                     (MinCombineFn(), "min"), (MaxCombineFn(), "max"),
                                     (MeanCombineFn(), "mean")])
def test_built_in_combiners_over_fixed_and_sliding_windows_take_the_java_path(fn, kind):
    assert java_kind(Windowing(FixedWindows(60)), fn) == kind
    assert java_kind(Windowing(SlidingWindows(600, 60, offset=5)), fn) == kind
    # accumulation mode does not matter with a single pane per window
    assert java_kind(Windowing(FixedWindows(60), accumulation_mode=AccumulationMode.ACCUMULATING),
                     fn) == kind


class MySum(SumCombineFn):
    def extract_output(self, acc):
        return acc * 2


@pytest.mark.parametrize("windowing,fn", [
    (Windowing(Sessions(10)), SumCombineFn()),
    (Windowing(FixedWindows(60), allowed_lateness_ms=1), SumCombineFn()),
    (Windowing(FixedWindows(60), trigger=AfterWatermark(early=AfterCount(1))), SumCombineFn()),
    (Windowing(FixedWindows(60), timestamp_combiner=TimestampCombiner.OUTPUT_AT_EARLIEST),
     SumCombineFn()),
    (Windowing(FixedWindows(60)), TopCombineFn(2)),
    (Windowing(FixedWindows(60)), CallableCombineFn(sum)),
    (Windowing(FixedWindows(60)), MySum()),  # a subclass may change the semantics
], ids=["sessions", "lateness", "trigger", "earliest", "top", "callable", "subclass"])
def test_everything_else_stays_on_the_window_driver(windowing, fn):
    assert java_kind(windowing, fn) is None


def test_window_params_and_the_flag():
    assert window_params(Windowing(FixedWindows(60, offset=5))) == (60_000, 60_000, 5_000)
    assert window_params(Windowing(SlidingWindows(600, 60))) == (600_000, 60_000, 0)
    assert parse_flink_args([], environ={}).java_combine is True
    assert parse_flink_args(["--flink-java-combine", "off"], environ={}).java_combine is False
    with pytest.raises(FluvialError, match="--flink-java-combine must be on or off"):
        parse_flink_args(["--flink-java-combine=maybe"], environ={})


def _parse_batch(data: bytes) -> tuple[list, list]:
    """The feeder's batch as (keys, rows), read as CombineInput.java reads it."""
    pos = 0
    (nkeys,) = struct.unpack_from(">i", data, pos)
    pos += 4
    keys = []
    for _ in range(nkeys):
        (n,) = struct.unpack_from(">i", data, pos)
        keys.append(pickle.loads(data[pos + 4:pos + 4 + n]))
        pos += 4 + n
    (n,) = struct.unpack_from(">i", data, pos)
    pos += 4
    rows = [struct.unpack_from(">iqbq", data, pos + 21 * i) for i in range(n)]
    assert pos + 21 * n == len(data)
    return keys, rows


def _bits(x: float) -> int:
    return struct.unpack(">q", struct.pack(">d", x))[0]


def test_feeder_encodes_elements_with_their_distinct_keys():
    f = Feeder("Sum", "sum")
    wvs = [WindowedValue(kv, ts, GLOBAL_WINDOWS, None) for kv, ts in
           [(("a", 1), 5), (("b", 2.5), 6), (("a", True), 7), (("a", -(2**63)), 8)]]
    keys, rows = _parse_batch(f.encode(wvs))
    assert keys == ["a", "b"]
    assert rows == [(0, 5, INT, 1), (1, 6, FLOAT, _bits(2.5)), (0, 7, BOOL, 1), (0, 8, INT, -(2**63))]
    assert struct.unpack(">iq", Feeder.encode_tick(42)) == (-1, 42)


def test_feeder_encodes_columns_without_python_per_element():
    f = Feeder("Sum", "sum")
    keys, rows = _parse_batch(f.encode_columns(np.array([7, 3, 7]), np.array([1.5, 2.0, -0.0]),
                                               np.array([10, 11, 12])))
    assert keys == [3, 7]  # Python ints, as the other paths see them
    assert rows == [(1, 10, FLOAT, _bits(1.5)), (0, 11, FLOAT, _bits(2.0)),
                    (1, 12, FLOAT, _bits(-0.0))]
    keys, rows = _parse_batch(Feeder("Count", "count").encode_columns(
        np.array(["x"], dtype=object), np.array([object()], dtype=object), np.array([1])))
    assert (keys, rows) == (["x"], [(0, 1, INT, 0)])  # count ignores the value
    keys, rows = _parse_batch(Feeder("Max", "max").encode_columns(
        np.array(["x", 1, "x"], dtype=object), np.array([1, 2, 3]), np.array([1, 2, 3])))
    assert (keys, [r[0] for r in rows]) == (["x", 1], [0, 1, 0])  # unsortable keys, indexed


@pytest.mark.parametrize("kind,bad", [("sum", Decimal("1.5")), ("sum", 2**63), ("mean", np.int64(3)),
                                      ("min", "x"), ("max", None)],
                         ids=["decimal", "big", "numpy", "str-min", "none-max"])
def test_values_the_jvm_cannot_take_fail_naming_the_transform_and_the_flag(kind, bad):
    with pytest.raises(FluvialError) as ei:
        Feeder("PerKey", kind).encode([WindowedValue(("k", bad), 0, GLOBAL_WINDOWS, None)])
    msg = str(ei.value)
    assert "PerKey" in msg and "--flink-java-combine off" in msg


@pytest.mark.parametrize("bad", ["x", None])
def test_a_value_a_sum_rejects_fails_as_on_the_window_driver(bad):
    with pytest.raises(UserCodeError) as ei:
        Feeder("SumPerKey", "sum").encode([WindowedValue(("k", bad), 0, GLOBAL_WINDOWS, None)])
    assert ei.value.label == "SumPerKey" and ei.value.element == ("k", bad)
    assert isinstance(ei.value.cause, TypeError)


def test_elements_that_are_not_keyed_fail_as_bad_elements():
    with pytest.raises(NotKeyedError, match="needs \\(key, value\\) pairs"):
        Feeder("SumPerKey", "sum").encode([WindowedValue(5, 0, GLOBAL_WINDOWS, None)])
    with pytest.raises(UnhashableKeyError):
        Feeder("SumPerKey", "sum").encode([WindowedValue(([1], 2), 0, GLOBAL_WINDOWS, None)])


def _result(key, start, end, tag, payload: bytes) -> bytes:
    kb = pickle.dumps(key)
    return struct.pack(">bi", 0, len(kb)) + kb + struct.pack(">qqb", start, end, tag) + payload


def test_result_batches_decode_to_panes_of_the_window_driver():
    windowing = Windowing(FixedWindows(10))
    body = (_result("a", 0, 10_000, INT, struct.pack(">q", 7))
            + _result(("t", 1), 10_000, 20_000, FLOAT, struct.pack(">d", 0.5))
            + struct.pack(">bq", 1, 3_000)
            + _result("b", 0, 10_000, BOOL, struct.pack(">q", 1))
            + _result("c", 0, 10_000, 2, struct.pack(">i", 20) + b"12345678901234567890"))
    data = struct.pack(">iq", 5, 3) + body
    items, dropped = ResultDecoder(windowing, SumCombineFn()).decode(data)
    on_time = PaneInfo(True, True, PaneTiming.ON_TIME, 0, 0)
    assert dropped == 3
    assert items == [
        (("a", 7), 9_999, (IntervalWindow(0, 10_000),), on_time),
        ((("t", 1), 0.5), 19_999, (IntervalWindow(10_000, 20_000),), on_time),
        ClockTick(3_000),
        (("b", True), 9_999, (IntervalWindow(0, 10_000),), on_time),
        (("c", 12345678901234567890), 9_999, (IntervalWindow(0, 10_000),), on_time),
    ]
    assert type(items[3][0][1]) is bool
