"""Issue 11, defect 7: poison values in a combine or a key could not be dead-lettered. A
CombineFn that raised, a wrong-typed value reaching ``sum`` or an unhashable key failed the run
even under ``--on-error dead_letter``; ``CombinePerKey(..., on_error=...)`` was a raw
TypeError; the failure named the element as ``<pane of key 'a' ...>``.

Now GroupByKey and CombinePerKey take ``on_error`` and follow ``--on-error``: an element that
is not a (key, value) pair, whose key is not hashable, or that the CombineFn cannot add goes to
the policy alone — a dead-letter record with the element itself as payload, labelled with the
transform's label — and the others are combined as if it had never arrived, on the general
path and on the direct runner's vectorised (sliced) path alike. A CombineFn failing when a pane
fires drops that pane (its index is used up) and makes a record with the payload ``{"key",
"window", "error_in"}``. "fail" names the transform and the element.
"""

from __future__ import annotations

import pytest
from faults_support import collect

import fluvial as fl
from fluvial.combine import CombineFn
from fluvial.combiners import MeanCombineFn, SumCombineFn
from fluvial.errors import (
    NotKeyedError,
    PipelineConstructionError,
    UnhashableKeyError,
    UserCodeError,
)
from fluvial.pane import PaneTiming
from fluvial.testing import TestStream
from fluvial.transforms import Map, Sum

TV = fl.TimestampedValue

# alice's two orders are good; every other element is poison for a sum of amounts
ORDERS = [
    TV(("alice", 120.0), 10),
    TV(("bob", "9800"), 20),  # a str reaching sum
    TV(("alice", 40.0), 30),
    TV("no key", 40),  # not a (key, value) pair
    TV((["alice"], 1.0), 50),  # a list key: not hashable
    TV(("carol", None), 55),  # None reaching sum
]
TOTALS = [("alice", 160.0)]


def records(label: str) -> list[tuple]:
    """The dead-letter records ORDERS make at the grouping ``label`` (sorted by time)."""
    return [
        (label, "TypeError", ("bob", "9800"), 20_000),
        (label, "NotKeyedError", "no key", 40_000),
        (label, "UnhashableKeyError", (["alice"], 1.0), 50_000),
        (label, "TypeError", ("carol", None), 55_000),
    ]


def pipeline(*argv: str) -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "direct", *argv])


def fields(rec) -> tuple:
    return (rec.transform, rec.error_type, rec.payload, rec.timestamp_ms)


def dead_fields(dead) -> list[tuple]:
    return sorted((fields(r) for r, _ in dead.items), key=lambda f: f[3])


def skipped(result, step: str) -> int:
    return result.metrics().query(namespace="fluvial", name="errors_skipped", step=step
                                  ).counter("errors_skipped")


# where the sum runs: the general path with a function (CallableCombineFn), the general path
# with the built-in Sum, and the vectorised sliced path (fixed windows + built-in Sum)
PATHS = {
    "callable": (None, lambda **kw: fl.CombinePerKey(sum, **kw)),
    "builtin": (None, lambda **kw: fl.CombinePerKey(SumCombineFn(), **kw)),
    "sliced": (fl.FixedWindows(60), lambda **kw: fl.CombinePerKey(SumCombineFn(), **kw)),
}


@pytest.mark.parametrize("path", PATHS)
def test_combine_dead_letters_the_poison_and_sums_the_rest(path):
    window, make = PATHS[path]
    p = pipeline()
    orders = p | fl.Create(ORDERS)
    if window is not None:
        orders = orders | fl.WindowInto(window)
    totals = collect(orders | "Totals" >> make(on_error="dead_letter"), "Out")
    dead = collect(p.dead_letters(), "Dead")
    result = p.run()
    assert [v for v, _ in totals.items] == TOTALS
    assert dead_fields(dead) == records("Totals")
    rec = next(r for r, _ in dead.items if r.payload == ("bob", "9800"))
    assert "unsupported operand" in rec.message and "Traceback" in rec.traceback
    q = result.metrics().query(namespace="fluvial", name="dead_letters", step="Totals")
    assert q.counter("dead_letters") == 4


