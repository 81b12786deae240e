"""The pipeline API: context manager, run() result, metrics, DoFn lifecycle, side outputs,
Flatten, CombineGlobally defaults, the batch DoFn API and PipelineOptions."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
from unit_support import MapFn, collect, pipeline, pmap, tv

import fluvial as fl
from fluvial.combiners import CountCombineFn, MaxCombineFn, MeanCombineFn, SumCombineFn
from fluvial.testing import assert_that, equal_to

# -- running ----------------------------------------------------------------------------------


def test_pipeline_as_context_manager_runs_on_exit():
    with pipeline() as p:
        out = collect(p | fl.Create([1, 2, 3]) | pmap(lambda x: x * 10))
        assert out.values() == []  # nothing runs before the block ends
    assert sorted(out.values()) == [10, 20, 30]


def test_context_manager_does_not_run_when_the_block_raises():
    class Stop(Exception):
        pass

    with pytest.raises(Stop):
        with pipeline() as p:
            out = collect(p | fl.Create([1]))
            raise Stop()
    assert out.values() == []


def test_run_result():
    p = pipeline()
    _ = p | fl.Create([1, 2])
    result = p.run()
    assert result.wait_until_finish() is fl.PipelineState.DONE
    assert result.state is fl.PipelineState.DONE


def test_assert_that_passes_and_fails():
    with pipeline() as p:
        assert_that(p | fl.Create([3, 1, 2]) | pmap(lambda x: x + 1), equal_to([2, 3, 4]))
    p = pipeline()
    assert_that(p | fl.Create([1]), equal_to([2]))
    with pytest.raises(AssertionError):
        p.run()


def test_assert_that_on_empty():
    with pipeline() as p:
        assert_that(p | fl.Create([]), equal_to([]))


# -- metrics ------------------------------------------------------------------------------------


class Measure(fl.DoFn):
    def __init__(self):
        self.seen = fl.Metrics.counter("myns", "seen")
        self.sizes = fl.Metrics.distribution("myns", "sizes")
        self.last = fl.Metrics.gauge("myns", "last")

    def process(self, x):
        self.seen.inc()
        self.sizes.update(x)
        self.last.set(x)
        yield x


def test_user_metrics():
    p = pipeline()
    pc = p | fl.Create([3, 1, 4, 1, 5])
    _ = pc | "Measure" >> fl.ParDo(Measure())
    result = p.run()
    q = result.metrics().query(namespace="myns")
    assert q.counter("seen") == 5
    ((key, count),) = q.counters.items()
    assert (key.step, key.namespace, key.name, count) == ("Measure", "myns", "seen", 5)
    ((dkey, dist),) = q.distributions.items()
    assert dkey.step == "Measure"
    assert (dist.count, dist.sum, dist.min, dist.max) == (5, 14, 1, 5)
    assert dist.mean == pytest.approx(2.8)
    ((gkey, gauge),) = q.gauges.items()
    assert gkey.name == "last" and gauge.value == 5


def test_metrics_attributed_to_each_step_and_summed():
    p = pipeline()
    pc = p | fl.Create([1, 2, 3])
    _ = pc | "A" >> fl.ParDo(Measure())
    _ = pc | "B" >> fl.ParDo(Measure()) | "C" >> fl.ParDo(Measure())
    q = p.run().metrics().query(namespace="myns", name="seen")
    assert {k.step: v for k, v in q.counters.items()} == {"A": 3, "B": 3, "C": 3}
    assert q.counter("seen") == 9


def test_metrics_in_composite_have_full_step_names():
    class Outer(fl.PTransform):
        def expand(self, pcoll):
            return pcoll | "Inner" >> fl.ParDo(Measure())

    p = pipeline()
    _ = p | fl.Create([1]) | "Outer" >> Outer()
    q = p.run().metrics().query(namespace="myns", name="seen")
    assert [k.step for k in q.counters] == ["Outer/Inner"]


def test_counter_dec():
    class Dec(fl.DoFn):
        def process(self, x):
            fl.Metrics.counter("ns", "c").inc(10)
            fl.Metrics.counter("ns", "c").dec(3)
            yield x

    p = pipeline()
    _ = p | fl.Create([1, 2]) | fl.ParDo(Dec())
    assert p.run().metrics().query().counter("c", namespace="ns") == 14


# -- DoFn lifecycle ----------------------------------------------------------------------------


class Lifecycle(fl.DoFn):
    calls: list = []  # class level: the runner works on a copy of the instance

    def setup(self):
        Lifecycle.calls.append("setup")

    def start_bundle(self):
        Lifecycle.calls.append("start_bundle")

    def process(self, x):
        Lifecycle.calls.append(f"process:{x}")
        if x == "boom":
            raise ValueError("boom")
        yield x

    def finish_bundle(self):
        Lifecycle.calls.append("finish_bundle")
        yield fl.WindowedValue("from-finish", 0, (fl.GlobalWindow(),))

    def teardown(self):
        Lifecycle.calls.append("teardown")


def test_dofn_lifecycle_order():
    Lifecycle.calls = []
    p = pipeline("--batch-size", "2")
    out = collect(p | fl.Create([1, 2, 3, 4, 5]) | fl.ParDo(Lifecycle()))
    p.run()
    assert Lifecycle.calls == [
        "setup",
        "start_bundle", "process:1", "process:2", "finish_bundle",
        "start_bundle", "process:3", "process:4", "finish_bundle",
        "start_bundle", "process:5", "finish_bundle",
        "teardown",
    ]  # fmt: skip
    assert sorted(out.values(), key=str) == [1, 2, 3, 4, 5] + ["from-finish"] * 3


def test_dofn_teardown_called_after_failure():
    Lifecycle.calls = []
    p = pipeline()
    _ = p | fl.Create(["a", "boom"]) | "L" >> fl.ParDo(Lifecycle())
    with pytest.raises(fl.UserCodeError):
        p.run()
    assert Lifecycle.calls[0] == "setup"
    assert Lifecycle.calls[-1] == "teardown"
    assert "finish_bundle" not in Lifecycle.calls


def test_user_dofn_instance_is_not_mutated():
    class Counts(fl.DoFn):
        def __init__(self):
            self.n = 0

        def process(self, x):
            self.n += 1
            yield self.n

    fn = Counts()
    p = pipeline()
    out = collect(p | fl.Create([1, 1, 1]) | fl.ParDo(fn))
    p.run()
    assert sorted(out.values()) == [1, 2, 3]
    assert fn.n == 0


def test_dofn_params_timestamp_window_pane():
    class Params(fl.DoFn):
        def process(self, x, ts=fl.DoFn.TimestampParam, w=fl.DoFn.WindowParam, pane=fl.DoFn.PaneInfoParam):
            yield (x, ts, (w.start_ms, w.end_ms), pane.timing.value)

    p = pipeline()
    pc = p | fl.Create([tv("a", 12.5)]) | fl.WindowInto(fl.FixedWindows(10))
    out = collect(pc | fl.ParDo(Params()))
    p.run()
    assert out.values() == [("a", fl.Timestamp(12.5), (10_000, 20_000), "UNKNOWN")]


def test_timestamped_value_output_reassigns_event_time():
    class Stamp(fl.DoFn):
        def process(self, x):
            yield fl.TimestampedValue(("k", x), x)

    p = pipeline()
    pc = p | fl.Create([1, 12, 15]) | fl.ParDo(Stamp())
    out = collect(pc | fl.WindowInto(fl.FixedWindows(10)) | fl.GroupByKey())
    p.run()
    assert sorted(out.with_windows()) == [(("k", [1]), (0, 10_000)), (("k", [12, 15]), (10_000, 20_000))]


def test_extra_args_to_process():
    class Add(fl.DoFn):
        def process(self, x, y, z=0):
            yield x + y + z

    p = pipeline()
    out = collect(p | fl.Create([1, 2]) | fl.ParDo(Add(), 10, z=100))
    p.run()
    assert sorted(out.values()) == [111, 112]


# -- side outputs and Flatten -------------------------------------------------------------------


class Parity(fl.DoFn):
    def process(self, x):
        if x % 2:
            yield fl.TaggedOutput("odd", x)
        else:
            yield x
        if x % 3 == 0:
            yield fl.TaggedOutput("three", x)


def test_side_outputs():
    p = pipeline()
    res = p | fl.Create(list(range(7))) | fl.ParDo(Parity()).with_outputs("odd", "three", main="even")
    even = collect(res.main, "Even")
    odd = collect(res.odd, "Odd")
    three = collect(res["three"], "Three")
    p.run()
    assert sorted(even.values()) == [0, 2, 4, 6]
    assert sorted(odd.values()) == [1, 3, 5]
    assert sorted(three.values()) == [0, 3, 6]


def test_side_output_unpacking():
    p = pipeline()
    main, odd, three = p | fl.Create([1, 2, 3]) | fl.ParDo(Parity()).with_outputs("odd", "three")
    a, b, c = collect(main, "A"), collect(odd, "B"), collect(three, "C")
    p.run()
    assert (sorted(a.values()), sorted(b.values()), c.values()) == ([2], [1, 3], [3])


def test_main_output_by_its_name():
    """As in Beam, with_outputs(..., main="even") names the main output: res.even, res["even"]
    and res.main are one PCollection; with main= alone the result is a tuple too."""
    p = pipeline()
    res = p | fl.Create([1, 2, 4]) | fl.ParDo(Parity()).with_outputs("odd", main="even")
    assert res.even is res["even"] is res.main
    only = p | "Only" >> fl.Create([4]) | "P" >> fl.ParDo(Parity()).with_outputs(main="all")
    assert only["all"] is only.main
    even, everything = collect(res.even, "Even"), collect(only.all, "All")
    p.run()
    assert (sorted(even.values()), everything.values()) == ([2, 4], [4])
    with pytest.raises(fl.PipelineConstructionError, match="main output's name 'odd' is also"):
        fl.ParDo(Parity()).with_outputs("odd", main="odd")


def test_flatten():
    p = pipeline()
    a = p | "A" >> fl.Create([1, 2])
    b = p | "B" >> fl.Create([3])
    c = p | "C" >> fl.Create([])
    out = collect((a, b, c) | fl.Flatten())
    p.run()
    assert sorted(out.values()) == [1, 2, 3]


def test_flatten_same_pcollection_twice_duplicates():
    p = pipeline()
    a = p | fl.Create([1, 2])
    out = collect((a, a) | fl.Flatten())
    p.run()
    assert sorted(out.values()) == [1, 1, 2, 2]


def test_flatten_then_group_waits_for_all_inputs():
    p = pipeline()
    a = p | "A" >> fl.Create([tv(("k", 1), 1)]) | "WA" >> fl.WindowInto(fl.FixedWindows(10))
    b = p | "B" >> fl.Create([tv(("k", 2), 2)]) | "WB" >> fl.WindowInto(fl.FixedWindows(10))
    out = collect((a, b) | fl.Flatten() | fl.GroupByKey())
    p.run()
    assert [(k, sorted(v)) for k, v in out.values()] == [("k", [1, 2])]


def test_flatten_of_different_windowing_is_an_error():
    p = pipeline()
    a = p | "A" >> fl.Create([1]) | "WA" >> fl.WindowInto(fl.FixedWindows(10))
    b = p | "B" >> fl.Create([1]) | "WB" >> fl.WindowInto(fl.FixedWindows(20))
    with pytest.raises(fl.PipelineConstructionError, match="Merge"):
        _ = (a, b) | "Merge" >> fl.Flatten()


# -- combiners ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn,expected",
    [(SumCombineFn(), 0), (sum, 0), (CountCombineFn(), 0), (MaxCombineFn(), None)],
    ids=["SumCombineFn", "sum", "Count", "Max"],
)
def test_combine_globally_on_empty_input_yields_default(fn, expected):
    p = pipeline()
    out = collect(p | fl.Create([]) | fl.CombineGlobally(fn))
    p.run()
    assert out.values() == [expected]


def test_combine_globally_mean_of_empty_is_nan():
    p = pipeline()
    out = collect(p | fl.Create([]) | fl.CombineGlobally(MeanCombineFn()))
    p.run()
    (v,) = out.values()
    assert math.isnan(v)


def test_combine_globally_non_empty():
    p = pipeline()
    out = collect(p | fl.Create([1, 2, 3, 4]) | fl.CombineGlobally(SumCombineFn()))
    p.run()
    assert out.values() == [10]


def test_combine_globally_windowed_empty_windows_produce_nothing():
    p = pipeline()
    pc = p | fl.Create([tv(1, 1), tv(2, 2), tv(5, 25)]) | fl.WindowInto(fl.FixedWindows(10))
    out = collect(pc | fl.CombineGlobally(sum))
    p.run()
    assert sorted(out.with_windows()) == [(3, (0, 10_000)), (5, (20_000, 30_000))]


def test_combine_per_key_with_custom_combine_fn():
    class Avg(fl.CombineFn):
        def create_accumulator(self):
            return (0, 0)

        def add_input(self, acc, x):
            return (acc[0] + x, acc[1] + 1)

        def merge_accumulators(self, accs):
            return (sum(a[0] for a in accs), sum(a[1] for a in accs))

        def extract_output(self, acc):
            return acc[0] / acc[1]

    p = pipeline()
    out = collect(p | fl.Create([("a", 1), ("b", 4), ("a", 2)]) | fl.CombinePerKey(Avg()))
    p.run()
    assert sorted(out.values()) == [("a", 1.5), ("b", 4.0)]


# -- batch DoFn API -----------------------------------------------------------------------------


class DoubleBatch(fl.DoFn):
    seen_types: list = []

    def process_batch(self, values):
        DoubleBatch.seen_types.append(type(values).__name__)
        return [v * 2 for v in values]


class DoubleNumpy(fl.DoFn):
    batch_type = "numpy"
    seen_types: list = []

    def process_batch(self, values):
        DoubleNumpy.seen_types.append(type(values).__name__)
        return values * 2


@pytest.mark.parametrize("fn_cls,kind", [(DoubleBatch, "list"), (DoubleNumpy, "ndarray")])
def test_process_batch(fn_cls, kind):
    fn_cls.seen_types = []
    p = pipeline("--batch-size", "3")
    pc = p | fl.Create([tv(i, i) for i in range(7)]) | fl.WindowInto(fl.FixedWindows(5))
    out = collect(pc | fl.ParDo(fn_cls()))
    p.run()
    assert fn_cls.seen_types == [kind] * 3  # batches of 3, 3, 1
    # elements keep their timestamps and windows
    assert sorted((v, ts) for v, ts, _, _ in out.records) == [(2 * i, i * 1000) for i in range(7)]
    assert sorted(out.with_windows()) == [(2 * i, (0, 5_000) if i < 5 else (5_000, 10_000)) for i in range(7)]
    assert all(type(v) is int for v in out.values())


def test_process_batch_wrong_length_names_label():
    class Bad(fl.DoFn):
        def process_batch(self, values):
            return values[:-1]

    p = pipeline()
    _ = p | fl.Create([1, 2]) | "BadBatch" >> fl.ParDo(Bad())
    with pytest.raises(fl.FluvialError, match="BadBatch"):
        p.run()


def test_process_batch_numpy_arithmetic_on_floats():
    class Half(fl.DoFn):
        batch_type = "numpy"

        def process_batch(self, values):
            assert isinstance(values, np.ndarray)
            return values / 2

    p = pipeline()
    out = collect(p | fl.Create([1, 2, 3]) | fl.ParDo(Half()))
    p.run()
    assert sorted(out.values()) == [0.5, 1.0, 1.5]


# -- options ------------------------------------------------------------------------------------


def test_pipeline_options_parsing():
    o = fl.PipelineOptions.from_argv(
        [
            "--runner", "direct",
            "--checkpoint-dir", "/tmp/x",
            "--checkpoint-interval", "0",
            "--batch-size", "17",
            "--beam-runner", "DirectRunner",
            "--beam-option=direct_num_workers=2",
            "--beam_option", "a=b",
        ]
    )  # fmt: skip
    assert o.runner == "direct"
    assert o.checkpoint_dir == "/tmp/x"
    assert o.checkpoint_interval == 0.0
    assert o.batch_size == 17
    # runner flags are kept for the runner, in order, as --name=value
    assert o.extra_args == ("--beam-runner=DirectRunner", "--beam-option=direct_num_workers=2",
                            "--beam-option=a=b")
    assert o.args == argparse.Namespace()


def test_pipeline_options_defaults_and_underscore_aliases():
    d = fl.PipelineOptions.from_argv([])
    assert (d.runner, d.checkpoint_dir, d.checkpoint_interval, d.batch_size, d.extra_args) == (
        "direct", None, 10.0, 4096, ()
    )
    o = fl.PipelineOptions.from_argv(["--checkpoint_dir=/c", "--batch_size=5", "--runner=beam"])
    assert (o.checkpoint_dir, o.batch_size, o.runner) == ("/c", 5, "beam")


@pytest.mark.parametrize(
    "argv", [["--batch-size", "0"], ["--batch-size", "x"], ["--checkpoint-interval", "-1"]]
)
def test_pipeline_options_invalid_values(argv):
    with pytest.raises(fl.PipelineConstructionError, match="pipeline options"):
        fl.PipelineOptions.from_argv(argv)


def test_pipeline_takes_options_or_argv():
    p = fl.Pipeline(options=fl.PipelineOptions(batch_size=3))
    assert p.options.batch_size == 3
    p = fl.Pipeline(argv=["--batch-size", "9"])
    assert p.options.batch_size == 9 and p.options.extra_args == ()
    with pytest.raises(TypeError):
        fl.Pipeline(options={"batch_size": 3})
    with pytest.raises(TypeError, match="either options, or argv"):
        fl.Pipeline(options=fl.PipelineOptions(), argv=["--batch-size", "9"])


def test_options_with_():
    o = fl.PipelineOptions().with_(batch_size=7)
    assert o.batch_size == 7 and o.runner == "direct"


def test_map_helper_is_a_dofn():
    assert isinstance(MapFn(len), fl.DoFn)


@pytest.mark.parametrize("fused", [True, False], ids=["sliced-path", "general-path"])
def test_builtin_sum_of_large_ints_is_exact(fused):
    # Python ints do not overflow; the result of Sum must not depend on which execution path
    # the direct runner picks (WindowInto + CombinePerKey(SumCombineFn()) is fused and
    # vectorised with NumPy int64).
    p = pipeline()
    pc = p | fl.Create([tv((1, 2**62), 1), tv((1, 2**62), 2)]) | fl.WindowInto(fl.FixedWindows(10))
    if not fused:
        pc = pc | "Unfuse" >> pmap(lambda x: x)
    out = collect(pc | fl.CombinePerKey(SumCombineFn()))
    p.run()
    assert out.values() == [(1, 2**63)]


@pytest.mark.parametrize("kind", [SumCombineFn, MeanCombineFn])
def test_builtin_sums_across_batches_past_int64_are_exact(kind):
    # each batch's int64 sum is safe, the window's total over five batches (5 * 2**61) is
    # not: the sliced path reduces the batches' chunks as Python ints then
    from fluvial.testing import TestStream

    ts = TestStream()
    for i in range(5):
        ts = ts.add_elements([tv((1, 2**61), 1 + i)]).add_elements([tv((2, i), 2)])
    p = pipeline()
    out = collect(p | ts.advance_watermark_to_infinity() | fl.WindowInto(fl.FixedWindows(10))
                  | fl.CombinePerKey(kind()))
    p.run()
    if kind is SumCombineFn:
        assert sorted(out.values()) == [(1, 5 * 2**61), (2, 10)]
    else:
        assert sorted(out.values()) == [(1, float(2**61)), (2, 2.0)]
