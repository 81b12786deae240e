"""The Flink runner's stateless translation on a real PyFlink mini-cluster: Create, TestStream,
bounded Read, fused ParDo chains, WindowInto, tagged outputs, Flatten, dead letters, user
errors, metrics and a file sink. Expected values are derived by hand from the model."""

from __future__ import annotations

import os

import pytest

import fluvial as fl
from fluvial.errors import UserCodeError
from fluvial.metrics import MetricKey, Metrics
from fluvial.testing import TestStream
from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.transforms import Filter, FlatMap, Map
from fluvial.transforms.deadletter import DeadLettersToDicts

from .support import pipeline, record, recorded, values

GLOBAL = None
UNKNOWN = ("UNKNOWN", 0)


def test_create_map_filter_flatmap(tmp_path):
    p = pipeline()
    out = (p | fl.Create([1, 2, 3, 4, fl.TimestampedValue(5, 7)])
           | Map(lambda x: x * 10)
           | Filter(lambda x: x != 20)
           | FlatMap(lambda x: [x, x + 1]))
    record(out, str(tmp_path))
    result = p.run()
    assert result.state == fl.PipelineState.DONE
    got = sorted(recorded(str(tmp_path)))
    m = MIN_TIMESTAMP_MS
    assert got == sorted([
        (10, GLOBAL, m, UNKNOWN), (11, GLOBAL, m, UNKNOWN),
        (30, GLOBAL, m, UNKNOWN), (31, GLOBAL, m, UNKNOWN),
        (40, GLOBAL, m, UNKNOWN), (41, GLOBAL, m, UNKNOWN),
        (50, GLOBAL, 7000, UNKNOWN), (51, GLOBAL, 7000, UNKNOWN),
    ])
    assert result.info["flink_mode"] == "thread"


class TimestampAndWindow(fl.DoFn):
    def process(self, x, ts=fl.DoFn.TimestampParam, w=fl.DoFn.WindowParam):
        yield (x, ts.millis, w.start_ms, w.end_ms)


def test_test_stream_keeps_timestamps_and_assigns_windows(tmp_path):
    ts = (TestStream()
          .add_elements([fl.TimestampedValue("a", 1), fl.TimestampedValue("b", 12)])
          .advance_watermark_to(10)
          .advance_processing_time(5)
          .add_elements([fl.TimestampedValue("c", 25.5)])
          .advance_watermark_to_infinity())
    p = pipeline()
    windowed = p | ts | fl.WindowInto(fl.SlidingWindows(10, 5)) | fl.ParDo(TimestampAndWindow())
    record(windowed, str(tmp_path))
    p.run()
    # sliding 10 s every 5 s: each element is in two windows (the DoFn asks for its window, so
    # it is called once per window); timestamps stay the elements' own
    assert sorted(values(str(tmp_path))) == sorted([
        ("a", 1000, -5000, 5000), ("a", 1000, 0, 10000),
        ("b", 12000, 5000, 15000), ("b", 12000, 10000, 20000),
        ("c", 25500, 20000, 30000), ("c", 25500, 25000, 35000),
    ])


class Parity(fl.DoFn):
    def process(self, x):
        yield x if x % 2 == 0 else fl.TaggedOutput("odd", x)


def test_tagged_outputs_and_flatten(tmp_path):
    p = pipeline()
    outs = p | fl.Create([1, 2, 3, 4, 5]) | fl.ParDo(Parity()).with_outputs("odd", main="even")
    evens = outs.main | "MarkEven" >> Map(lambda x: ("even", x))
    odds = outs.odd | "MarkOdd" >> Map(lambda x: ("odd", x))
    record((evens, odds) | fl.Flatten(), str(tmp_path))
    p.run()
    assert sorted(values(str(tmp_path))) == [("even", 2), ("even", 4), ("odd", 1), ("odd", 3),
                                             ("odd", 5)]


def test_undeclared_tag_fails_naming_the_transform():
    p = pipeline()
    _ = p | fl.Create([1]) | "Tagger" >> fl.ParDo(Parity())
    with pytest.raises(fl.FluvialError, match=r"Tagger.*'odd' is not declared"):
        p.run()