@pytest.mark.parametrize("path", PATHS)
def test_pipeline_on_error_reaches_the_grouping_and_skip_counts(path):
    window, make = PATHS[path]
    for argv, own in ((("--on-error", "skip"), {}), ((), {"on_error": "skip"})):
        p = pipeline(*argv)
        orders = p | fl.Create(ORDERS)
        if window is not None:
            orders = orders | fl.WindowInto(window)
        totals = collect(orders | "Totals" >> make(**own), "Out")
        result = p.run()
        assert [v for v, _ in totals.items] == TOTALS
        assert skipped(result, "Totals") == 4


def test_a_composite_sum_is_labelled_with_its_grouping():
    p = pipeline("--on-error", "dead_letter")
    totals = collect(p | fl.Create(ORDERS) | fl.WindowInto(fl.FixedWindows(60))
                     | "Totals" >> Sum.PerKey(), "Out")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert [v for v, _ in totals.items] == TOTALS
    assert dead_fields(dead) == records("Totals/CombinePerKey")


@pytest.mark.parametrize("at", [3, 70])
def test_the_poison_is_blamed_not_the_element_that_happened_to_fold_it(at):
    # sum over a function buffers 64 values before it folds them: a str at position 3 used to
    # fail the fold at the 65th value; now the str alone is the dead letter
    values = list(range(1, 101))
    data = [("k", v) for v in values]
    data.insert(at, ("k", "x"))
    p = pipeline()
    out = collect(p | fl.Create(data) | "Total" >> fl.CombinePerKey(sum, on_error="dead_letter"),
                  "Out")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert [v for v, _ in out.items] == [("k", 5050)]
    assert [r.payload for r, _ in dead.items] == [("k", "x")]


class Strict(CombineFn):
    """Sums ints; add_input refuses anything else before touching the accumulator."""

    def create_accumulator(self):
        return 0

    def add_input(self, acc, x):
        if type(x) is not int:
            raise ValueError(f"not an int: {x!r}")
        return acc + x

    def merge_accumulators(self, accs):
        return sum(accs)


def test_a_raising_add_input_is_a_dead_letter_and_leaves_the_total_alone():
    p = pipeline()
    out = collect(p | fl.Create([("a", 1), ("a", 2.5), ("a", 3), ("b", "z")])
                  | "Strict" >> fl.CombinePerKey(Strict(), on_error="dead_letter"), "Out")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert [v for v, _ in out.items] == [("a", 4)]
    assert sorted((r.error_type, r.message, r.payload) for r, _ in dead.items) == [
        ("ValueError", "not an int: 'z'", ("b", "z")),
        ("ValueError", "not an int: 2.5", ("a", 2.5)),
    ]


def test_mean_on_the_sliced_path_isolates_a_bad_value():
    p = pipeline("--on-error", "dead_letter")
    out = collect(p | fl.Create([TV(("a", 1), 1), TV(("a", "2"), 2), TV(("a", 3), 3)])
                  | fl.WindowInto(fl.FixedWindows(10))
                  | "Mean" >> fl.CombinePerKey(MeanCombineFn()), "Out")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert [v for v, _ in out.items] == [("a", 2.0)]
    assert [fields(r) for r, _ in dead.items] == [("Mean", "TypeError", ("a", "2"), 2_000)]


def test_group_by_key_dead_letters_elements_it_cannot_group():
    p = pipeline()
    data = [TV(("a", 1), 1), TV(42, 2), TV(({"k": 1}, 2), 3), TV(["a", 3], 4), TV(("a", 4), 5)]
    grouped = collect(p | fl.Create(data) | "Group" >> fl.GroupByKey(on_error="dead_letter"),
                      "Out")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    # a two-item list is a (key, value) pair, as everywhere in fluvial
    assert [(k, sorted(vs)) for (k, vs), _ in grouped.items] == [("a", [1, 3, 4])]
    assert dead_fields(dead) == [
        ("Group", "NotKeyedError", 42, 2_000),
        ("Group", "UnhashableKeyError", ({"k": 1}, 2), 3_000),
    ]


