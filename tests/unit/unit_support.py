"""Small helpers shared by the unit tests: a collecting sink, tiny DoFns, a runner shortcut.

Nothing here depends on ``fluvial.transforms``; every transform is written with ParDo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fluvial as fl
from fluvial.window import GlobalWindow


class Collected:
    """What a :class:`CollectSink` saw: one record per element."""

    def __init__(self) -> None:
        self.records: list[tuple[Any, int, tuple, Any]] = []

    def values(self) -> list[Any]:
        return [r[0] for r in self.records]

    def sorted_values(self) -> list[Any]:
        return sorted(self.values(), key=repr)

    def with_windows(self) -> list[tuple[Any, Any]]:
        """(value, (start_ms, end_ms) | None) per element and window."""
        out = []
        for v, _, ws, _ in self.records:
            for w in ws:
                out.append((v, None if isinstance(w, GlobalWindow) else (w.start_ms, w.end_ms)))
        return out

    def panes(self) -> list[tuple[Any, tuple, int, Any]]:
        """(value, window bounds, timestamp_ms, pane) per element, in arrival order."""
        out = []
        for v, ts, ws, pane in self.records:
            w = ws[0]
            b = None if isinstance(w, GlobalWindow) else (w.start_ms, w.end_ms)
            out.append((v, b, ts, pane))
        return out


class _CollectWriter(fl.SinkWriter):
    def __init__(self, box: Collected) -> None:
        self.box = box

    def write(self, batch: list) -> None:
        for wv in batch:
            self.box.records.append((wv.value, wv.timestamp, tuple(wv.windows), wv.pane))


class CollectSink(fl.Sink):
    """A sink that records every element (value, timestamp, windows, pane) in memory."""

    def __init__(self, box: Collected) -> None:
        self.box = box

    def open(self, ctx: Any) -> fl.SinkWriter:
        return _CollectWriter(self.box)


def collect(pcoll: Any, label: str = "Collect") -> Collected:
    box = Collected()
    pcoll | label >> fl.Write(CollectSink(box))
    return box


class MapFn(fl.DoFn):
    """One output per element: ``fn(x)``."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def process(self, x):
        yield self.fn(x)


class FlatMapFn(fl.DoFn):
    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def process(self, x):
        yield from self.fn(x)


def pmap(fn: Callable[[Any], Any]) -> fl.ParDo:
    return fl.ParDo(MapFn(fn))


def pipeline(*args: str) -> fl.Pipeline:
    return fl.Pipeline(argv=list(args))


def tv(value: Any, seconds: float) -> fl.TimestampedValue:
    return fl.TimestampedValue(value, seconds)


# -- a two-phase-commit test sink ------------------------------------------------------------

import json  # noqa: E402
import os  # noqa: E402


def _record(wv: Any) -> str:
    w = wv.windows[0] if wv.windows else None
    bounds = None if w is None or isinstance(w, GlobalWindow) else [w.start_ms, w.end_ms]
    return json.dumps([wv.value, wv.timestamp, bounds], sort_keys=True, default=repr)


class _StagingWriter(fl.SinkWriter):
    def __init__(self, directory: str) -> None:
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.pending: list[str] = []
        self.log("open")

    # bookkeeping
    def log(self, event: str) -> None:
        with open(os.path.join(self.dir, "events.log"), "a") as f:
            f.write(event + "\n")

    def _staged(self) -> list[tuple[int, str]]:
        out = []
        for name in os.listdir(self.dir):
            if name.startswith("staged-") and name.endswith(".jsonl"):
                out.append((int(name[len("staged-") : -len(".jsonl")]), os.path.join(self.dir, name)))
        return sorted(out)

    def _commit(self, path: str) -> None:
        with open(path) as f:
            data = f.read()
        with open(os.path.join(self.dir, "committed.jsonl"), "a") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.remove(path)

    # SinkWriter
    def write(self, batch: list) -> None:
        self.pending.extend(_record(wv) for wv in batch)

    def snapshot(self, checkpoint_id: int) -> Any:
        path = os.path.join(self.dir, f"staged-{checkpoint_id}.jsonl")
        with open(path + ".tmp", "w") as f:
            f.writelines(line + "\n" for line in self.pending)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)
        self.pending = []
        self.log(f"snapshot {checkpoint_id}")
        return {"checkpoint_id": checkpoint_id}

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        for cid, path in self._staged():
            if cid <= checkpoint_id:
                self._commit(path)
        self.log(f"notify {checkpoint_id}")

    def restore(self, state: Any) -> None:
        cid = None if state is None else state["checkpoint_id"]
        self.log(f"restore {cid}")
        for sid, path in self._staged():
            if cid is not None and sid <= cid:
                self._commit(path)  # covered by the restored checkpoint: commit
            else:
                os.remove(path)  # written after it: abort

    def close(self) -> None:
        self.log("close")

    def abort(self) -> None:
        self.pending = []
        self.log("abort")


class StagingSink(fl.Sink):
    """Stages output per checkpoint and commits it when the checkpoint completes; restore
    commits what the restored checkpoint covered and aborts the rest. Files in ``directory``:
    ``committed.jsonl`` (one JSON ``[value, timestamp_ms, window]`` per line),
    ``staged-<id>.jsonl`` and ``events.log`` (the hook calls, in order)."""

    def __init__(self, directory: str) -> None:
        self.directory = str(directory)

    def open(self, ctx: Any) -> fl.SinkWriter:
        return _StagingWriter(self.directory)

    def committed(self) -> list[Any]:
        path = os.path.join(self.directory, "committed.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def events(self) -> list[str]:
        path = os.path.join(self.directory, "events.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]


class CrashOnce(fl.DoFn):
    """Raises :class:`Crash` the first time it sees ``value == crash_at`` (a marker file makes
    the restarted run pass); passes everything through."""

    def __init__(self, crash_at: Any, marker: str, key: Callable[[Any], Any] = lambda x: x) -> None:
        self.crash_at = crash_at
        self.marker = str(marker)
        self.key = key

    def process(self, x):
        if self.key(x) == self.crash_at and not os.path.exists(self.marker):
            with open(self.marker, "w") as f:
                f.write("crashed")
            raise Crash(f"simulated crash at {x!r}")
        yield x


class Crash(Exception):
    pass
