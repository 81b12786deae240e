"""Error policies fail / dead_letter / skip: per transform and per pipeline, for Map, FlatMap,
ParDo, process_batch, stateful process and timer callbacks; the dead-letter record's fields;
fused chains; the missing-consumer check."""

from __future__ import annotations

import pytest
from unit_support import collect, pipeline, pmap, tv

import fluvial as fl
from fluvial.deadletter import DeadLetterRecord, DeadLetters
from fluvial.transforms import Filter, FlatMap, FlatMapTuple, Map, MapTuple
from fluvial.transforms.deadletter import WriteDeadLettersToJsonLines


class Bad(Exception):
    pass


def parse_number(s):
    if not s.isdigit():
        raise Bad(f"not a number: {s}")
    return int(s)


def run_with_dlq(build, *argv):
    """Build with ``build(p)``; returns (main outputs box, dead-letter records, result)."""
    p = pipeline(*argv)
    main = collect(build(p), "CollectMain")
    dead = collect(p.dead_letters(), "CollectDead")
    result = p.run()
    return main, dead.values(), result


def skipped(result, step=None):
    return result.metrics().query(namespace="fluvial", name="errors_skipped", step=step).counter(
        "errors_skipped"
    )


# -- Map ------------------------------------------------------------------------------------


def test_map_dead_letter_record_fields():
    main, dead, _ = run_with_dlq(
        lambda p: p
        | fl.Create([tv("1", 1.5), tv("x", 2.5), tv("3", 3.5)])
        | "Parse" >> Map(parse_number, on_error="dead_letter")
    )
    assert main.values() == [1, 3]
    [rec] = dead
    assert isinstance(rec, DeadLetterRecord)
    assert rec.transform == "Parse/ParDo"
    assert rec.error_type == "Bad"
    assert rec.message == "not a number: x"
    assert "parse_number" in rec.traceback and "Bad: not a number: x" in rec.traceback
    assert rec.payload == "x"
    assert rec.timestamp_ms == 2500
    assert (rec.topic, rec.partition, rec.offset, rec.key) == (None, None, None, None)


def test_map_skip_counts_under_the_transform_step():
    p = pipeline()
    out = collect(p | fl.Create(["1", "x", "y", "4"]) | "Parse" >> Map(parse_number, on_error="skip"))
    result = p.run()
    assert out.values() == [1, 4]
    q = result.metrics().query(namespace="fluvial", name="errors_skipped")
    assert {k.step: v for k, v in q.counters.items()} == {"Parse/ParDo": 2}
    assert skipped(result, step="Parse") == 2
    assert skipped(result, step="Other") == 0


def test_map_fail_is_the_default():
    p = pipeline()
    _ = p | fl.Create(["1", "x"]) | "Parse" >> Map(parse_number)
    with pytest.raises(fl.UserCodeError) as ei:
        p.run()
    assert ei.value.label == "Parse/ParDo" and ei.value.element == "x"
    assert isinstance(ei.value.cause, Bad)


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
def test_other_elementwise_transforms_take_on_error(make, data, good):
    main, dead, _ = run_with_dlq(lambda p: p | fl.Create(data) | "T" >> make())
    assert main.values() == good
    assert [(r.transform, r.error_type) for r in dead] == [("T/ParDo", "Bad")]
    assert dead[0].payload == data[1]


# -- FlatMap and ParDo: partial outputs of a failing element are discarded -------------------


def explode_after_two(x):
    yield f"{x}-a"
    yield f"{x}-b"
    if x == "bad":
        raise Bad("third output failed")
    yield f"{x}-c"


def test_flatmap_partial_outputs_are_discarded():
    main, dead, _ = run_with_dlq(
        lambda p: p | fl.Create(["ok", "bad"]) | "Explode" >> FlatMap(explode_after_two, on_error="dead_letter")
    )
    assert main.values() == ["ok-a", "ok-b", "ok-c"]
    assert [(r.transform, r.payload, r.message) for r in dead] == [
        ("Explode/ParDo", "bad", "third output failed")
    ]
    assert "explode_after_two" in dead[0].traceback


class TaggedThenRaise(fl.DoFn):
    """Uses a DoFn parameter, so it runs through the general (binding) path."""

    def process(self, x, ts=fl.DoFn.TimestampParam):
        yield fl.TaggedOutput("side", (x, ts.millis))
        yield x
        if x < 0:
            raise Bad(f"negative {x}")