def test_fail_names_the_transform_and_the_element_not_a_pane():
    p = pipeline()
    _ = p | fl.Create([("alice", 1.0), ("bob", "9800")]) | "Totals" >> fl.CombinePerKey(sum)
    with pytest.raises(UserCodeError) as ei:
        p.run()
    msg = str(ei.value)
    assert msg == ("user code in transform 'Totals' raised TypeError: unsupported operand "
                   "type(s) for +: 'int' and 'str' while processing element ('bob', '9800')")
    assert ei.value.element == ("bob", "9800")


@pytest.mark.parametrize("element, error, text", [
    ("no key", NotKeyedError, "transform 'Group' (GroupByKey) needs (key, value) pairs, got "
                              "'no key'"),
    (([1], 2), UnhashableKeyError, "transform 'Group': key [1] of element ([1], 2) is not "
                                   "hashable"),
])
def test_fail_on_an_element_the_grouping_cannot_take(element, error, text, tmp_path):
    attempts = []

    def count(x):
        attempts.append(x)
        return x

    p = pipeline("--checkpoint-dir", str(tmp_path / "ck"), "--restart-attempts", "2",
                 "--restart-delay", "0", "--batch-size", "1")
    _ = (p | fl.Create([("a", 1), element]) | "Count" >> Map(count)
         | "Group" >> fl.GroupByKey())
    with pytest.raises(error) as ei:
        p.run()
    assert str(ei.value).startswith(text)
    assert attempts == [("a", 1), element]  # bad data: one attempt, never restarted


class FailingExtract(CombineFn):
    """Sums; extract_output raises when the sum is 13."""

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


@pytest.mark.parametrize("sliced", [False, True])
def test_extract_output_failing_drops_that_pane_only(sliced):
    p = pipeline()
    fn = FailingExtract()
    if sliced:  # a built-in kind: the vectorised path merges and extracts with this CombineFn
        fn.fast_kind = "sum"
    data = [TV(("a", 6), 1), TV(("b", 13), 2), TV(("a", 7), 3), TV(("b", 1), 61)]
    out = collect(p | fl.Create(data) | fl.WindowInto(fl.FixedWindows(60))
                  | "Totals" >> fl.CombinePerKey(fn, on_error="dead_letter"), "Out")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    # a's sum is 13 too: both panes of [0, 60) fail; b's pane of [60, 120) is fine
    assert sorted(out.items) == [(("b", 1), 119_999)]
    assert sorted((fields(r) for r, _ in dead.items), key=repr) == [
        ("Totals", "ArithmeticError",
         {"key": "a", "window": "IntervalWindow(Timestamp(0), Timestamp(60))",
          "error_in": "extract_output"}, 59_999),
        ("Totals", "ArithmeticError",
         {"key": "b", "window": "IntervalWindow(Timestamp(0), Timestamp(60))",
          "error_in": "extract_output"}, 59_999),
    ]


def test_extract_output_failing_under_fail_names_key_and_window():
    p = pipeline()
    _ = (p | fl.Create([TV(("b", 13), 2)]) | fl.WindowInto(fl.FixedWindows(60))
         | "Totals" >> fl.CombinePerKey(FailingExtract()))
    with pytest.raises(UserCodeError) as ei:
        p.run()
    assert str(ei.value) == (
        "user code in transform 'Totals' raised ArithmeticError: unlucky in extract_output of key "
        "'b', window IntervalWindow(Timestamp(0), Timestamp(60)), when its ON_TIME pane fired")
    assert "<pane of key" not in str(ei.value)


def test_a_failed_pane_counts_as_fired_and_the_next_pane_shows_the_gap():
    # accumulating, one early pane per element: sums 6, 13 (fails), 14; then the on-time pane
    s = (TestStream().add_elements([TV(("a", 6), 1)]).add_elements([TV(("a", 7), 2)])
         .add_elements([TV(("a", 1), 3)]).advance_watermark_to_infinity())
    p = pipeline()
    win = fl.WindowInto(fl.FixedWindows(60), trigger=fl.AfterWatermark(early=fl.AfterCount(1)),
                        accumulation_mode=fl.AccumulationMode.ACCUMULATING)
    out = collect(p | s | win | "Totals" >> fl.CombinePerKey(FailingExtract(),
                                                              on_error="dead_letter"), "Out")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    got = [(v, pane.index, pane.timing) for (v, _), pane in zip(out.items, out.panes)]
    assert got == [(("a", 6), 0, PaneTiming.EARLY), (("a", 14), 2, PaneTiming.EARLY),
                   (("a", 14), 3, PaneTiming.ON_TIME)]
    assert [(r.payload["error_in"], r.timestamp_ms) for r, _ in dead.items] == [
        ("extract_output", 59_999)]  # the end of the window: the default output time


