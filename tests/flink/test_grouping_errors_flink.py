"""Error policies of GroupByKey, CombinePerKey and stateful DoFns on the Flink runner: the same
outputs and the same dead-letter records (transform, error type, payload, timestamp) as on the
direct runner (tests/faults/test_grouping_errors.py holds the direct runner's full scenarios),
on the window driver and, under "fail", on the Java combine path."""

from __future__ import annotations

import pytest

import fluvial as fl
from fluvial.combine import CombineFn
from fluvial.combiners import SumCombineFn
from fluvial.errors import UserCodeError

from .support import record, recorded

tv = fl.TimestampedValue
RUNNERS = ["direct", "flink"]

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


def _pipeline(runner: str, *argv: str) -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", runner, *argv])


def _dirs(tmp_path, *names):
    out = []
    for n in names:
        d = tmp_path / n
        d.mkdir()
        out.append(str(d))
    return out


def _fields(rec) -> tuple:
    return (rec.transform, rec.error_type, rec.payload, rec.timestamp_ms)


def _dead(directory: str) -> list[tuple]:
    return sorted((_fields(r[0]) for r in recorded(directory)), key=lambda f: f[3])


COMBINES = {
    "callable": (None, lambda **kw: fl.CombinePerKey(sum, **kw)),
    "builtin-fixed": (fl.FixedWindows(60), lambda **kw: fl.CombinePerKey(SumCombineFn(), **kw)),
}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("combine", COMBINES)
def test_combine_dead_letters_match_the_direct_runner(tmp_path, runner, combine):
    window, make = COMBINES[combine]
    out_dir, dead_dir = _dirs(tmp_path, "out", "dead")
    p = _pipeline(runner)
    orders = p | fl.Create(ORDERS)
    if window is not None:
        orders = orders | fl.WindowInto(window)
    record(orders | "Totals" >> make(on_error="dead_letter"), out_dir)
    record(p.dead_letters(), dead_dir, "RecordDead")
    result = p.run()
    assert [r[0] for r in recorded(out_dir)] == [("alice", 160.0)]
    assert _dead(dead_dir) == RECORDS
    q = result.metrics().query(namespace="fluvial", name="dead_letters", step="Totals")
    assert q.counter("dead_letters") == 4
    if runner == "flink":  # under a policy other than "fail" the window driver combines
        assert result.info["java_combines"] == []


@pytest.mark.parametrize("runner", RUNNERS)
def test_pipeline_skip_reaches_the_grouping(tmp_path, runner):
    (out_dir,) = _dirs(tmp_path, "out")
    p = _pipeline(runner, "--on-error", "skip")
    record(p | fl.Create(ORDERS) | "Totals" >> fl.CombinePerKey(sum), out_dir)
    result = p.run()
    assert [r[0] for r in recorded(out_dir)] == [("alice", 160.0)]
    q = result.metrics().query(namespace="fluvial", name="errors_skipped", step="Totals")
    assert q.counter("errors_skipped") == 4


@pytest.mark.parametrize("runner", RUNNERS)
def test_group_by_key_dead_letters(tmp_path, runner):
    out_dir, dead_dir = _dirs(tmp_path, "out", "dead")
    p = _pipeline(runner)
    data = [tv(("a", 1), 1), tv(42, 2), tv(({"k": 1}, 2), 3), tv(("a", 4), 5)]
    record(p | fl.Create(data) | fl.WindowInto(fl.FixedWindows(60))
           | "Group" >> fl.GroupByKey(on_error="dead_letter"), out_dir)
    record(p.dead_letters(), dead_dir, "RecordDead")
    p.run()
    assert [(k, sorted(vs)) for (k, vs), *_ in recorded(out_dir)] == [("a", [1, 4])]
    assert _dead(dead_dir) == [
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
    out_dir, dead_dir = _dirs(tmp_path, "out", "dead")
    p = _pipeline(runner)
    data = [tv(("a", 6), 1), tv(("b", 13), 2), tv(("a", 1), 3)]
    record(p | fl.Create(data) | fl.WindowInto(fl.FixedWindows(60))
           | "Totals" >> fl.CombinePerKey(FailingExtract(), on_error="dead_letter"), out_dir)
    record(p.dead_letters(), dead_dir, "RecordDead")
    p.run()
    assert [(r[0], r[2], r[1]) for r in recorded(out_dir)] == [(("a", 7), 59_999, (0, 60_000))]
    assert _dead(dead_dir) == [
        ("Totals", "ArithmeticError",
         {"key": "b", "window": "IntervalWindow(Timestamp(0), Timestamp(60))",
          "error_in": "extract_output"}, 59_999)]


@pytest.mark.parametrize("window", [None, fl.FixedWindows(60)], ids=["driver", "java-path"])
def test_fail_names_the_transform_and_the_element(window):
    p = _pipeline("flink")
    pc = p | fl.Create([("alice", 1.0), ("bob", "9800")])
    if window is not None:
        pc = pc | fl.WindowInto(window)
    _ = pc | "Totals" >> fl.CombinePerKey(sum if window is None else SumCombineFn())
    with pytest.raises(UserCodeError) as ei:
        p.run()
    assert ei.value.label == "Totals" and ei.value.element == ("bob", "9800")
    assert isinstance(ei.value.cause, TypeError)


class Keep(fl.DoFn):
    N = fl.CombiningStateSpec("n", sum)

    def process(self, kv, n=fl.DoFn.StateParam(N)):
        n.add(1)
        yield (kv[0], n.read())


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_stateful_dofn_dead_letters_elements_it_cannot_key(tmp_path, runner):
    out_dir, dead_dir = _dirs(tmp_path, "out", "dead")
    p = _pipeline(runner)
    data = [tv(("a", 1), 1), tv("loose", 2), tv(([1], 2), 3), tv(("a", 3), 4)]
    record(p | fl.Create(data) | "Keep" >> fl.ParDo(Keep(), on_error="dead_letter"), out_dir)
    record(p.dead_letters(), dead_dir, "RecordDead")
    p.run()
    assert sorted(r[0] for r in recorded(out_dir)) == [("a", 1), ("a", 2)]
    assert _dead(dead_dir) == [("Keep", "NotKeyedError", "loose", 2_000),
                               ("Keep", "UnhashableKeyError", ([1], 2), 3_000)]
