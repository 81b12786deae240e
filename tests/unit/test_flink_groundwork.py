"""The parts of the Flink runner that need no JVM (these run without pyflink): its flags, the
jar checks, the JDK lookup, the missing-pyflink error, the side channel, and the fused Python
function that Flink calls (driven here directly, as Flink would)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fluvial as fl
from fluvial.errors import (
    FluvialError,
    PipelineConstructionError,
    RunnerNotFoundError,
    UserCodeError,
)
from fluvial.metrics import MetricKey
from fluvial.pane import NO_FIRING
from fluvial.runners.flink import jvm
from fluvial.runners.flink.functions import ChainFunction
from fluvial.runners.flink.jars import check_jars, kafka_jars_missing, require_kafka_jars
from fluvial.runners.flink.options import FlinkOptions, parse_flink_args
from fluvial.runners.flink.records import ClockTick, script_clock, script_element
from fluvial.runners.flink.sidechannel import SideChannel
from fluvial.runners.flink.stages import ErrorPolicy, ParDoStage, WindowStage
from fluvial.transforms import FlatMap, Map
from fluvial.window import FixedWindows, IntervalWindow

# -- flags -----------------------------------------------------------------------------------------


def test_flags_default_and_parsed():
    assert parse_flink_args([], environ={}) == FlinkOptions()
    o = parse_flink_args(["--flink-mode=process", "--parallelism", "3", "--flink_master",
                          "127.0.0.1:8081", "--flink-jars", "a.jar,b.jar", "--user-flag", "x",
                          "--flink-sink-guarantee", "at_least_once"],
                         environ={"FLUVIAL_FLINK_JARS": "c.jar"})
    assert o == FlinkOptions("process", 3, ("127.0.0.1", 8081), ("c.jar", "a.jar", "b.jar"),
                             "at_least_once")


def test_flags_declared_to_the_pipeline_options_reach_the_runner():
    o = fl.PipelineOptions.from_argv(["--runner", "flink", "--flink-mode", "process",
                                      "--parallelism", "2", "--flink-jars", "a.jar",
                                      "--flink-jars", "b.jar,c.jar"])
    assert parse_flink_args(o.extra_args, environ={}) == FlinkOptions(
        "process", 2, None, ("a.jar", "b.jar", "c.jar"), None)
    with pytest.raises(PipelineConstructionError, match="--flink-mode"):
        fl.PipelineOptions.from_argv(["--runner", "flink", "--flink-mode", "fork"])


@pytest.mark.parametrize("args,match", [
    (["--flink-mode", "fork"], "--flink-mode must be one of thread, process"),
    (["--parallelism", "0"], "--parallelism must be a positive integer"),
    (["--parallelism"], "--parallelism needs a value"),
    (["--flink-master", "localhost"], "--flink-master needs HOST:PORT"),
    (["--flink-master", "h:99999"], "--flink-master needs HOST:PORT"),
    (["--flink-sink-guarantee", "exactly_once"], "accepts at_least_once"),
])
def test_bad_flags_name_the_flag(args, match):
    with pytest.raises(PipelineConstructionError, match=match):
        parse_flink_args(args, environ={})


# -- jars and the JDK ------------------------------------------------------------------------------


def test_kafka_jars_named_when_missing(tmp_path):
    assert kafka_jars_missing(["/x/flink-sql-connector-kafka-4.0.1-2.0.jar"]) == []
    assert kafka_jars_missing(["/x/kafka-clients-3.9.1.jar"]) == ["flink-connector-kafka"]
    with pytest.raises(FluvialError) as ei:
        require_kafka_jars([], "ReadFromKafka/Read")
    msg = str(ei.value)
    assert "ReadFromKafka/Read" in msg and "flink-connector-kafka, kafka-clients" in msg
    assert "org.apache.flink:flink-connector-kafka:4.0.1-2.0" in msg and "--flink-jars" in msg
    with pytest.raises(FluvialError, match="is not an existing .jar file"):
        check_jars([str(tmp_path / "nope.jar")])
    jar = tmp_path / "kafka-clients-3.9.1.jar"
    jar.write_bytes(b"PK")
    assert check_jars([str(jar)]) == [str(jar)]


def test_no_jdk_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(jvm.JavaNotFoundError, match="install a JDK 11 or newer"):
        jvm.find_javac()
    with pytest.raises(jvm.JavaNotFoundError, match="openjdk-17-jdk-headless"):
        jvm.find_java()


def test_cache_key_covers_sources_and_flink_version():
    assert jvm.source_key("2.3.0") == jvm.source_key("2.3.0")
    assert jvm.source_key("2.3.0") != jvm.source_key("2.3.1")
    names = {p.name for p in jvm.java_sources()}
    assert {"ScriptedWatermarkStrategy.java", "ScriptMarkerFilter.java", "ClockFanOut.java"} <= names


# -- without pyflink -------------------------------------------------------------------------------


def test_missing_pyflink_says_install_the_extra(monkeypatch):
    import importlib.util

    from fluvial.runners.flink import runner

    real = importlib.util.find_spec
    monkeypatch.setattr(runner.importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyflink" else real(name, *a))
    p = fl.Pipeline(argv=["--runner", "flink"])
    _ = p | fl.Create([1])
    with pytest.raises(RunnerNotFoundError, match=r"pip install 'fluvial\[flink\]'"):
        runner.FlinkRunner().run_pipeline(p, p.options)


def test_importing_the_runner_loads_no_pyflink():
    code = ("import sys, fluvial.runners.flink; "
            "print([m for m in sys.modules if m.split('.')[0] == 'pyflink'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- the side channel ------------------------------------------------------------------------------


def test_side_channel_brings_back_user_errors(tmp_path):
    ch = SideChannel(str(tmp_path))
    assert ch.error() is None
    ch.write_error(UserCodeError("Parse", "x", ValueError("bad")))
    ch.write_error(UserCodeError("Later", "y", ValueError("later")))
    err = ch.error()
    assert isinstance(err, UserCodeError)
    assert (err.label, err.element, type(err.cause), str(err.cause)) == ("Parse", "x", ValueError, "bad")


def test_side_channel_keeps_unpicklable_elements_as_repr(tmp_path):
    ch = SideChannel(str(tmp_path))
    ch.write_error(UserCodeError("Parse", lambda: 1, RuntimeError("boom")))
    err = ch.error()
    assert err.label == "Parse" and err.element.startswith("<function")
    assert "RuntimeError: boom" in str(err.cause)


# -- the fused function, driven as Flink would drive it --------------------------------------------


def _pardo(t, label):
    """The ParDo primitive inside a Map/FlatMap composite, with its signature built."""
    p = fl.Pipeline(argv=[])
    _ = p | fl.Create([1]) | label >> t
    node = [n for n in p.primitives() if isinstance(n.transform, fl.ParDo)][0]
    return node.full_label, node.transform


class Split(fl.DoFn):
    def process(self, x):
        yield x
        yield fl.TaggedOutput("big", x * 100)


def test_chain_function_runs_fused_stages_with_policies(tmp_path):
    dlq, big = "DLQ-TAG", "BIG-TAG"
    parse_label, parse = _pardo(Map(int, on_error="dead_letter"), "Parse")
    dup_label, dup = _pardo(FlatMap(lambda n: [n, n + 1]), "Dup")
    p = fl.Pipeline(argv=[])
    _ = p | fl.Create([1]) | "Split" >> fl.ParDo(Split()).with_outputs("big")
    split = [n.transform for n in p.primitives() if isinstance(n.transform, fl.ParDo)][0]
    stages = [
        ParDoStage(parse_label, parse, ErrorPolicy(parse_label, "dead_letter", dlq), {}),
        WindowStage("Win", FixedWindows(10)),
        ParDoStage(dup_label, dup, ErrorPolicy(dup_label, "fail"), {}),
        ParDoStage("Split", split, ErrorPolicy("Split", "fail"), {"big": big}),
    ]
    fn = ChainFunction("chain", stages, True, str(tmp_path), [big, dlq])
    fn.open()
    out = fn.process_element(script_element("4", 12_000))
    w = IntervalWindow(10_000, 20_000)
    assert out == [(4, 12_000, (w,), None), (5, 12_000, (w,), None),
                   (big, (400, 12_000, (w,), None)), (big, (500, 12_000, (w,), None))]
    bad = fn.process_element(script_element("x", 3_000))
    assert len(bad) == 1 and bad[0][0] == dlq
    rec, ts, windows, pane = bad[0][1]
    assert (rec.transform, rec.error_type, rec.payload, ts, windows, pane) == (
        parse_label, "ValueError", "x", 3_000, None, None)
    # a clock tick skips the stages and reaches every output
    assert fn.process_element(script_clock(7)) == [ClockTick(7), (big, ClockTick(7)), (dlq, ClockTick(7))]
    fn.close()
    assert SideChannel(str(tmp_path)).metrics().counters == {
        MetricKey(parse_label, "fluvial", "dead_letters"): 1}


def test_chain_function_records_the_user_error(tmp_path):
    label, div = _pardo(Map(lambda x: 1 // x), "Div")
    fn = ChainFunction("chain", [ParDoStage(label, div, ErrorPolicy(label, "fail"), {})], False,
                       str(tmp_path), [])
    fn.open()
    assert fn.process_element((2, 0, None, None)) == [(0, 0, None, None)]
    with pytest.raises(UserCodeError) as ei:
        fn.process_element((0, 5, None, None))
    assert (ei.value.label, ei.value.element) == (label, 0)
    err = SideChannel(str(tmp_path)).error()
    assert (err.label, err.element, type(err.cause)) == (label, 0, ZeroDivisionError)
    assert NO_FIRING is not None
