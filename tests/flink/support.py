"""Helpers for the Flink runner's tests: a pipeline on the flink runner, and a recording ParDo
that writes every (element, window) it sees to a file, in order, so tests can assert on values,
windows, timestamps and panes after the job (Flink runs the DoFn in its own interpreter, so an
in-memory list would fill a copy)."""

from __future__ import annotations

import glob
import os
import pickle
import uuid
from typing import Any

import fluvial as fl
from fluvial.window import GlobalWindow


def pipeline(*args: str) -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "flink", *args])


class Record(fl.DoFn):
    """Appends ``(value, window, timestamp_ms, (timing, index))`` per element and window to a
    file of its own in ``directory``; ``window`` is ``(start_ms, end_ms)`` or None (global)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.f: Any = None

    def __getstate__(self) -> dict:
        return {"directory": self.directory, "f": None}

    def setup(self) -> None:
        name = f"rec-{os.getpid()}-{uuid.uuid4().hex}.pkl"
        self.f = open(os.path.join(self.directory, name), "ab")  # noqa: SIM115

    def process(self, x, w=fl.DoFn.WindowParam, ts=fl.DoFn.TimestampParam,
                pane=fl.DoFn.PaneInfoParam):
        bounds = None if isinstance(w, GlobalWindow) else (w.start_ms, w.end_ms)
        pickle.dump((x, bounds, ts.millis, (pane.timing.value, pane.index)), self.f)
        self.f.flush()
        return []

    def teardown(self) -> None:
        if self.f is not None:
            self.f.close()


def recorded(directory: str) -> list[tuple]:
    """Every record written by :class:`Record` into ``directory`` (file by file, in order)."""
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "rec-*.pkl"))):
        with open(path, "rb") as f:
            while True:
                try:
                    out.append(pickle.load(f))
                except EOFError:
                    break
    return out


def values(directory: str) -> list:
    return [r[0] for r in recorded(directory)]


def record(pc: Any, directory: str, label: str = "Record") -> None:
    _ = pc | label >> fl.ParDo(Record(directory))