def test_pardo_general_path_discards_main_and_tagged_partial_outputs():
    p = pipeline()
    outs = p | fl.Create([tv(1, 1), tv(-2, 2), tv(3, 3)]) | "Sign" >> fl.ParDo(
        TaggedThenRaise(), on_error="dead_letter"
    ).with_outputs("side", main="main")
    main = collect(outs.main, "Main")
    side = collect(outs.side, "Side")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert main.values() == [1, 3]
    assert side.values() == [(1, 1000), (3, 3000)]
    [rec] = dead.values()
    assert (rec.transform, rec.payload, rec.timestamp_ms, rec.error_type) == ("Sign", -2, 2000, "Bad")
    assert "in process" in rec.traceback


def test_pardo_skip_and_fail():
    p = pipeline()
    outs = p | fl.Create([1, -2, 3, -4]) | "Sign" >> fl.ParDo(
        TaggedThenRaise(), on_error="skip"
    ).with_outputs("side")
    out = collect(outs[None])
    result = p.run()
    assert out.values() == [1, 3]
    assert skipped(result, "Sign") == 2

    p = pipeline()
    _ = p | fl.Create([1, -2]) | "Sign" >> fl.ParDo(TaggedThenRaise(), on_error="fail").with_outputs("side")
    with pytest.raises(fl.UserCodeError) as ei:
        p.run()
    assert (ei.value.label, ei.value.element) == ("Sign", -2)


# -- process_batch ----------------------------------------------------------------------------


class Reciprocal(fl.DoFn):
    calls: list = []  # class level: the runner works on a copy of the instance

    def process(self, x):
        yield 1 / x

    def process_batch(self, xs):
        Reciprocal.calls.append(list(xs))
        return [1 / x for x in xs]


@pytest.mark.parametrize("policy", ["dead_letter", "skip"])
def test_process_batch_failure_is_isolated_element_by_element(policy):
    Reciprocal.calls = []
    main, dead, result = run_with_dlq(
        lambda p: p | fl.Create([tv(1, 1), tv(0, 2), tv(4, 3)]) | "Inv" >> fl.ParDo(Reciprocal(), on_error=policy)
    )
    assert main.values() == [1.0, 0.25]
    assert Reciprocal.calls == [[1, 0, 4], [1], [0], [4]]
    if policy == "dead_letter":
        assert [(r.transform, r.payload, r.timestamp_ms, r.error_type) for r in dead] == [
            ("Inv", 0, 2000, "ZeroDivisionError")
        ]
        assert "process_batch" in dead[0].traceback
    else:
        assert dead == [] and skipped(result, "Inv") == 1


def test_process_batch_fail_policy_raises():
    p = pipeline()
    _ = p | fl.Create([1, 0]) | "Inv" >> fl.ParDo(Reciprocal())
    with pytest.raises(fl.UserCodeError) as ei:
        p.run()
    assert ei.value.label == "Inv" and isinstance(ei.value.cause, ZeroDivisionError)


# -- stateful process and timers --------------------------------------------------------------

COUNT = fl.ValueStateSpec("count")
FLUSH = fl.TimerSpec("flush", fl.TimeDomain.WATERMARK)


class CountThenFlush(fl.DoFn):
    """Counts per key; a negative value raises in process; key "boom" raises in the timer."""

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


def test_stateful_process_and_timer_errors_go_to_dead_letters():
    main, dead, _ = run_with_dlq(stateful_input)
    assert sorted(main.values()) == sorted(
        [("seen", "a", 1), ("seen", "boom", 5), ("seen", "a", 2), ("flush", "a", 2)]
    )
    by_kind = {type(r.payload).__name__: r for r in dead}
    assert len(dead) == 2
    proc = by_kind["tuple"]
    assert (proc.transform, proc.payload, proc.timestamp_ms, proc.message) == (
        "Count", ("a", -1), 2000, "negative value for a"
    )
    timer = by_kind["dict"]
    assert timer.transform == "Count" and timer.message == "flush failed"
    assert {k: timer.payload[k] for k in ("key", "timer", "timestamp_ms")} == {
        "key": "boom", "timer": "flush", "timestamp_ms": 100_000
    }
    assert timer.timestamp_ms == 100_000
    assert "on_flush" in timer.traceback


