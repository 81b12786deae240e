"""The Beam runner beyond the catalog: translation errors, Beam options pass-through, metrics,
state kinds, side outputs, user errors, and the fluvial file IO through Read/Write on Beam."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import fluvial as fl
from fluvial.errors import PipelineConstructionError, UnsupportedFeatureError
from fluvial.metrics import Metrics
from fluvial.runners.beam import BeamRunner
from fluvial.runners.beam.options import FN_API_RUNNER, parse_beam_args
from fluvial.testing import assert_that, equal_to
from fluvial.transforms import Map
from fluvial.transforms.io import ReadFromText, WriteToText


def pipeline(*extra: str) -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "beam", *extra])


# -- options ----------------------------------------------------------------------------------
def test_parse_beam_args_passes_runner_and_options_through():
    runner, argv = parse_beam_args(
        ["--beam-runner", "FlinkRunner", "--beam-option", "flink_master=localhost:8081",
         "--beam-option=parallelism=2", "--my-own-flag", "x"]
    )
    assert runner == "FlinkRunner"
    assert argv == ["--flink_master=localhost:8081", "--parallelism=2"]
    assert parse_beam_args(["--beam-runner", "FnApiRunner"])[0] == FN_API_RUNNER


@pytest.mark.parametrize(
    "args, message",
    [
        (["--beam-runner"], "--beam-runner needs a Beam runner name"),
        (["--beam-runner", "--x"], "--beam-runner needs a Beam runner name"),
        (["--beam-option", "novalue"], "--beam-option needs key=value"),
        (["--beam-option"], "--beam-option needs key=value"),
    ],
)
def test_bad_beam_args_are_clear_errors(args, message):
    with pytest.raises(PipelineConstructionError, match=message):
        parse_beam_args(args)


def test_unknown_beam_option_is_named():
    p = pipeline("--beam-option", "no_such_beam_option=1")
    _ = p | fl.Create([1])
    with pytest.raises(PipelineConstructionError, match="no_such_beam_option"):
        p.run()


def test_unknown_beam_runner_is_a_clear_error():
    p = pipeline("--beam-runner", "NoSuchRunner")
    _ = p | fl.Create([1])
    with pytest.raises(fl.FluvialError, match="--beam-runner NoSuchRunner"):
        p.run()


@pytest.mark.parametrize("name", ["DirectRunner", "FnApiRunner", "BundleBasedDirectRunner"])
def test_beam_runner_choice_runs_the_pipeline(name):
    p = pipeline("--beam-runner", name, "--beam-option", "direct_num_workers=1")
    assert_that(p | fl.Create([1, 2, 3]) | Map(lambda x: x * 10), equal_to([10, 20, 30]))
    result = p.run()
    assert result.state is fl.PipelineState.DONE
    assert result.info["beam_runner"] == (FN_API_RUNNER if name == "FnApiRunner" else name)


def test_default_runner_choice():
    r = BeamRunner()
    assert r.choose_runner(True, None) == "BundleBasedDirectRunner"
    assert r.choose_runner(False, None) == FN_API_RUNNER
    assert r.choose_runner(False, "SparkRunner") == "SparkRunner"


def test_test_stream_on_fn_api_runner_is_unsupported():
    p = pipeline("--beam-runner", "FnApiRunner")
    _ = p | fl.testing.TestStream().add_elements([1]).advance_watermark_to_infinity()
    with pytest.raises(UnsupportedFeatureError, match="FnApiRunner does not execute TestStream"):
        p.run()


# -- translation errors -----------------------------------------------------------------------
def test_late_output_is_unsupported_naming_the_transform():
    p = pipeline()
    pc = p | fl.Create([("k", 1)]) | fl.WindowInto(fl.FixedWindows(60))
    _ = pc | "Grouped" >> fl.GroupByKey().with_late_output()
    with pytest.raises(UnsupportedFeatureError) as e:
        p.run()
    assert e.value.label == "Grouped"
    assert "with_late_output" in e.value.feature


def test_processing_time_ttl_is_unsupported():
    spec = fl.ValueStateSpec("v", ttl=fl.StateTTL(5, fl.TimeDomain.REAL_TIME))

    class Remember(fl.DoFn):
        def process(self, kv, v=fl.DoFn.StateParam(spec)):
            v.write(kv[1])
            yield kv

    p = pipeline()
    _ = p | fl.Create([("k", 1)]) | "Remember" >> fl.ParDo(Remember())
    with pytest.raises(UnsupportedFeatureError, match="processing-time StateTTL") as e:
        p.run()
    assert e.value.label == "Remember"


def test_unbounded_source_is_unsupported():
    class Forever(fl.Source):
        is_bounded = False

        def open(self, ctx):
            raise AssertionError("never opened")

    p = pipeline()
    _ = p | "Forever" >> fl.Read(Forever())
    with pytest.raises(UnsupportedFeatureError, match="unbounded source"):
        p.run()


def test_user_code_error_names_the_transform_and_element():
    def boom(x):
        raise ValueError("bad value")

    p = pipeline()
    _ = p | fl.Create([7]) | "Boom" >> Map(boom)
    with pytest.raises(Exception, match="transform 'Boom/ParDo'") as e:
        p.run()
    assert "bad value" in str(e.value)
    assert "7" in str(e.value)


def test_import_fluvial_does_not_import_apache_beam():
    code = "import sys, fluvial, fluvial.registry; print('apache_beam' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- metrics ----------------------------------------------------------------------------------
class Measure(fl.DoFn):
    def process(self, x):
        Metrics.counter("test", "seen").inc()
        Metrics.distribution("test", "size").update(x)
        Metrics.gauge("test", "last").set(x)
        yield x


def test_metrics_land_in_the_result():
    p = pipeline()
    _ = p | fl.Create([1, 5, 3]) | "Measure" >> fl.ParDo(Measure())
    q = p.run().metrics().query(namespace="test")
    assert q.counter("seen") == 3
    [(key, dist)] = q.distributions.items()
    assert key.step == "Measure" and key.name == "size"
    assert (dist.count, dist.sum, dist.min, dist.max) == (3, 9, 1, 5)
    [(gkey, gauge)] = q.gauges.items()
    assert gkey.name == "last" and gauge.value in (1, 5, 3)


# -- side outputs and state -------------------------------------------------------------------
class Parity(fl.DoFn):
    def process(self, x):
        yield x if x % 2 == 0 else fl.TaggedOutput("odd", x * 100)


def test_tagged_side_outputs():
    p = pipeline()
    outs = p | fl.Create([1, 2, 3, 4]) | fl.ParDo(Parity()).with_outputs("odd", main="even")
    assert_that(outs.main, equal_to([2, 4]), label="main")
    assert_that(outs.odd, equal_to([100, 300]), label="odd")
    p.run()


MAP = fl.MapStateSpec("m")
BAG = fl.BagStateSpec("b")
SUM = fl.CombiningStateSpec("s", sum)
LAST = fl.ValueStateSpec("v")
FLUSH = fl.TimerSpec("flush", fl.TimeDomain.WATERMARK)


class AllKinds(fl.DoFn):
    def process(self, kv, m=fl.DoFn.StateParam(MAP), b=fl.DoFn.StateParam(BAG),
                s=fl.DoFn.StateParam(SUM), v=fl.DoFn.StateParam(LAST),
                flush=fl.DoFn.TimerParam(FLUSH)):
        k, x = kv
        m.put(x % 2, m.get(x % 2, 0) + x)
        b.add(x)
        s.add(x)
        v.write(x)
        flush.set(100)
        return []

    @fl.on_timer(FLUSH)
    def on_flush(self, key=fl.DoFn.KeyParam, m=fl.DoFn.StateParam(MAP), b=fl.DoFn.StateParam(BAG),
                 s=fl.DoFn.StateParam(SUM), v=fl.DoFn.StateParam(LAST), ts=fl.DoFn.TimestampParam):
        yield (key, sorted(m.items()), sorted(b.read()), s.read(), v.read() is not None, ts.seconds)


def test_state_kinds_and_event_timer_on_a_bounded_pipeline():
    p = pipeline()
    data = [fl.TimestampedValue(("a", i), i) for i in (1, 2, 3)] + [fl.TimestampedValue(("b", 9), 4)]
    out = p | fl.Create(data) | fl.ParDo(AllKinds())
    assert_that(out, equal_to([
        ("a", [(0, 2), (1, 4)], [1, 2, 3], 6, True, 100),
        ("b", [(1, 9)], [9], 9, True, 100),
    ]))
    p.run()


# -- file IO through Read / Write -------------------------------------------------------------
def test_text_io_round_trip_on_beam(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("alpha\nbeta\ngamma\n", encoding="utf-8")
    prefix = str(tmp_path / "out" / "words")
    # the file sinks promise exactly-once; on Beam they run only with the at-least-once opt-in
    # (see test_sink_guarantee.py for the refusal without it)
    p = pipeline("--beam-sink-guarantee", "at_least_once")
    _ = (
        p
        | ReadFromText(str(src))
        | Map(str.upper)
        | WriteToText(prefix, suffix=".txt")
    )
    result = p.run()
    assert result.state is fl.PipelineState.DONE
    out_dir = tmp_path / "out"
    files = sorted(n for n in os.listdir(out_dir) if not n.startswith("."))
    assert files and all(n.startswith("words") for n in files)
    lines = []
    for n in files:
        lines.extend((out_dir / n).read_text(encoding="utf-8").splitlines())
    assert sorted(lines) == ["ALPHA", "BETA", "GAMMA"]
    assert not [n for n in os.listdir(out_dir) if n.startswith(".")]  # nothing left staged


def test_import_without_apache_beam_names_the_extra():
    code = (
        "import sys; sys.modules['apache_beam'] = None\n"
        "try:\n    import fluvial.runners.beam\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "install 'fluvial[beam]'" in out.stdout
