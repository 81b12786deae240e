"""fluvial's Java helpers for Flink (runners/flink/java), compiled at first use and run in raw
PyFlink jobs: the scripted watermark strategy moves the watermark exactly at the script's
marks, the marker filter drops only watermark records, the clock fan-out replicates a clock
record to every key seen, the Java combine path hands its results back in batches before each
watermark; and the jar is rebuilt reproducibly from the sources."""

from __future__ import annotations

import shutil

from pyflink.common import Row, Types
from pyflink.datastream import DataStream

from fluvial.combiners import SumCombineFn
from fluvial.runners.flink import jvm
from fluvial.runners.flink.boot import boot
from fluvial.runners.flink.combine_java import Feeder, ResultDecoder
from fluvial.runners.flink.environment import create_environment
from fluvial.runners.flink.options import FlinkOptions
from fluvial.runners.flink.records import (
    CLOCK,
    ELEMENT,
    JAVA_LONG_MAX,
    JAVA_LONG_MIN,
    script_clock,
    script_element,
    script_watermark,
)
from fluvial.values import GLOBAL_WINDOWS, WindowedValue
from fluvial.window import FixedWindows, IntervalWindow
from fluvial.windowing import Windowing

SCRIPT = Types.TUPLE([Types.INT(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())])


class Observe:
    """Each record's kind and time, Flink's record timestamp and the current watermark."""

    def open(self, ctx):
        pass

    def process_element(self, rec, ctx):
        return [(rec[0], rec[1], ctx.timestamp(), ctx.timer_service().current_watermark())]

    def close(self):
        pass


def _env(tmp_path):
    return create_environment(FlinkOptions(), str(tmp_path), 1)


def _gateway_jvm():
    from pyflink.java_gateway import get_gateway

    return get_gateway().jvm


def test_scripted_watermarks_move_exactly_at_the_marks(tmp_path):
    env = _env(tmp_path)
    flink = _gateway_jvm().fluvial.flink
    script = [
        script_element("a", 1000), script_element("b", 2000), script_watermark(5000),
        script_element("c", 3000), script_clock(7000), script_watermark(10000),
        script_element("d", 12000), script_watermark(2**62),
    ]
    ds = env.from_collection(script, SCRIPT)
    j = ds._j_data_stream.assignTimestampsAndWatermarks(flink.ScriptedWatermarkStrategy())
    j = j.setParallelism(1).filter(flink.ScriptMarkerFilter()).setParallelism(1)
    got = list(DataStream(j).process(boot(Observe()), Types.PICKLED_BYTE_ARRAY()).execute_and_collect())
    assert got == [
        (ELEMENT, 1000, 1000, JAVA_LONG_MIN),
        (ELEMENT, 2000, 2000, JAVA_LONG_MIN),
        (ELEMENT, 3000, 3000, 5000),  # behind the watermark: stateless code still sees it
        (CLOCK, 7000, 7000, 5000),
        (ELEMENT, 12000, 12000, 10000),
    ]
    # fluvial's end of time becomes Flink's Long.MAX_VALUE, the watermark that fires every timer
    assert script_watermark(2**62)[1] == JAVA_LONG_MAX


def test_clock_fan_out_reaches_every_key_seen(tmp_path):
    env = _env(tmp_path)
    flink = _gateway_jvm().fluvial.flink
    rows = Types.ROW([Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.PRIMITIVE_ARRAY(Types.BYTE())])
    recs = [
        Row(b"k1", b"x"), Row(b"k2", b"y"), Row(None, b"tick5"),
        Row(b"k1", b"z"), Row(b"k3", b"w"), Row(None, b"tick9"),
    ]
    ds = env.from_collection(recs, rows)
    j = ds._j_data_stream.process(flink.ClockFanOut(), rows.get_java_type_info()).setParallelism(1)
    got = [(bytes(r[0]), bytes(r[1])) for r in DataStream(j).execute_and_collect()]
    # a row without a key is a clock record: one copy per key seen so far, in first-seen order
    assert got == [
        (b"k1", b"x"), (b"k2", b"y"),
        (b"k1", b"tick5"), (b"k2", b"tick5"),
        (b"k1", b"z"), (b"k3", b"w"),
        (b"k1", b"tick9"), (b"k2", b"tick9"), (b"k3", b"tick9"),
    ]


