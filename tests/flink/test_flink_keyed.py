"""The Flink runner's keyed operators on a real PyFlink mini-cluster: GroupByKey and
CombinePerKey through the window driver (across two subtasks, and in process mode, where
event-time order is kept), stateful
DoFns through the stateful driver (tagged outputs, output timestamps, dead letters from
``process`` and from timer callbacks, metrics), scripted processing time reaching every key of
two keyed operators in a row with identical output over five runs, and errors naming the
transform. Expected values are derived by hand from the model."""

from __future__ import annotations

import pytest

import fluvial as fl
from fluvial.errors import FluvialError, UserCodeError
from fluvial.metrics import MetricKey, Metrics
from fluvial.source import Source, SourceReader
from fluvial.testing import TestStream
from fluvial.testing.conformance.catalog import get_case
from fluvial.testing.conformance.harness import run_case
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, TimeDomain
from fluvial.transforms import Map
from fluvial.transforms.deadletter import DeadLettersToDicts

from .support import pipeline, record, recorded, values

tv = fl.TimestampedValue
W0 = (0, 10_000)
W1 = (10_000, 20_000)
ON_TIME = ("ON_TIME", 0)


def _sorted_values(pc):
    return pc | Map(lambda kv: (kv[0], sorted(kv[1])))


def test_groupings_across_two_subtasks(tmp_path):
    gbk_dir, comb_dir = tmp_path / "gbk", tmp_path / "comb"
    gbk_dir.mkdir()
    comb_dir.mkdir()
    p = pipeline("--parallelism", "2")
    data = [tv((f"k{i % 5}", i), i) for i in range(20)]  # k0..k4, timestamps 0..19 s
    windowed = p | fl.Create(data) | fl.WindowInto(fl.FixedWindows(10))
    record(_sorted_values(windowed | "Group" >> fl.GroupByKey()), str(gbk_dir))
    # a function, not a built-in combiner: the window driver in Python (not the Java path)
    record(windowed | "Total" >> fl.CombinePerKey(sum), str(comb_dir), "Rec2")
    result = p.run()
    # key k_j holds i = j, j + 5 in [0, 10) and j + 10, j + 15 in [10, 20)
    assert sorted(recorded(str(gbk_dir))) == sorted(
        [((f"k{j}", [j, j + 5]), W0, 9_999, ON_TIME) for j in range(5)]
        + [((f"k{j}", [j + 10, j + 15]), W1, 19_999, ON_TIME) for j in range(5)])
    assert sorted(recorded(str(comb_dir))) == sorted(
        [((f"k{j}", 2 * j + 5), W0, 9_999, ON_TIME) for j in range(5)]
        + [((f"k{j}", 2 * j + 25), W1, 19_999, ON_TIME) for j in range(5)])
    assert result.info["java_combines"] == []
    assert result.info["parallelism"] == 2


class StepReader(SourceReader):
    """Hands out one batch per poll; its watermark after each batch is the step's."""

    def __init__(self, steps):
        self.steps = list(steps)
        self.wm = MIN_TIMESTAMP_MS

    def poll(self, max_records):
        if not self.steps:
            return None
        batch, self.wm = self.steps.pop(0)
        return batch

    def watermark(self):
        return self.wm if self.steps else MAX_TIMESTAMP_MS


class Steps(Source):
    """A bounded source of ``[(records, watermark after them), ...]``: watermarks in the middle
    of the input, which a TestStream (parallelism 1 on Flink) cannot give two subtasks."""

    def __init__(self, steps):
        self.steps = steps

    def open(self, ctx):
        return StepReader(self.steps)


class ReKey(fl.DoFn):
    def process(self, kv):
        yield ("total", kv[1])


