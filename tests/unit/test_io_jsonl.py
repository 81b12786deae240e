"""ReadFromJsonLines / WriteToJsonLines."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import fluvial as fl
from fluvial.errors import PipelineConstructionError
from fluvial.testing import assert_that, equal_to
from fluvial.transforms import Count, Map
from fluvial.transforms.io import JsonLinesSource, ReadFromJsonLines, WriteToJsonLines


def pipeline() -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "direct"])


def write_jsonl(path, rows, extra: str = "") -> str:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        f.write(extra)
    return str(path)


def freeze(d: dict) -> tuple:
    return tuple(sorted(d.items()))


def test_round_trip(tmp_path):
    rows = [{"id": 1, "name": "ä"}, {"id": 2, "tags": ["x", "y"]}, [1, 2], "s", 3.5, None]
    prefix = str(tmp_path / "rows")
    with pipeline() as p:
        _ = p | fl.Create(rows) | WriteToJsonLines(prefix)
    assert sorted(os.listdir(tmp_path)) == ["rows-00000-of-00001.jsonl"]
    text = (tmp_path / "rows-00000-of-00001.jsonl").read_text(encoding="utf-8")
    assert '"name":"ä"' in text  # compact, not ASCII-escaped
    assert sorted(map(json.dumps, map(json.loads, text.splitlines()))) == sorted(
        map(json.dumps, rows)
    )
    with pipeline() as p:
        back = p | ReadFromJsonLines(prefix + "-*.jsonl")
        assert_that(back | Map(json.dumps), equal_to([json.dumps(r) for r in rows]))


def test_numpy_values_are_written(tmp_path):
    prefix = str(tmp_path / "np")
    with pipeline() as p:
        _ = (
            p
            | fl.Create([0])
            | Map(lambda _: {"i": np.int64(3), "f": np.float32(0.5), "a": np.arange(2)})
            | WriteToJsonLines(prefix)
        )
    line = (tmp_path / "np-00000-of-00001.jsonl").read_text().strip()
    assert json.loads(line) == {"i": 3, "f": 0.5, "a": [0, 1]}


@pytest.mark.parametrize("unit,scale", [("s", 1), ("ms", 1000)])
def test_timestamp_field_drives_windows(tmp_path, unit, scale):
    rows = [{"k": "a", "t": 1 * scale}, {"k": "b", "t": 9.5 * scale}, {"k": "c", "t": 15 * scale}]
    path = write_jsonl(tmp_path / "ev.jsonl", rows, extra="\n   \n")  # blank lines are skipped
    with pipeline() as p:
        ev = p | ReadFromJsonLines(path, timestamp_field="t", timestamp_unit=unit)
        stamped = ev | Map(lambda r, ts=fl.DoFn.TimestampParam: (r["k"], ts.millis))
        assert_that(stamped, equal_to([("a", 1000), ("b", 9500), ("c", 15000)]))
        counts = ev | fl.WindowInto(fl.FixedWindows(10)) | Count.Globally()
        assert_that(
            counts | "W" >> Map(lambda n, w=fl.DoFn.WindowParam: (n, w.start_ms)),
            equal_to([(2, 0), (1, 10000)]),
            label="windows",
        )


def test_invalid_json_names_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"a": 1}], extra="{oops\n")
    r = JsonLinesSource(path).open(None)
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: invalid JSON"):
        r.poll(10)


def test_missing_or_bad_timestamp_field(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"t": 1}, {"x": 2}])
    r = JsonLinesSource(path, timestamp_field="t").open(None)
    with pytest.raises(ValueError, match=r"a\.jsonl:2: record has no timestamp field 't'"):
        r.poll(10)
    path = write_jsonl(tmp_path / "b.jsonl", [{"t": "noon"}])
    r = JsonLinesSource(path, timestamp_field="t").open(None)
    with pytest.raises(ValueError, match="must be a number"):
        r.poll(10)


def test_reader_snapshot_restore(tmp_path):
    rows = [{"i": i} for i in range(7)]
    path = write_jsonl(tmp_path / "a.jsonl", rows[:4], extra="\n")
    write_jsonl(tmp_path / "b.jsonl", rows[4:])
    src = JsonLinesSource(str(tmp_path / "*.jsonl"))
    r = src.open(None)
    first = r.poll(3)
    state = r.snapshot()
    r2 = src.open(None)
    r2.restore(state)
    rest = []
    while (got := r2.poll(2)) is not None:
        rest.extend(got)
    assert [v["i"] for v, _ in first + rest] == list(range(7))
    assert path


def test_bad_arguments(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{}])
    with pytest.raises(PipelineConstructionError, match="timestamp_unit"):
        ReadFromJsonLines(path, timestamp_field="t", timestamp_unit="us")
    with pytest.raises(PipelineConstructionError, match="no files match"):
        ReadFromJsonLines(str(tmp_path / "missing.jsonl"))
