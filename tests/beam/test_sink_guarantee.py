"""Exactly-once sinks on Beam: refused at translation unless ``--beam-sink-guarantee
at_least_once`` accepts at-least-once (Beam Python has no "checkpoint complete" callback for a
DoFn, so a retried bundle is written again)."""

from __future__ import annotations

import sqlite3

import pytest

import fluvial as fl
from fluvial.errors import PipelineConstructionError, UnsupportedFeatureError
from fluvial.runners.beam.guarantees import exactly_once_promise, sink_guarantee
from fluvial.transforms.io import WriteToJsonLines, WriteToText
from fluvial.transforms.io.sqlsink import WriteToSqlite

from .support import FileCollectSink, pipeline


def test_flag_parsing():
    assert sink_guarantee(["--beam-sink-guarantee", "at_least_once"]) == "at_least_once"
    assert sink_guarantee(["--beam-sink-guarantee=at_least_once", "--x"]) == "at_least_once"
    assert sink_guarantee(["--beam-runner", "DirectRunner"]) is None
    with pytest.raises(PipelineConstructionError, match="accepts at_least_once, got 'exactly_once'"):
        sink_guarantee(["--beam-sink-guarantee", "exactly_once"])
    with pytest.raises(PipelineConstructionError, match="--beam-sink-guarantee"):
        sink_guarantee(["--beam-sink-guarantee"])


@pytest.mark.parametrize(
    "make, label, promise",
    [
        (lambda d: WriteToText(f"{d}/t"), "Sink/Write", "TextSink"),
        (lambda d: WriteToJsonLines(f"{d}/j"), "Sink/Write", "JsonLinesSink"),
        (lambda d: WriteToSqlite(f"{d}/s.db", "t", key_columns=["k"]), "Sink/Write", "WriteToSqlite"),
    ],
    ids=["text", "jsonlines", "sqlite"],
)
def test_exactly_once_sinks_are_refused_naming_the_transform(tmp_path, make, label, promise):
    p = pipeline("beam")
    _ = p | fl.Create([{"k": 1}]) | "Sink" >> make(tmp_path)
    with pytest.raises(UnsupportedFeatureError) as ei:
        p.run()
    assert ei.value.label == label
    assert promise in ei.value.feature
    assert "--beam-sink-guarantee at_least_once" in ei.value.feature
    assert list(tmp_path.iterdir()) == []  # refused before anything ran


def test_sqlite_sink_runs_with_the_opt_in(tmp_path):
    db = str(tmp_path / "out.db")
    p = pipeline("beam", "--beam-sink-guarantee", "at_least_once")
    _ = p | fl.Create([{"k": "a", "n": 1}, {"k": "b", "n": 2}]) | WriteToSqlite(
        db, "totals", key_columns=["k"], columns=["k", "n"])
    p.run()
    rows = sqlite3.connect(db).execute("SELECT k, n FROM totals ORDER BY k").fetchall()
    assert rows == [("a", 1), ("b", 2)]


class PromisingSink(fl.Sink):
    exactly_once = True

    def open(self, ctx):
        raise AssertionError("never opened: refused at translation")


def test_a_custom_sink_declares_its_promise(tmp_path):
    assert exactly_once_promise(PromisingSink()) == "PromisingSink declares exactly_once"
    assert exactly_once_promise(FileCollectSink(str(tmp_path))) is None
    p = pipeline("beam")
    _ = p | fl.Create([1]) | "Mine" >> fl.Write(PromisingSink())
    with pytest.raises(UnsupportedFeatureError) as ei:
        p.run()
    assert ei.value.label == "Mine"