def test_watermark_holds_across_two_subtasks(tmp_path):
    """EARLIEST over six keys on two subtasks: each key's 1@5 s holds its subtask's output
    watermark at 5 s, then the input watermark moves to 8 s and each key gets 2@3 s (on time:
    the window ends at 10 s). Where the 3 s element arrives after the 8 s watermark it is behind
    the output watermark (5 s) and holds nothing: the key's pane (3) is stamped 5 s; where it
    overtakes the watermark (the elements reach the two subtasks through two parallel
    operators, so it may) it holds at 3 s and the pane is stamped 3 s. Re-keyed, re-windowed
    into FixedWindows(4) and summed: the panes land in [0, 4) or [4, 8), which the second
    grouping's watermark (the minimum over the two subtasks, at most 5 s while they hold) has
    not passed when they arrive at the end of input: the totals add up to 18, all ON_TIME,
    nothing dropped. Without holds the second grouping's watermark would be 8 s by then and
    both windows would have expired."""
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    keys = [f"k{i}" for i in range(6)]
    steps = [([((k, 1), 5_000) for k in keys], 8_000), ([((k, 2), 3_000) for k in keys], 8_000)]
    p = pipeline("--parallelism", "2")
    first = (p | fl.Read(Steps(steps))
             | fl.WindowInto(fl.FixedWindows(10),
                             timestamp_combiner=fl.TimestampCombiner.OUTPUT_AT_EARLIEST)
             | "First" >> fl.CombinePerKey(lambda vs: sum(vs)))
    record(first, str(first_dir))
    second = (first | fl.ParDo(ReKey()) | "Rewindow" >> fl.WindowInto(fl.FixedWindows(4))
              | "Second" >> fl.CombinePerKey(lambda vs: sum(vs)))
    record(second, str(second_dir), "Rec2")
    result = p.run()
    firsts = sorted(recorded(str(first_dir)))
    assert [(kv, w, pane) for kv, w, _, pane in firsts] == [((k, 3), W0, ON_TIME) for k in keys]
    assert {ts for _, _, ts, _ in firsts} <= {3_000, 5_000}
    early = 3 * sum(ts == 3_000 for _, _, ts, _ in firsts)  # the panes stamped 3 s
    want = [(("total", early), (0, 4_000), 3_999, ON_TIME)] if early else []
    if early < 18:
        want.append((("total", 18 - early), (4_000, 8_000), 7_999, ON_TIME))
    assert sorted(recorded(str(second_dir))) == want
    assert result.metrics().counters.get(
        MetricKey("Second", "fluvial", "dropped_due_to_lateness"), 0) == 0
    assert result.info["parallelism"] == 2


@pytest.mark.parametrize("name", ["event_timer_fires_at_watermark_equal", "sessions_late_dropped",
                                  "value_state_ttl_event_time", "late_dropped_no_lateness",
                                  "timestamp_combiner_earliest_behind_output_watermark_downstream"])
def test_event_time_order_holds_in_process_mode(name):
    """PyFlink's process mode keeps adding elements to a bundle while it holds a watermark back;
    with operators that read the watermark the runner runs one element per bundle, so a timer
    fires before an element that follows its watermark, elements see the watermark they follow,
    and a late element stays late on its way to the Java combine path; a grouping's hold
    reports reach GroupHolds ahead of the watermark they hold."""
    r = run_case(get_case(name), "flink", extra_args=("--flink-mode=process",))
    assert r.status == "pass", (r.reason, r.diff)


def test_grouping_in_process_mode(tmp_path):
    p = pipeline("--flink-mode", "process")
    data = [tv(("a", 1), 1), tv(("b", 2), 2), tv(("a", 3), 12)]
    record(_sorted_values(p | fl.Create(data) | fl.WindowInto(fl.FixedWindows(10))
                          | fl.GroupByKey()), str(tmp_path))
    p.run()
    assert sorted(recorded(str(tmp_path))) == [
        (("a", [1]), W0, 9_999, ON_TIME), (("a", [3]), W1, 19_999, ON_TIME),
        (("b", [2]), W0, 9_999, ON_TIME)]


BAG = fl.BagStateSpec("bag")
PROC = fl.TimerSpec("proc", TimeDomain.REAL_TIME)


class FlushAt12(fl.DoFn):
    """Buffers values per key and window; a processing-time timer at 12 s flushes them."""

    def process(self, kv, bag=fl.DoFn.StateParam(BAG), t=fl.DoFn.TimerParam(PROC)):
        bag.add(kv[1])
        t.set(12)
        return []

    @fl.on_timer(PROC)
    def flush(self, key=fl.DoFn.KeyParam, bag=fl.DoFn.StateParam(BAG)):
        yield (key, sorted(bag.read()))


def _processing_time_run(gbk_dir: str, flush_dir: str) -> None:
    ts = (TestStream()
          .add_elements([tv(("a", 1), 1), tv(("b", 2), 2)])
          .advance_processing_time(5)  # clock 5 s: the trigger fires for a and b
          .add_elements([tv(("a", 3), 3)])
          .advance_processing_time(5)  # clock 10 s: fires for a
          .advance_processing_time(5)  # clock 15 s: the DoFn's timers at 12 s fire
          .advance_watermark_to_infinity())
    p = pipeline()
    grouped = (p | ts
               | fl.WindowInto(fl.FixedWindows(60), trigger=fl.Repeatedly(fl.AfterProcessingTime(5)))
               | "Group" >> fl.GroupByKey())
    record(grouped, gbk_dir)
    sums = grouped | Map(lambda kv: (kv[0], sum(kv[1])))
    record(sums | "Flush" >> fl.ParDo(FlushAt12()), flush_dir, "RecordFlush")
    p.run()


