"""Error policies of GroupByKey and CombinePerKey, and out-of-range event times, on the Beam
runner: the same outputs and the same dead-letter records (transform, error type, payload,
timestamp) as on the direct runner (tests/faults/test_grouping_errors.py and
test_event_time_range.py hold the direct runner's full scenarios)."""

from __future__ import annotations

import time

import pytest

import fluvial as fl
from fluvial.combine import CombineFn
from fluvial.combiners import SumCombineFn
from fluvial.source import ListReader

from .support import collect, pipeline, tv

RUNNERS = ["direct", "beam"]

ORDERS = [
    tv(("alice", 120.0), 10),
    tv(("bob", "9800"), 20),  # a str reaching sum
    tv(("alice", 40.0), 30),
    tv("no key", 40),  # not a (key, value) pair
    tv((["alice"], 1.0), 50),  # a list key: not hashable
    tv(("carol", None), 55),  # None reaching sum
]
RECORDS = [
    ("Totals", "TypeError", ("bob", "9800"), 20_000),
    ("Totals", "NotKeyedError", "no key", 40_000),
    ("Totals", "UnhashableKeyError", (["alice"], 1.0), 50_000),
    ("Totals", "TypeError", ("carol", None), 55_000),
]


def fields(rec) -> tuple:
    return (rec.transform, rec.error_type, rec.payload, rec.timestamp_ms)


def skipped(result, step):
    return result.metrics().query(namespace="fluvial", name="errors_skipped", step=step).counter(
        "errors_skipped")


COMBINES = {
    "callable": (None, lambda **kw: fl.CombinePerKey(sum, **kw)),
    "builtin-fixed": (fl.FixedWindows(60), lambda **kw: fl.CombinePerKey(SumCombineFn(), **kw)),
}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("combine", COMBINES)
def test_combine_dead_letters_match_the_direct_runner(tmp_path, runner, combine):
    window, make = COMBINES[combine]
    p = pipeline(runner)
    orders = p | fl.Create(ORDERS)
    if window is not None:
        orders = orders | fl.WindowInto(window)
    totals = collect(orders | "Totals" >> make(on_error="dead_letter"), tmp_path, "Out")
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    result = p.run()
    assert totals.values() == [("alice", 160.0)]
    assert sorted((fields(r) for r in dead.values()), key=lambda f: f[3]) == RECORDS
    q = result.metrics().query(namespace="fluvial", name="dead_letters", step="Totals")
    assert q.counter("dead_letters") == 4


@pytest.mark.parametrize("runner", RUNNERS)
def test_pipeline_skip_reaches_the_grouping(tmp_path, runner):
    p = pipeline(runner, "--on-error", "skip")
    totals = collect(p | fl.Create(ORDERS) | "Totals" >> fl.CombinePerKey(sum), tmp_path, "Out")
    result = p.run()
    assert totals.values() == [("alice", 160.0)]
    assert skipped(result, "Totals") == 4


@pytest.mark.parametrize("runner", RUNNERS)
def test_group_by_key_dead_letters(tmp_path, runner):
    p = pipeline(runner)
    data = [tv(("a", 1), 1), tv(42, 2), tv(({"k": 1}, 2), 3), tv(("a", 4), 5)]
    grouped = collect(p | fl.Create(data) | fl.WindowInto(fl.FixedWindows(60))
                      | "Group" >> fl.GroupByKey(on_error="dead_letter"), tmp_path, "Out")
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    p.run()
    assert [(k, sorted(vs)) for k, vs in grouped.values()] == [("a", [1, 4])]
    assert sorted((fields(r) for r in dead.values()), key=lambda f: f[3]) == [
        ("Group", "NotKeyedError", 42, 2_000),
        ("Group", "UnhashableKeyError", ({"k": 1}, 2), 3_000),
    ]


class FailingExtract(CombineFn):
    def create_accumulator(self):
        return 0

    def add_input(self, acc, x):
        return acc + x

    def merge_accumulators(self, accs):
        return sum(accs)

    def extract_output(self, acc):
        if acc == 13:
            raise ArithmeticError("unlucky")
        return acc


@pytest.mark.parametrize("runner", RUNNERS)
def test_extract_output_failing_drops_the_pane_with_the_same_record(tmp_path, runner):
    p = pipeline(runner)
    data = [tv(("a", 6), 1), tv(("b", 13), 2), tv(("a", 1), 3)]
    out = collect(p | fl.Create(data) | fl.WindowInto(fl.FixedWindows(60))
                  | "Totals" >> fl.CombinePerKey(FailingExtract(), on_error="dead_letter"),
                  tmp_path, "Out")
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    p.run()
    assert out.rows() == [(("a", 7), 59_999, (0, 60_000))]
    assert [fields(r) for r in dead.values()] == [
        ("Totals", "ArithmeticError",
         {"key": "b", "window": "IntervalWindow(Timestamp(0), Timestamp(60))",
          "error_in": "extract_output"}, 59_999)]


@pytest.mark.parametrize("runner", RUNNERS)
def test_fail_names_the_transform_and_the_value(tmp_path, runner):
    p = pipeline(runner)
    _ = p | fl.Create([("alice", 1.0), ("bob", "9800")]) | "Totals" >> fl.CombinePerKey(sum)
    with pytest.raises(Exception) as ei:  # Beam wraps what a DoFn raises in its own error
        p.run()
    msg = str(ei.value)
    assert "user code in transform 'Totals' raised TypeError" in msg
    # the direct runner names the element; Beam's combiner sees the value only
    assert ("while processing element ('bob', '9800')" in msg if runner == "direct"
            else "while processing element '9800'" in msg)


class Orders(fl.Source):
    def __init__(self, stamps_ms, on_error=None):
        self.stamps = stamps_ms
        self.on_error = on_error

    def open(self, ctx):
        return ListReader([(("orders", i), t) for i, t in enumerate(self.stamps)])


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_far_future_record_is_a_dead_letter_on_both_runners(tmp_path, runner):
    far = int((time.time() + 10 * 365 * 86_400) * 1000)
    p = pipeline(runner)
    orders = p | "Orders" >> fl.Read(Orders([10_000, far, 11_000], on_error="dead_letter"))
    out = collect(orders, tmp_path, "Out")
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    p.run()
    assert sorted(out.values()) == [("orders", 0), ("orders", 2)]
    [rec] = dead.values()
    assert fields(rec) == ("Orders", "EventTimeOutOfRangeError", ("orders", 1), None)
    assert "ahead of the wall clock" in rec.message


class Retime(fl.DoFn):
    def process(self, x):
        yield fl.TimestampedValue(x, x)


@pytest.mark.parametrize("runner", RUNNERS)
def test_retimestamping_out_of_range_is_a_dead_letter_on_both_runners(tmp_path, runner):
    p = pipeline(runner)
    out = collect(p | fl.Create([10, 1e16]) | "Retime" >> fl.ParDo(Retime(), on_error="dead_letter"),
                  tmp_path, "Out")
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    p.run()
    assert out.values() == [10]
    [rec] = dead.values()
    assert (rec.transform, rec.error_type, rec.payload) == (
        "Retime", "EventTimeOutOfRangeError", 1e16)