class RefusingMerge(CombineFn):
    """Sums; merge_accumulators refuses to merge totals above 100."""

    def create_accumulator(self):
        return 0

    def add_input(self, acc, x):
        return acc + x

    def merge_accumulators(self, accs):
        accs = list(accs)
        if sum(accs) > 100:
            raise OverflowError(f"refusing to merge {accs}")
        return sum(accs)


def test_a_failing_session_merge_keeps_the_sessions_and_dead_letters_the_element():
    # sessions [0, 10) and [15, 25); the element at 8 would merge them: the merge raises
    s = (TestStream().add_elements([TV(("k", 1), 0)]).add_elements([TV(("k", 200), 15)])
         .add_elements([TV(("k", 5), 8)]).advance_watermark_to_infinity())
    p = pipeline()
    out = collect(p | s | fl.WindowInto(fl.Sessions(10))
                  | "Totals" >> fl.CombinePerKey(RefusingMerge(), on_error="dead_letter"), "Out")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert sorted(v for v, _ in out.items) == [("k", 1), ("k", 200)]  # nothing was lost
    assert [(r.error_type, r.payload, r.timestamp_ms) for r, _ in dead.items] == [
        ("OverflowError", ("k", 5), 8_000)]


def test_on_error_is_a_keyword_checked_when_built():
    assert fl.CombinePerKey(sum, on_error="skip").on_error == "skip"
    assert fl.GroupByKey(on_error="dead_letter").on_error == "dead_letter"
    with pytest.raises(PipelineConstructionError, match="on_error must be one of"):
        fl.CombinePerKey(sum, on_error="ignore")
    with pytest.raises(PipelineConstructionError, match="on_error must be one of"):
        fl.GroupByKey(on_error="ignore")


def test_a_grouping_sending_dead_letters_needs_a_consumer():
    p = pipeline()
    _ = p | fl.Create([("a", 1)]) | "Totals" >> fl.CombinePerKey(sum, on_error="dead_letter")
    with pytest.raises(PipelineConstructionError, match="transform 'Totals' sends failed"):
        p.run()


def test_a_grouping_counting_dead_letters_never_loops():
    # --on-error dead_letter does not apply downstream of p.dead_letters(); its own
    # on_error="dead_letter" there is refused
    p = pipeline("--on-error", "dead_letter")
    _ = p | fl.Create(["1", "x", "y"]) | "Parse" >> Map(int)
    per_transform = collect(p.dead_letters() | "Key" >> Map(lambda r: (r.transform, 1))
                            | "Count" >> fl.CombinePerKey(sum), "Counts")
    p.run()
    assert [v for v, _ in per_transform.items] == [("Parse/ParDo", 2)]

    p = pipeline()
    _ = p | fl.Create(["x"]) | "Parse" >> Map(int, on_error="dead_letter")
    _ = (p.dead_letters() | "Key" >> Map(lambda r: (r.transform, 1))
         | "Count" >> fl.CombinePerKey(sum, on_error="dead_letter"))
    with pytest.raises(PipelineConstructionError, match="'Count' processes p.dead_letters"):
        p.run()


class Remember(fl.DoFn):
    SEEN = fl.ValueStateSpec("seen")

    def process(self, kv, seen=fl.DoFn.StateParam(SEEN)):
        seen.write(kv[1])
        yield kv


def test_a_stateful_dofn_dead_letters_elements_it_cannot_key():
    p = pipeline()
    out = collect(p | fl.Create([("a", 1), "no key", ([2], 2)])
                  | "Remember" >> fl.ParDo(Remember(), on_error="dead_letter"), "Out")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert [v for v, _ in out.items] == [("a", 1)]
    assert [(r.transform, r.error_type, r.payload) for r, _ in dead.items] == [
        ("Remember", "NotKeyedError", "no key"), ("Remember", "UnhashableKeyError", ([2], 2))]