def test_stateful_skip_counts_process_and_timer_errors():
    p = pipeline("--on-error", "skip")
    data = [tv(("a", -1), 2), tv(("boom", 5), 3)]
    out = collect(p | fl.Create(data) | "Count" >> fl.ParDo(CountThenFlush()))
    result = p.run()
    assert out.values() == [("seen", "boom", 5)]
    assert skipped(result, "Count") == 2


def test_stateful_timer_fail_policy_names_the_key():
    p = pipeline()
    _ = p | fl.Create([tv(("boom", 5), 3)]) | "Count" >> fl.ParDo(CountThenFlush())
    with pytest.raises(fl.UserCodeError) as ei:
        p.run()
    assert ei.value.label == "Count" and "boom" in ei.value.element


# -- pipeline policy and overrides ----------------------------------------------------------


def test_pipeline_option_applies_where_the_transform_sets_nothing():
    main, dead, _ = run_with_dlq(
        lambda p: p | fl.Create(["1", "x"]) | "Parse" >> Map(parse_number), "--on-error", "dead_letter"
    )
    assert main.values() == [1]
    assert [r.payload for r in dead] == ["x"]


def test_transform_setting_wins_over_the_pipeline_option():
    def build(p):
        pc = p | fl.Create(["1", "x", "y7"])
        skipping = pc | "Skip" >> Map(parse_number, on_error="skip")
        dead = pc | "Dead" >> Map(parse_number)  # inherits dead_letter
        return (skipping, dead) | fl.Flatten()

    main, dead, result = run_with_dlq(build, "--on-error", "dead_letter")
    assert sorted(main.values()) == [1, 1]
    assert sorted((r.transform, r.payload) for r in dead) == [("Dead/ParDo", "x"), ("Dead/ParDo", "y7")]
    assert skipped(result, "Skip") == 2

    p = pipeline("--on-error", "skip")
    _ = p | fl.Create(["x"]) | "Strict" >> Map(parse_number, on_error="fail")
    with pytest.raises(fl.UserCodeError) as ei:
        p.run()
    assert ei.value.label == "Strict/ParDo"


# -- fused chains -------------------------------------------------------------------------


