"""Error policies and p.dead_letters() on the Beam runner: the scenarios of
tests/unit/test_dead_letter_*.py, and the same dead-letter records on the direct and the Beam
runner (a traceback's line numbers may differ; it names the raising function on both)."""

from __future__ import annotations

import json

import pytest

import fluvial as fl
from fluvial.deadletter import DeadLetterRecord
from fluvial.errors import UnsupportedFeatureError
from fluvial.source import SourceReader
from fluvial.testing import TestStream
from fluvial.timeutil import MAX_TIMESTAMP_MS
from fluvial.transforms import Count, Filter, FlatMap, FlatMapTuple, Map, MapTuple
from fluvial.transforms.deadletter import DeadLettersToDicts, WriteDeadLettersToJsonLines
from fluvial.window import GLOBAL_WINDOW

from .support import collect, pipeline, tv

RUNNERS = ["direct", "beam"]


class Bad(Exception):
    pass


def parse_number(s):
    if not s.isdigit():
        raise Bad(f"not a number: {s}")
    return int(s)


def run_with_dlq(tmp_path, build, runner="beam", *argv):
    p = pipeline(runner, *argv)
    main = collect(build(p), tmp_path, "CollectMain")
    dead = collect(p.dead_letters(), tmp_path, "CollectDead")
    result = p.run()
    return main, dead.values(), result


def skipped(result, step=None):
    return result.metrics().query(namespace="fluvial", name="errors_skipped", step=step).counter(
        "errors_skipped")


# -- Map ------------------------------------------------------------------------------------


def test_map_dead_letter_record_fields(tmp_path):
    main, dead, result = run_with_dlq(
        tmp_path,
        lambda p: p
        | fl.Create([tv("1", 1.5), tv("x", 2.5), tv("3", 3.5)])
        | "Parse" >> Map(parse_number, on_error="dead_letter"),
    )
    assert main.sorted_values() == [1, 3]
    [rec] = dead
    assert isinstance(rec, DeadLetterRecord)
    assert (rec.transform, rec.error_type, rec.message) == ("Parse/ParDo", "Bad", "not a number: x")
    assert "parse_number" in rec.traceback and "Bad: not a number: x" in rec.traceback
    assert (rec.payload, rec.timestamp_ms) == ("x", 2500)
    assert (rec.topic, rec.partition, rec.offset, rec.key) == (None, None, None, None)
    q = result.metrics().query(namespace="fluvial", name="dead_letters")
    assert {k.step: v for k, v in q.counters.items()} == {"Parse/ParDo": 1}


def test_dead_letter_elements_carry_the_record_timestamp_in_the_global_window(tmp_path):
    p = pipeline("beam")
    _ = (p | fl.Create([tv("x", 2.5)]) | fl.WindowInto(fl.FixedWindows(10))
         | "Parse" >> Map(parse_number, on_error="dead_letter"))
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    p.run()
    [(rec, ts, window)] = dead.rows()
    assert (rec.payload, ts, window) == ("x", 2500, None)  # None: the global window


def test_map_skip_counts_under_the_transform_step(tmp_path):
    p = pipeline("beam")
    out = collect(p | fl.Create(["1", "x", "y", "4"]) | "Parse" >> Map(parse_number, on_error="skip"),
                  tmp_path)
    result = p.run()
    assert out.sorted_values() == [1, 4]
    q = result.metrics().query(namespace="fluvial", name="errors_skipped")
    assert {k.step: v for k, v in q.counters.items()} == {"Parse/ParDo": 2}
    assert skipped(result, step="Parse") == 2
    assert skipped(result, step="Other") == 0


def test_map_fail_is_the_default():
    p = pipeline("beam")
    _ = p | fl.Create(["1", "x"]) | "Parse" >> Map(parse_number)
    with pytest.raises(Exception, match="transform 'Parse/ParDo'") as ei:
        p.run()
    assert "not a number: x" in str(ei.value)