def test_java_combine_path_emits_results_in_batches_before_each_watermark(tmp_path):
    """CombinePath (explode, keyBy, WindowCombine, ResultBatcher) on hand-made batches behind
    scripted watermarks: every window's result leaves once, before the watermark that fired
    it, in one batch per watermark; an element of an expired window is counted."""
    env = _env(tmp_path)
    flink = _gateway_jvm().fluvial.flink
    feeder = Feeder("Sum", "sum")

    def batch(*elements):
        wvs = [WindowedValue(kv, ts, GLOBAL_WINDOWS, None) for kv, ts in elements]
        return feeder.encode(wvs)

    script = [
        (ELEMENT, 1, batch((("a", 1), 1_000), (("b", 2), 2_000), (("a", 3), 12_000))),
        script_watermark(10_000),  # fires [0, 10) for a and b: one batch
        (ELEMENT, 2, batch((("a", 5), 9_000), (("c", 1), 15_000))),  # 9 s: expired, dropped
        script_watermark(2**62),  # fires [10, 20) for a and c: one batch
    ]
    ds = env.from_collection(script, SCRIPT)
    j = ds._j_data_stream.assignTimestampsAndWatermarks(flink.ScriptedWatermarkStrategy())
    j = j.setParallelism(1).filter(flink.ScriptMarkerFilter()).setParallelism(1)
    batches = DataStream(j).map(lambda r: bytes(r[2]), Types.PRIMITIVE_ARRAY(Types.BYTE()))
    out = DataStream(flink.CombinePath.build(batches._j_data_stream, "Sum", "sum", 10_000,
                                             10_000, 0))
    decoder = ResultDecoder(Windowing(FixedWindows(10)), SumCombineFn())
    # collected through py4j a Java byte[] arrives as signed bytes
    got = [decoder.decode(bytes(x & 0xFF for x in b)) for b in out.execute_and_collect()]
    assert len(got) == 2
    (first, dropped1), (second, dropped2) = got
    w0, w1 = IntervalWindow(0, 10_000), IntervalWindow(10_000, 20_000)
    assert sorted(r[0] for r in first) == [("a", 1), ("b", 2)]
    assert {r[2] for r in first} == {(w0,)} and dropped1 == 0
    assert sorted(r[0] for r in second) == [("a", 3), ("c", 1)]
    assert {r[2] for r in second} == {(w1,)} and dropped2 == 1


def test_jar_is_reproducible_and_keyed_by_the_sources(tmp_path, monkeypatch):
    a = jvm.build_jar(tmp_path / "a" / "x.jar")
    b = jvm.build_jar(tmp_path / "b" / "x.jar")
    assert a.read_bytes() == b.read_bytes()
    import zipfile

    names = set(zipfile.ZipFile(a).namelist())
    assert {"fluvial/flink/ScriptedWatermarkStrategy.class", "fluvial/flink/ScriptMarkerFilter.class",
            "fluvial/flink/ClockFanOut.class", "fluvial/flink/WindowCombine.class",
            "fluvial/flink/ResultBatcher.class", "fluvial/flink/PyNumber.class"} <= names

    # the cache: built once under the key, reused, and rebuilt when a source changes
    monkeypatch.setenv("FLUVIAL_CACHE_DIR", str(tmp_path / "cache"))
    first = jvm.runtime_jar()
    assert first.is_file() and first.parent.name == jvm.source_key(jvm.pyflink_version())
    assert jvm.runtime_jar() == first
    src = tmp_path / "java"
    shutil.copytree(jvm.JAVA_DIR, src)
    marker = src / "fluvial" / "flink" / "ScriptRecords.java"
    marker.write_text(marker.read_text() + "\n// changed\n")
    monkeypatch.setattr(jvm, "JAVA_DIR", src)
    second = jvm.runtime_jar()
    assert second != first and second.is_file()