def test_fused_chain_attributes_each_error_to_its_own_stage():
    def build(p):
        return (
            p
            | fl.Create([1, 2, 3, 4])
            | "First" >> Map(lambda x: 10 // (x - 1), on_error="dead_letter")
            | "Second" >> Map(lambda x: 100 // (x - 5), on_error="skip")
            | "Third" >> fl.ParDo(TaggedThenRaise(), on_error="dead_letter").with_outputs("side")
        )

    p = pipeline()
    outs = build(p)
    main = collect(outs[None], "Main")
    dead = collect(p.dead_letters(), "Dead")
    result = p.run()
    # x=1 fails in First; x=2 -> 10 -> 20; x=3 -> 5 fails in Second; x=4 -> 3 -> -50 fails in Third
    assert main.values() == [20]
    assert [(r.transform, r.payload, r.error_type) for r in dead.values()] == [
        ("First/ParDo", 1, "ZeroDivisionError"),
        ("Third", -50, "Bad"),
    ]
    assert {k.step: v for k, v in result.metrics().query(name="errors_skipped").counters.items()} == {
        "Second/ParDo": 1
    }
    # the three stages really ran fused in one operator
    from fluvial.runners.direct.executor import Executor

    ops = [op for op in Executor(p, p.options).ops if getattr(op, "labels", None)]
    assert [op.labels for op in ops] == [["First/ParDo", "Second/ParDo", "Third"]]


SEEN = fl.Metrics.counter("test", "seen")


class CountAndFail(fl.DoFn):
    def process(self, x):
        if x == 2:
            raise Bad("two")
        SEEN.inc()
        yield x


def test_user_metrics_after_a_dead_letter_stay_on_their_step():
    p = pipeline("--batch-size", "10")
    _ = p | fl.Create([1, 2, 3]) | "Work" >> fl.ParDo(CountAndFail(), on_error="dead_letter")
    collect(p.dead_letters() | "Mark" >> pmap(lambda r: r.payload), "Dead")
    result = p.run()
    counters = result.metrics().query(namespace="test").counters
    assert {k.step: v for k, v in counters.items()} == {"Work": 2}


# -- setup always fails; validation; missing consumer ------------------------------------


class BadSetup(fl.DoFn):
    def setup(self):
        raise Bad("no connection")

    def process(self, x):
        yield x


def test_setup_errors_fail_whatever_the_policy():
    p = pipeline()
    _ = p | fl.Create([1]) | "Setup" >> fl.ParDo(BadSetup(), on_error="skip")
    with pytest.raises(fl.UserCodeError) as ei:
        p.run()
    assert ei.value.label == "Setup" and isinstance(ei.value.cause, Bad)


@pytest.mark.parametrize(
    "make, label",
    [
        (lambda: Map(parse_number, on_error="ignore"), "Map(parse_number)"),
        (lambda: FlatMap(explode_after_two, on_error="drop"), "FlatMap(explode_after_two)"),
        (lambda: fl.ParDo(Reciprocal(), on_error="log"), "ParDo(Reciprocal)"),
    ],
)
def test_invalid_policy_fails_at_construction_naming_the_transform(make, label):
    with pytest.raises(fl.PipelineConstructionError) as ei:
        make()
    msg = str(ei.value)
    assert label in msg and "'fail', 'dead_letter', 'skip'" in msg


def test_invalid_pipeline_option():
    with pytest.raises(fl.PipelineConstructionError, match="--on-error"):
        fl.PipelineOptions.from_argv(["--on-error", "ignore"])
    with pytest.raises(fl.PipelineConstructionError, match="on_error must be one of"):
        fl.PipelineOptions(on_error="ignore")


class DeclaresDeadLetters(fl.Source):
    on_error = "dead_letter"

    def open(self, ctx):
        from fluvial.source import ListReader

        return ListReader([])


@pytest.mark.parametrize(
    "build, argv, culprit",
    [
        (lambda p: p | fl.Create(["x"]) | "Parse" >> Map(parse_number, on_error="dead_letter"), [],
         "Parse/ParDo"),
        (lambda p: p | fl.Create(["x"]) | "Parse" >> Map(parse_number), ["--on-error", "dead_letter"],
         "--on-error dead_letter"),
        (lambda p: p | "Src" >> fl.Read(DeclaresDeadLetters()), [], "Src"),
        # dead_letters() called but not consumed is still an error
        (lambda p: (p | fl.Create(["x"]) | "Parse" >> Map(parse_number, on_error="dead_letter"),
                    p.dead_letters()), [], "Parse/ParDo"),
    ],
    ids=["transform", "option", "source", "unconsumed"],
)
def test_dead_letters_without_a_consumer_fail_at_run_start(build, argv, culprit):
    p = pipeline(*argv)
    build(p)
    with pytest.raises(fl.PipelineConstructionError) as ei:
        p.run()
    msg = str(ei.value)
    assert f"transform '{culprit}'" in msg
    assert "p.dead_letters() | WriteDeadLettersToJsonLines(" in msg and "WriteToKafka" in msg


def test_skip_and_fail_need_no_consumer():
    p = pipeline("--on-error", "skip")
    out = collect(p | fl.Create(["x", "2"]) | "Parse" >> Map(parse_number))
    p.run()
    assert out.values() == [2]


def test_dead_letters_is_one_primitive_node_per_pipeline(tmp_path):
    p = pipeline()
    first = p.dead_letters()
    assert p.dead_letters() is first

    class Wrapper(fl.PTransform):
        def expand(self, pcoll):
            return pcoll.pipeline.dead_letters()  # called inside a composite: still top-level

    assert (p | fl.Create([1]) | "W" >> Wrapper()) is first
    nodes = [n for n in p.primitives() if isinstance(n.transform, DeadLetters)]
    assert [(n.full_label, n.inputs) for n in nodes] == [("DeadLetters", [])]
    assert isinstance(first.windowing.window_fn, fl.GlobalWindows)
    _ = first | WriteDeadLettersToJsonLines(str(tmp_path / "dlq"))
    assert p.run().state == fl.PipelineState.DONE


def test_key_by_forwards_its_policy():
    from fluvial.testing import assert_that, equal_to
    from fluvial.transforms import KeyBy

    def first_char(s):
        return s[0]

    p = fl.Pipeline(argv=["--runner", "direct"])
    out = p | fl.Create(["ab", "", "cd"]) | "Key" >> KeyBy(first_char, on_error="skip")
    assert_that(out, equal_to([("a", "ab"), ("c", "cd")]))
    res = p.run()
    res.wait_until_finish()
    assert res.metrics().query(namespace="fluvial", name="errors_skipped").counter("errors_skipped") == 1