@pytest.mark.parametrize(
    "make, data, good",
    [
        (lambda: Filter(lambda s: parse_number(s) > 1, on_error="dead_letter"), ["1", "x", "3"], ["3"]),
        (lambda: MapTuple(lambda k, v: k + parse_number(v), on_error="dead_letter"),
         [(1, "2"), (1, "x")], [3]),
        (lambda: FlatMapTuple(lambda k, v: [k] * parse_number(v), on_error="dead_letter"),
         [("a", "2"), ("b", "x")], ["a", "a"]),
    ],
    ids=["Filter", "MapTuple", "FlatMapTuple"],
)
def test_other_elementwise_transforms_take_on_error(tmp_path, make, data, good):
    main, dead, _ = run_with_dlq(tmp_path, lambda p: p | fl.Create(data) | "T" >> make())
    assert main.sorted_values() == good
    assert [(r.transform, r.error_type, r.payload) for r in dead] == [("T/ParDo", "Bad", data[1])]


# -- partial outputs of a failing element are discarded ----------------------------------------


def explode_after_two(x):
    yield f"{x}-a"
    yield f"{x}-b"
    if x == "bad":
        raise Bad("third output failed")
    yield f"{x}-c"


def test_flatmap_partial_outputs_are_discarded(tmp_path):
    main, dead, _ = run_with_dlq(
        tmp_path,
        lambda p: p | fl.Create(["ok", "bad"])
        | "Explode" >> FlatMap(explode_after_two, on_error="dead_letter"),
    )
    assert main.sorted_values() == ["ok-a", "ok-b", "ok-c"]
    assert [(r.transform, r.payload, r.message) for r in dead] == [
        ("Explode/ParDo", "bad", "third output failed")]
    assert "explode_after_two" in dead[0].traceback


class TaggedThenRaise(fl.DoFn):
    def process(self, x, ts=fl.DoFn.TimestampParam):
        yield fl.TaggedOutput("side", (x, ts.millis))
        yield x
        if x < 0:
            raise Bad(f"negative {x}")


def test_pardo_discards_main_and_tagged_partial_outputs(tmp_path):
    p = pipeline("beam")
    outs = p | fl.Create([tv(1, 1), tv(-2, 2), tv(3, 3)]) | "Sign" >> fl.ParDo(
        TaggedThenRaise(), on_error="dead_letter").with_outputs("side", main="main")
    main = collect(outs.main, tmp_path, "Main")
    side = collect(outs.side, tmp_path, "Side")
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    p.run()
    assert main.sorted_values() == [1, 3]
    assert side.sorted_values() == [(1, 1000), (3, 3000)]
    [rec] = dead.values()
    assert (rec.transform, rec.payload, rec.timestamp_ms, rec.error_type) == ("Sign", -2, 2000, "Bad")
    assert "in process" in rec.traceback


def test_pardo_skip_and_fail(tmp_path):
    p = pipeline("beam")
    outs = p | fl.Create([1, -2, 3, -4]) | "Sign" >> fl.ParDo(
        TaggedThenRaise(), on_error="skip").with_outputs("side")
    out = collect(outs[None], tmp_path)
    result = p.run()
    assert out.sorted_values() == [1, 3]
    assert skipped(result, "Sign") == 2

    p = pipeline("beam")
    _ = p | fl.Create([1, -2]) | "Sign" >> fl.ParDo(TaggedThenRaise(), on_error="fail").with_outputs("side")
    with pytest.raises(Exception, match="transform 'Sign'"):
        p.run()


class Reciprocal(fl.DoFn):
    def process(self, x):
        yield 1 / x

    def process_batch(self, xs):
        return [1 / x for x in xs]