def test_scripted_processing_time_reaches_every_key_and_runs_are_identical(tmp_path):
    runs = []
    for i in range(5):
        g, f = tmp_path / f"g{i}", tmp_path / f"f{i}"
        g.mkdir()
        f.mkdir()
        _processing_time_run(str(g), str(f))
        runs.append((recorded(str(g)), recorded(str(f))))
    w = (0, 60_000)
    panes, flushed = runs[0]
    # Repeatedly(AfterProcessingTime(5)), discarding: a and b fire EARLY at clock 5 s, a again
    # at 10 s; at the end of input nothing new is pending: no further pane
    assert sorted(panes) == sorted([
        (("a", [1]), w, 59_999, ("EARLY", 0)), (("b", [2]), w, 59_999, ("EARLY", 0)),
        (("a", [3]), w, 59_999, ("EARLY", 1))])
    # the clock passed on through the grouping reaches the stateful DoFn's keys: at 15 s each
    # key's timer (set to 12 s) flushes; its output keeps the setting element's timestamp
    assert sorted(flushed) == [(("a", [1, 3]), w, 59_999, ("UNKNOWN", 0)),
                               (("b", [2]), w, 59_999, ("UNKNOWN", 0))]
    assert all(r == runs[0] for r in runs[1:]), "five runs of one script differ"


EVENT = fl.TimerSpec("later", TimeDomain.WATERMARK)
SEEN = fl.CombiningStateSpec("seen", sum)


class Tally(fl.DoFn):
    """Counts per key; odd values also go to the tagged output 'odd' at the element's time plus
    one second; value 0 fails in ``process``; key 'boom' fails in its timer callback."""

    def __init__(self):
        self.calls = Metrics.counter("test", "calls")

    def process(self, kv, seen=fl.DoFn.StateParam(SEEN), t=fl.DoFn.TimerParam(EVENT),
                ts=fl.DoFn.TimestampParam):
        self.calls.inc()
        k, v = kv
        if v == 0:
            raise ValueError("zero")
        seen.add(1)
        t.set(100)
        if v % 2:
            yield fl.TaggedOutput("odd", tv((k, v), ts.seconds + 1))

    @fl.on_timer(EVENT)
    def later(self, key=fl.DoFn.KeyParam, seen=fl.DoFn.StateParam(SEEN)):
        if key == "boom":
            raise RuntimeError("timer failed")
        yield (key, seen.read())


def test_stateful_dofn_outputs_timestamps_dead_letters_and_metrics(tmp_path):
    main_dir, odd_dir, dlq_dir = tmp_path / "main", tmp_path / "odd", tmp_path / "dlq"
    for d in (main_dir, odd_dir, dlq_dir):
        d.mkdir()
    p = pipeline()
    data = [tv(("a", 1), 1), tv(("a", 2), 2), tv(("b", 0), 3), tv(("boom", 5), 4), tv(("b", 7), 5)]
    outs = (p | fl.Create(data)
            | "Tally" >> fl.ParDo(Tally(), on_error="dead_letter").with_outputs("odd"))
    record(outs.main, str(main_dir))
    record(outs.odd, str(odd_dir), "RecordOdd")
    record(p.dead_letters() | DeadLettersToDicts(), str(dlq_dir), "RecordDLQ")
    result = p.run()
    g = None
    # timers at 100 s fire at the end of input; their outputs are stamped 100 s
    assert sorted(recorded(str(main_dir))) == [(("a", 2), g, 100_000, ("UNKNOWN", 0)),
                                               (("b", 1), g, 100_000, ("UNKNOWN", 0))]
    assert sorted((v, t) for v, _, t, _ in recorded(str(odd_dir))) == [
        (("a", 1), 2_000), (("b", 7), 6_000), (("boom", 5), 5_000)]
    dead = sorted(values(str(dlq_dir)), key=lambda d: d["error_type"])
    assert [(d["transform"], d["error_type"]) for d in dead] == [
        ("Tally", "RuntimeError"), ("Tally", "ValueError")]
    assert dead[0]["payload"] == {"key": "boom", "timer": "later", "window": repr(fl.GlobalWindow()),
                                  "timestamp_ms": 100_000}
    assert dead[1]["payload"] == ["b", 0]  # the element, JSON-safe
    c = result.metrics().counters
    assert c[MetricKey("Tally", "fluvial", "dead_letters")] == 2
    assert c[MetricKey("Tally", "test", "calls")] == 5


def test_keyed_operators_name_the_transform_in_errors():
    p = pipeline()
    _ = p | fl.Create([1, 2]) | "Group" >> fl.GroupByKey()
    with pytest.raises(FluvialError, match="'Group'.*needs \\(key, value\\) pairs"):
        p.run()
    p = pipeline()
    _ = p | fl.Create([(["list"], 1)]) | "Group" >> fl.GroupByKey()
    with pytest.raises(FluvialError, match="'Group': key \\['list'\\].*not hashable"):
        p.run()

    def bad_combine(values):
        raise ZeroDivisionError("bad")

    p = pipeline()
    _ = p | fl.Create([("k", 1)]) | "Combine" >> fl.CombinePerKey(bad_combine)
    with pytest.raises(UserCodeError) as ei:
        p.run()
    assert ei.value.label == "Combine" and isinstance(ei.value.cause, ZeroDivisionError)