def test_dead_letters_and_skip_counters(tmp_path):
    main_dir, dlq_dir = tmp_path / "main", tmp_path / "dlq"
    main_dir.mkdir()
    dlq_dir.mkdir()
    p = pipeline()
    parsed = (p | fl.Create(["1", "x", "3", "y"])
              | "Parse" >> Map(int, on_error="dead_letter")
              | "Invert" >> Map(lambda n: 6 // (n - 3), on_error="skip"))
    record(parsed, str(main_dir))
    record(p.dead_letters() | DeadLettersToDicts(), str(dlq_dir), "RecordDLQ")
    result = p.run()
    # "1" -> 1 -> 6 // -2 = -3; "3" -> 3 -> division by zero, skipped
    assert values(str(main_dir)) == [-3]
    dead = sorted(values(str(dlq_dir)), key=lambda d: d["payload"])
    assert [(d["transform"], d["error_type"], d["payload"]) for d in dead] == [
        ("Parse/ParDo", "ValueError", "x"), ("Parse/ParDo", "ValueError", "y")]
    assert "invalid literal for int()" in dead[0]["message"]
    c = result.metrics().counters
    assert c[MetricKey("Parse/ParDo", "fluvial", "dead_letters")] == 2
    assert c[MetricKey("Invert/ParDo", "fluvial", "errors_skipped")] == 1


def test_user_code_error_names_label_and_element():
    p = pipeline()
    _ = p | fl.Create([1, 2, 3]) | "Divide" >> Map(lambda x: 10 // (x - 2))
    with pytest.raises(UserCodeError) as ei:
        p.run()
    assert ei.value.label == "Divide/ParDo"
    assert ei.value.element == 2
    assert isinstance(ei.value.cause, ZeroDivisionError)


class Count(fl.DoFn):
    def __init__(self) -> None:
        self.seen = Metrics.counter("test", "seen")
        self.sizes = Metrics.distribution("test", "size")

    def process(self, x):
        self.seen.inc()
        self.sizes.update(len(x))
        yield x


def test_user_metrics_reach_the_result():
    p = pipeline()
    _ = p | fl.Create(["a", "bbb", "cc"]) | "Counted" >> fl.ParDo(Count())
    result = p.run()
    q = result.metrics().query(namespace="test")
    assert q.counters == {MetricKey("Counted", "test", "seen"): 3}
    d = q.distributions[MetricKey("Counted", "test", "size")]
    assert (d.count, d.sum, d.min, d.max) == (3, 6, 1, 3)


class Numbers(fl.Source):
    def __init__(self, n: int) -> None:
        self.n = n

    def open(self, ctx):
        from fluvial.source import ListReader

        return ListReader([(i, i * 1000) for i in range(self.n)])


def test_bounded_read_keeps_record_timestamps(tmp_path):
    p = pipeline()
    out = p | fl.Read(Numbers(4), fl.BoundedOutOfOrderness(1)) | Map(lambda x: x * x)
    record(out, str(tmp_path))
    result = p.run()
    assert sorted((v, t) for v, _, t, _ in recorded(str(tmp_path))) == [
        (0, 0), (1, 1000), (4, 2000), (9, 3000)]
    assert result.metrics().counters[MetricKey("Read(Numbers)", "fluvial", "records_read")] == 4


class Stamped(fl.Source):
    """Records ``i`` at the given times (ms); its own error policy."""

    def __init__(self, stamps: list[int], on_error: str | None = None) -> None:
        self.stamps = stamps
        self.on_error = on_error

    def open(self, ctx):
        from fluvial.source import ListReader

        return ListReader([(i, t) for i, t in enumerate(self.stamps)])


def test_bounded_read_sends_out_of_range_event_times_to_the_dead_letters(tmp_path):
    from fluvial.timeutil import MAX_EVENT_TIME_MS

    main_dir, dlq_dir = tmp_path / "main", tmp_path / "dlq"
    main_dir.mkdir()
    dlq_dir.mkdir()
    p = pipeline("--max-event-time-ahead", "off")
    out = p | "Stamped" >> fl.Read(Stamped([1_000, MAX_EVENT_TIME_MS + 1, 2_000], "dead_letter"),
                                   fl.BoundedOutOfOrderness(1))
    record(out, str(main_dir))
    record(p.dead_letters() | DeadLettersToDicts(), str(dlq_dir), "RecordDLQ")
    p.run()
    assert sorted((v, t) for v, _, t, _ in recorded(str(main_dir))) == [(0, 1_000), (2, 2_000)]
    [dead] = values(str(dlq_dir))
    assert (dead["transform"], dead["error_type"], dead["payload"], dead["timestamp_ms"]) == (
        "Stamped", "EventTimeOutOfRangeError", 1, None)


def test_file_sink_on_a_bounded_input_commits_once_at_the_end(tmp_path):
    """No checkpoints, bounded input: the exactly-once file sink commits once, when the input
    ends (as on the direct runner); nothing staged is left behind."""
    from fluvial.transforms.io import WriteToText

    prefix = str(tmp_path / "out" / "words")
    p = pipeline()
    _ = p | fl.Create(["b", "a", "c"]) | Map(str.upper) | WriteToText(prefix)
    result = p.run()
    assert sorted(os.listdir(tmp_path / "out")) == ["words-00000-of-00001.txt"]
    with open(prefix + "-00000-of-00001.txt", encoding="utf-8") as f:
        assert sorted(f.read().splitlines()) == ["A", "B", "C"]
    assert result.metrics().counters[MetricKey("WriteToText/Write", "fluvial", "elements_written")] == 3


def test_a_failed_run_commits_nothing(tmp_path):
    """The input fails half way: the file sink, which commits only at the end of the input,
    commits no part (a staged file may remain hidden; the sink's next run removes it)."""
    from fluvial.transforms.io import WriteToText

    out = tmp_path / "out"
    p = pipeline()
    _ = (p | fl.Create(list(range(10))) | "Boom" >> Map(lambda x: 1 // (x - 7))
         | Map(str) | WriteToText(str(out / "n")))
    with pytest.raises(UserCodeError):
        p.run()
    assert not out.exists() or [n for n in os.listdir(out) if not n.startswith(".")] == []


SCRIPT_EXPECTED = [
    ("a", (0, 10000), 1000, UNKNOWN),
    ("b", (0, 10000), 5000, UNKNOWN),
    ("c", (10000, 20000), 12000, UNKNOWN),
    ("d", (20000, 30000), 20000, UNKNOWN),
]


def _scripted(directory: str) -> None:
    ts = (TestStream()
          .add_elements([fl.TimestampedValue("a", 1), fl.TimestampedValue("b", 5)])
          .advance_watermark_to(10)
          .add_elements([fl.TimestampedValue("c", 12)])
          .advance_processing_time(3)
          .add_elements([fl.TimestampedValue("d", 20)])
          .advance_watermark_to_infinity())
    p = pipeline()
    record(p | ts | fl.WindowInto(fl.FixedWindows(10)) | Map(str), directory)
    p.run()


def test_same_script_five_times_gives_identical_output(tmp_path):
    runs = []
    for i in range(5):
        d = tmp_path / f"run{i}"
        d.mkdir()
        _scripted(str(d))
        runs.append(recorded(str(d)))
    assert runs[0] == SCRIPT_EXPECTED  # in script order: parallelism 1 end to end
    assert all(r == runs[0] for r in runs[1:])


def test_process_mode_with_parallelism_two_merges_metrics(tmp_path):
    p = pipeline("--flink-mode", "process", "--parallelism", "2")
    words = [str(i) for i in range(10)]
    out = p | fl.Create(words) | "Counted" >> fl.ParDo(Count()) | Map(lambda s: s * 2)
    record(out, str(tmp_path))
    result = p.run()
    assert sorted(values(str(tmp_path))) == sorted(w + w for w in words)
    assert (result.info["flink_mode"], result.info["parallelism"]) == ("process", 2)
    # each of the two subtasks counts its share; the result adds them up
    assert result.metrics().counters[MetricKey("Counted", "test", "seen")] == 10