@pytest.mark.parametrize("policy", ["dead_letter", "skip"])
def test_batch_dofn_failure_is_isolated_per_element(tmp_path, policy):
    # Beam calls process per element (process_batch is a direct-runner fast path)
    main, dead, result = run_with_dlq(
        tmp_path,
        lambda p: p | fl.Create([tv(1, 1), tv(0, 2), tv(4, 3)])
        | "Inv" >> fl.ParDo(Reciprocal(), on_error=policy),
    )
    assert main.sorted_values() == [0.25, 1.0]
    if policy == "dead_letter":
        assert [(r.transform, r.payload, r.timestamp_ms, r.error_type) for r in dead] == [
            ("Inv", 0, 2000, "ZeroDivisionError")]
        assert "in process" in dead[0].traceback
    else:
        assert dead == [] and skipped(result, "Inv") == 1


# -- stateful process and timers --------------------------------------------------------------

COUNT = fl.ValueStateSpec("count")
FLUSH = fl.TimerSpec("flush", fl.TimeDomain.WATERMARK)


class CountThenFlush(fl.DoFn):
    def process(self, kv, count=fl.DoFn.StateParam(COUNT), flush=fl.DoFn.TimerParam(FLUSH)):
        k, v = kv
        if v < 0:
            raise Bad(f"negative value for {k}")
        count.write((count.read() or 0) + 1)
        flush.set(100)
        yield ("seen", k, v)

    @fl.on_timer(FLUSH)
    def on_flush(self, key=fl.DoFn.KeyParam, count=fl.DoFn.StateParam(COUNT)):
        yield ("flush", key, count.read())
        if key == "boom":
            raise Bad("flush failed")


def stateful_input(p):
    data = [tv(("a", 1), 1), tv(("a", -1), 2), tv(("boom", 5), 3), tv(("a", 2), 4)]
    return p | fl.Create(data) | "Count" >> fl.ParDo(CountThenFlush(), on_error="dead_letter")


def test_stateful_process_and_timer_errors_go_to_dead_letters(tmp_path):
    main, dead, _ = run_with_dlq(tmp_path, stateful_input)
    assert main.sorted_values() == sorted(
        [("seen", "a", 1), ("seen", "boom", 5), ("seen", "a", 2), ("flush", "a", 2)], key=repr)
    by_kind = {type(r.payload).__name__: r for r in dead}
    assert len(dead) == 2
    proc = by_kind["tuple"]
    assert (proc.transform, proc.payload, proc.timestamp_ms, proc.message) == (
        "Count", ("a", -1), 2000, "negative value for a")
    timer = by_kind["dict"]
    assert timer.transform == "Count" and timer.message == "flush failed"
    assert timer.payload == {"key": "boom", "timer": "flush", "window": repr(GLOBAL_WINDOW),
                             "timestamp_ms": 100_000}
    assert timer.timestamp_ms == 100_000
    assert "on_flush" in timer.traceback


def test_stateful_skip_counts_process_and_timer_errors(tmp_path):
    p = pipeline("beam", "--on-error", "skip")
    data = [tv(("a", -1), 2), tv(("boom", 5), 3)]
    out = collect(p | fl.Create(data) | "Count" >> fl.ParDo(CountThenFlush()), tmp_path)
    result = p.run()
    assert out.values() == [("seen", "boom", 5)]
    assert skipped(result, "Count") == 2


def test_stateful_timer_fail_policy_names_the_key():
    p = pipeline("beam")
    _ = p | fl.Create([tv(("boom", 5), 3)]) | "Count" >> fl.ParDo(CountThenFlush())
    with pytest.raises(Exception, match="transform 'Count'") as ei:
        p.run()
    assert "boom" in str(ei.value) and "flush failed" in str(ei.value)


# -- pipeline policy and overrides ----------------------------------------------------------


def test_pipeline_option_applies_where_the_transform_sets_nothing(tmp_path):
    main, dead, _ = run_with_dlq(
        tmp_path, lambda p: p | fl.Create(["1", "x"]) | "Parse" >> Map(parse_number), "beam",
        "--on-error", "dead_letter")
    assert main.values() == [1]
    assert [r.payload for r in dead] == ["x"]


