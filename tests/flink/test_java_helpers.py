"""fluvial's Java helpers for Flink (runners/flink/java), compiled at first use and run in raw
PyFlink jobs: the scripted watermark strategy moves the watermark exactly at the script's
marks, the marker filter drops only watermark records, the clock fan-out replicates a clock
record to every key seen; and the jar is rebuilt reproducibly from the sources."""

from __future__ import annotations

import shutil

from pyflink.common import Types
from pyflink.datastream import DataStream

from fluvial.runners.flink import jvm
from fluvial.runners.flink.boot import boot
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

SCRIPT = Types.TUPLE([Types.INT(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())])
KEYED = Types.TUPLE([Types.INT(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE()),
                     Types.PRIMITIVE_ARRAY(Types.BYTE())])


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
    recs = [
        (ELEMENT, 1, b"k1", b"x"), (ELEMENT, 2, b"k2", b"y"), (CLOCK, 5, b"", b""),
        (ELEMENT, 3, b"k1", b"z"), (ELEMENT, 4, b"k3", b"w"), (CLOCK, 9, b"", b""),
    ]
    ds = env.from_collection(recs, KEYED)
    j = ds._j_data_stream.process(flink.ClockFanOut(), KEYED.get_java_type_info()).setParallelism(1)
    got = [(r[0], r[1], bytes(r[2]), bytes(r[3])) for r in DataStream(j).execute_and_collect()]
    assert got == [
        (ELEMENT, 1, b"k1", b"x"), (ELEMENT, 2, b"k2", b"y"),
        (CLOCK, 5, b"k1", b""), (CLOCK, 5, b"k2", b""),
        (ELEMENT, 3, b"k1", b"z"), (ELEMENT, 4, b"k3", b"w"),
        (CLOCK, 9, b"k1", b""), (CLOCK, 9, b"k2", b""), (CLOCK, 9, b"k3", b""),
    ]


def test_jar_is_reproducible_and_keyed_by_the_sources(tmp_path, monkeypatch):
    a = jvm.build_jar(tmp_path / "a" / "x.jar")
    b = jvm.build_jar(tmp_path / "b" / "x.jar")
    assert a.read_bytes() == b.read_bytes()
    import zipfile

    names = set(zipfile.ZipFile(a).namelist())
    assert {"fluvial/flink/ScriptedWatermarkStrategy.class", "fluvial/flink/ScriptMarkerFilter.class",
            "fluvial/flink/ClockFanOut.class"} <= names

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