def test_transform_setting_wins_over_the_pipeline_option(tmp_path):
    def build(p):
        pc = p | fl.Create(["1", "x", "y7"])
        skipping = pc | "Skip" >> Map(parse_number, on_error="skip")
        dead = pc | "Dead" >> Map(parse_number)  # inherits dead_letter
        return (skipping, dead) | fl.Flatten()

    main, dead, result = run_with_dlq(tmp_path, build, "beam", "--on-error", "dead_letter")
    assert main.sorted_values() == [1, 1]
    assert sorted((r.transform, r.payload) for r in dead) == [("Dead/ParDo", "x"), ("Dead/ParDo", "y7")]
    assert skipped(result, "Skip") == 2

    p = pipeline("beam", "--on-error", "skip")
    _ = p | fl.Create(["x"]) | "Strict" >> Map(parse_number, on_error="fail")
    with pytest.raises(Exception, match="transform 'Strict/ParDo'"):
        p.run()


def test_chain_attributes_each_error_to_its_own_stage(tmp_path):
    p = pipeline("beam")
    outs = (
        p
        | fl.Create([1, 2, 3, 4])
        | "First" >> Map(lambda x: 10 // (x - 1), on_error="dead_letter")
        | "Second" >> Map(lambda x: 100 // (x - 5), on_error="skip")
        | "Third" >> fl.ParDo(TaggedThenRaise(), on_error="dead_letter").with_outputs("side")
    )
    main = collect(outs[None], tmp_path, "Main")
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    result = p.run()
    assert main.values() == [20]
    assert sorted((r.transform, r.payload, r.error_type) for r in dead.values()) == [
        ("First/ParDo", 1, "ZeroDivisionError"), ("Third", -50, "Bad")]
    counters = result.metrics().query(name="errors_skipped").counters
    assert {k.step: v for k, v in counters.items()} == {"Second/ParDo": 1}


SEEN = fl.Metrics.counter("test", "seen")


class CountAndFail(fl.DoFn):
    def process(self, x):
        if x == 2:
            raise Bad("two")
        SEEN.inc()
        yield x


def test_user_metrics_after_a_dead_letter_stay_on_their_step(tmp_path):
    p = pipeline("beam")
    _ = p | fl.Create([1, 2, 3]) | "Work" >> fl.ParDo(CountAndFail(), on_error="dead_letter")
    collect(p.dead_letters() | "Mark" >> Map(lambda r: r.payload), tmp_path, "Dead")
    result = p.run()
    counters = result.metrics().query(namespace="test").counters
    assert {k.step: v for k, v in counters.items()} == {"Work": 2}


class BadSetup(fl.DoFn):
    def setup(self):
        raise Bad("no connection")

    def process(self, x):
        yield x


def test_setup_errors_fail_whatever_the_policy():
    p = pipeline("beam")
    _ = p | fl.Create([1]) | "Setup" >> fl.ParDo(BadSetup(), on_error="skip")
    with pytest.raises(Exception, match="transform 'Setup'") as ei:
        p.run()
    assert "no connection" in str(ei.value)


# -- consumer checks at translation ---------------------------------------------------------


class _LogReader(SourceReader):
    def __init__(self, ctx, records, policy):
        self.ctx = ctx
        self.records = records  # (offset, raw bytes, timestamp_ms)
        self.policy = policy
        self.pos = 0

    def poll(self, max_records):
        if self.pos >= len(self.records):
            return None
        out = []
        for offset, raw, ts in self.records[self.pos : self.pos + max_records]:
            self.pos += 1
            try:
                out.append((json.loads(raw), ts))
            except ValueError as e:
                self.ctx.handle_error(
                    e, raw, policy=self.policy, timestamp_ms=ts, topic="orders", partition=0,
                    offset=offset, key=b"k%d" % offset)
        return out

    def watermark(self):
        return MAX_TIMESTAMP_MS if self.pos >= len(self.records) else 0


class LogSource(fl.Source):
    def __init__(self, records, on_error=None):
        self.records = records
        self.on_error = on_error

    def open(self, ctx):
        return _LogReader(ctx, self.records, self.on_error)


RECORDS = [(0, b'{"id": 1}', 1000), (1, b"{oops", 2000), (2, b'{"id": 3}', 3000), (3, b"", 4000)]


@pytest.mark.parametrize(
    "build, argv, culprit",
    [
        (lambda p: p | fl.Create(["x"]) | "Parse" >> Map(parse_number, on_error="dead_letter"), [],
         "Parse/ParDo"),
        (lambda p: p | fl.Create(["x"]) | "Parse" >> Map(parse_number), ["--on-error", "dead_letter"],
         "--on-error dead_letter"),
        (lambda p: p | "Src" >> fl.Read(LogSource(RECORDS, on_error="dead_letter")), [], "Src"),
        (lambda p: (p | fl.Create(["x"]) | "Parse" >> Map(parse_number, on_error="dead_letter"),
                    p.dead_letters()), [], "Parse/ParDo"),
    ],
    ids=["transform", "option", "source", "unconsumed"],
)
def test_dead_letters_without_a_consumer_fail_at_translation(build, argv, culprit):
    p = pipeline("beam", *argv)
    build(p)
    with pytest.raises(fl.PipelineConstructionError) as ei:
        p.run()
    assert f"transform '{culprit}'" in str(ei.value)


def test_skip_and_fail_need_no_consumer(tmp_path):
    p = pipeline("beam", "--on-error", "skip")
    out = collect(p | fl.Create(["x", "2"]) | "Parse" >> Map(parse_number), tmp_path)
    p.run()
    assert out.values() == [2]


def test_dead_letters_taken_before_the_producers_are_applied(tmp_path):
    p = pipeline("beam")
    dead = collect(p.dead_letters(), tmp_path, "Dead")  # applied first
    _ = p | fl.Create(["1", "x"]) | "Parse" >> Map(parse_number, on_error="dead_letter")
    p.run()
    assert [(r.transform, r.payload) for r in dead.values()] == [("Parse/ParDo", "x")]


def test_dead_letters_with_no_producer_is_empty(tmp_path):
    p = pipeline("beam")
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    main = collect(p | fl.Create([1]), tmp_path, "Main")
    p.run()
    assert (dead.values(), main.values()) == ([], [1])


def test_transforms_on_dead_letters_do_not_send_their_own_failures_there(tmp_path):
    """As on the direct runner: --on-error dead_letter does not apply downstream of
    p.dead_letters(), and an own on_error="dead_letter" there is refused (it would loop)."""
    from fluvial.errors import PipelineConstructionError

    p = pipeline("beam", "--on-error", "dead_letter")
    _ = p | fl.Create(["x"]) | "Parse" >> Map(parse_number)
    payloads = collect(p.dead_letters() | "Payload" >> Map(lambda r: r.payload), tmp_path)
    p.run()
    assert payloads.values() == ["x"]

    p = pipeline("beam")
    _ = p | fl.Create(["x"]) | "Parse" >> Map(parse_number, on_error="dead_letter")
    _ = p.dead_letters() | "Payload" >> Map(lambda r: r.payload, on_error="dead_letter")
    with pytest.raises(PipelineConstructionError, match="'Payload/ParDo'.*would loop"):
        p.run()


# -- sources ----------------------------------------------------------------------------------


def test_source_records_go_to_dead_letters_with_their_position(tmp_path):
    p = pipeline("beam")
    main = collect(p | "Orders" >> fl.Read(LogSource(RECORDS, on_error="dead_letter")), tmp_path,
                   "Main")
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    result = p.run()
    assert main.sorted_values() == [{"id": 1}, {"id": 3}]
    rows = sorted(dead.rows(), key=lambda r: r[0].offset)
    assert [(r.transform, r.payload, r.timestamp_ms, r.topic, r.partition, r.offset, r.key)
            for r, _, _ in rows] == [
        ("Orders", b"{oops", 2000, "orders", 0, 1, b"k1"),
        ("Orders", b"", 4000, "orders", 0, 3, b"k3"),
    ]
    assert {r.error_type for r, _, _ in rows} == {"JSONDecodeError"}
    assert "poll" in rows[0][0].traceback
    assert [ts for _, ts, _ in rows] == [2000, 4000]
    q = result.metrics().query(namespace="fluvial", name="dead_letters")
    assert {k.step: v for k, v in q.counters.items()} == {"Orders": 2}


def test_source_skip_pipeline_default_and_fail(tmp_path):
    p = pipeline("beam")
    main = collect(p | "Orders" >> fl.Read(LogSource(RECORDS, on_error="skip")), tmp_path, "A")
    result = p.run()
    assert main.sorted_values() == [{"id": 1}, {"id": 3}]
    assert skipped(result, "Orders") == 2

    p = pipeline("beam", "--on-error", "dead_letter")
    collect(p | "Orders" >> fl.Read(LogSource(RECORDS)), tmp_path, "B")
    dead = collect(p.dead_letters(), tmp_path, "Dead")
    p.run()
    assert sorted(r.offset for r in dead.values()) == [1, 3]

    p = pipeline("beam")
    collect(p | "Orders" >> fl.Read(LogSource(RECORDS)), tmp_path, "C")
    with pytest.raises(Exception, match="transform 'Orders'"):
        p.run()


# -- sinks of dead letters --------------------------------------------------------------------


def to_int(s):
    return int(s)


def test_jsonl_dead_letter_file_needs_the_at_least_once_opt_in(tmp_path):
    prefix = str(tmp_path / "dlq")

    def build(p):
        _ = p | fl.Create([tv("x", 7)]) | "Parse" >> Map(to_int, on_error="dead_letter")
        _ = p.dead_letters() | "DLQ" >> WriteDeadLettersToJsonLines(prefix)

    p = pipeline("beam")
    build(p)
    with pytest.raises(UnsupportedFeatureError, match="--beam-sink-guarantee at_least_once"):
        p.run()
    p = pipeline("beam", "--beam-sink-guarantee", "at_least_once")
    build(p)
    p.run()
    import glob

    rows = [json.loads(line) for f in sorted(glob.glob(f"{prefix}-*"))
            for line in open(f, encoding="utf-8") if line.strip()]
    [row] = rows
    assert row.pop("traceback").startswith("Traceback")
    assert row == {"transform": "Parse/ParDo", "error_type": "ValueError",
                   "message": "invalid literal for int() with base 10: 'x'", "payload": "x",
                   "timestamp_ms": 7000, "topic": None, "partition": None, "offset": None,
                   "key": None}


def test_dead_letters_to_dicts(tmp_path):
    p = pipeline("beam")
    _ = p | fl.Create([tv("x", 1)]) | "Parse" >> Map(to_int, on_error="dead_letter")
    out = collect(p.dead_letters() | DeadLettersToDicts(), tmp_path)
    p.run()
    [d] = out.values()
    assert (d["transform"], d["payload"], d["timestamp_ms"], d["error_type"]) == (
        "Parse/ParDo", "x", 1000, "ValueError")


@pytest.mark.parametrize("runner", RUNNERS)
def test_dead_letters_windowed_downstream(tmp_path, runner):
    p = pipeline(runner)
    _ = p | fl.Create([tv("x", 1), tv("y", 2), tv("5", 3), tv("z", 12)]) | "Parse" >> Map(
        to_int, on_error="dead_letter")
    counted = (
        p.dead_letters()
        | fl.WindowInto(fl.FixedWindows(10))
        | "Payload" >> Map(lambda r: r.payload, on_error="fail")
        | Count.Globally().without_defaults()
    )
    out = collect(counted, tmp_path)
    p.run()
    assert sorted(out.rows()) == [(1, 19_999, (10_000, 20_000)), (2, 9_999, (0, 10_000))]


# -- the same records on both runners ---------------------------------------------------------


def build_mixed(p):
    pc = p | fl.Create([tv("1", 1), tv("x", 2), tv("ok", 3), tv("bad", 4), tv(-5, 5)])
    _ = pc | "Parse" >> Map(parse_number, on_error="dead_letter")
    _ = pc | "Explode" >> FlatMap(explode_after_two, on_error="dead_letter")
    _ = (pc | "Numbers" >> Filter(lambda x: isinstance(x, int))
         | "Sign" >> fl.ParDo(TaggedThenRaise(), on_error="dead_letter").with_outputs("side"))
    _ = p | "Orders" >> fl.Read(LogSource(RECORDS, on_error="dead_letter"))
    _ = p | "Keyed" >> fl.Create([tv(("a", -1), 2), tv(("boom", 5), 3)]) | "Count" >> fl.ParDo(
        CountThenFlush(), on_error="dead_letter")


def _comparable(records):
    rows = [(r.transform, r.error_type, r.message, repr(r.payload), r.timestamp_ms, r.topic,
             r.partition, r.offset, r.key) for r in records]
    return sorted(rows, key=repr)


def test_direct_and_beam_produce_identical_dead_letter_records(tmp_path):
    got = {}
    for runner in RUNNERS:
        p = pipeline(runner)
        build_mixed(p)
        dead = collect(p.dead_letters(), tmp_path, f"Dead-{runner}")
        p.run()
        got[runner] = dead.values()
    assert _comparable(got["direct"]) == _comparable(got["beam"])
    assert len(got["beam"]) == 10  # Parse 4, Explode 1, Sign 1, Orders 2, Count 2
    functions = {"Parse/ParDo": "parse_number", "Explode/ParDo": "explode_after_two",
                 "Sign": "process", "Orders": "poll"}
    for runner, records in got.items():
        for r in records:
            fn = functions.get(r.transform) or ("on_flush" if isinstance(r.payload, dict)
                                                else "process")
            assert f"in {fn}" in r.traceback, (runner, r.transform, r.traceback)


def test_sliding_windows_give_one_record_per_window_on_beam(tmp_path):
    # Beam calls process once per window of the element (documented in docs/runners.md);
    # each record stays in the window it was produced in until p.dead_letters() re-windows it
    p = pipeline("beam")
    _ = (p | fl.Create([tv("x", 5)]) | fl.WindowInto(fl.SlidingWindows(10, 5))
         | "Parse" >> Map(to_int, on_error="dead_letter"))
    dead = collect(p.dead_letters(), tmp_path)
    p.run()
    assert [(r.payload, ts, w) for r, ts, w in dead.rows()] == [("x", 5000, None)] * 2


def test_under_a_test_stream_dead_letters_follow_the_producers_watermark(tmp_path):
    # The documented difference (docs/runners.md, "Dead letters on Beam"): the direct runner
    # holds the dead-letter watermark until the other sources end, so both failures land in
    # window [0, 10); on Beam "y" (2 s) fails after the watermark passed 100 s and its record is
    # late for that window downstream of p.dead_letters().
    got = {}
    for runner in RUNNERS:
        stream = (TestStream().add_elements([tv("x", 1)]).advance_watermark_to(100)
                  .add_elements([tv("y", 2), tv("5", 3)]).advance_watermark_to_infinity())
        p = pipeline(runner)
        _ = p | stream | "Parse" >> Map(to_int, on_error="dead_letter")
        counted = (p.dead_letters() | fl.WindowInto(fl.FixedWindows(10))
                   | "Payload" >> Map(lambda r: r.payload, on_error="fail")
                   | Count.Globally().without_defaults())
        out = collect(counted, tmp_path, f"Out-{runner}")
        p.run()
        got[runner] = out.rows()
    assert got == {"direct": [(2, 9_999, (0, 10_000))], "beam": [(1, 9_999, (0, 10_000))]}
