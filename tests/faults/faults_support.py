"""Helpers of the fault suite: a sink wrapper that fails at one step of the two-phase commit, a
pipeline over the three exactly-once sinks whose expected output is known by construction, and
readers of what each sink committed.

The pipeline: ``Create(range(N))`` read ``BATCH`` elements per poll with
``--checkpoint-interval 0``, so checkpoint ``k`` (k = 1 .. N / BATCH) covers exactly the
elements ``0 .. BATCH * k - 1``, and every such checkpoint has output in every sink. Element
``i`` is written as ``{"id": i, "sq": i * i}``.
"""

from __future__ import annotations

import glob
import json
import os
import sqlite3
from typing import Any

import fluvial as fl
from fluvial.transforms import Map
from fluvial.transforms.io import WriteToJsonLines, WriteToSqlite
from fluvial.transforms.kafka import KafkaSink, WriteToKafka

N = 40
BATCH = 5
EXPECTED = [{"id": i, "sq": i * i} for i in range(N)]


class Boom(Exception):
    """The failure a :class:`FailingSink` raises."""


class _Writer(fl.SinkWriter):
    def __init__(self, inner: fl.SinkWriter, fail_at: tuple[str, int] | None) -> None:
        self.inner = inner
        self.fail_at = fail_at

    def _maybe_fail(self, hook: str, checkpoint_id: int) -> None:
        if self.fail_at == (hook, checkpoint_id):
            raise Boom(f"{hook} of checkpoint {checkpoint_id}")

    def write(self, batch: list) -> None:
        self.inner.write(batch)

    def snapshot(self, checkpoint_id: int) -> Any:
        self._maybe_fail("snapshot", checkpoint_id)
        return self.inner.snapshot(checkpoint_id)

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        self._maybe_fail("notify", checkpoint_id)
        self.inner.notify_checkpoint_complete(checkpoint_id)

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        self.inner.notify_checkpoint_aborted(checkpoint_id)

    def committed_after(self, state: Any, checkpoint_id: int) -> str | None:
        return self.inner.committed_after(state, checkpoint_id)

    def restore(self, state: Any) -> None:
        self.inner.restore(state)

    def close(self) -> None:
        self.inner.close()

    def abort(self) -> None:
        self.inner.abort()


class FailingSink(fl.Sink):
    """``sink`` whose writer raises :class:`Boom` before ``hook`` ("snapshot" or "notify") of
    checkpoint ``checkpoint_id`` (``fail_at=(hook, checkpoint_id)``; None: never)."""

    def __init__(self, sink: fl.Sink, fail_at: tuple[str, int] | None = None) -> None:
        self.sink = sink
        self.fail_at = fail_at
        self.exactly_once = sink.exactly_once
        self.opens = 0  # writers opened: one per attempt of a run

    def open(self, ctx: Any) -> fl.SinkWriter:
        self.opens += 1
        return _Writer(self.sink.open(ctx), self.fail_at)

    def display_name(self) -> str:
        return self.sink.display_name()


class FailingWrite(fl.PTransform):
    """What the IO write transforms expand to (``"Write" >> Write(sink)``), the sink wrapped."""

    def __init__(self, sink: fl.Sink, fail_at: tuple[str, int] | None = None) -> None:
        self.sink = FailingSink(sink, fail_at)

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "Write" >> fl.Write(self.sink)


class Outputs:
    """Where the pipeline's sinks write, and what they committed."""

    def __init__(self, root: str, sinks: tuple[str, ...], bootstrap: str | None = None,
                 topic: str | None = None) -> None:
        self.root = str(root)
        self.sinks = sinks
        self.prefix = os.path.join(self.root, "files", "rows")
        self.db = os.path.join(self.root, "out.db")
        self.bootstrap = bootstrap
        self.topic = topic
        self.wrappers: list[FailingSink] = []  # the sinks of the last build, in order
        if "sql" in sinks:
            prepare_db(self.db)

    def build(self, p: fl.Pipeline, fail_at: tuple[str, int] | None = None) -> None:
        """``fail_at`` applies to the first sink of ``self.sinks`` (the first notified)."""
        rows = (p | "Numbers" >> fl.Create(list(range(N)))
                | "Row" >> Map(lambda i: {"id": i, "sq": i * i}))
        self.wrappers = []
        for n, name in enumerate(self.sinks):
            when = fail_at if n == 0 else None
            if name == "files":
                write = FailingWrite(WriteToJsonLines(self.prefix).sink, when)
                _ = rows | "Files" >> write
            elif name == "sql":
                write = FailingWrite(WriteToSqlite(self.db, "rows", ["id"], ["id", "sq"]).sink,
                                     when)
                _ = rows | "Sql" >> write
            elif name == "kafka":
                write = FailingWrite(KafkaSink(**WriteToKafka(
                    bootstrap_servers=self.bootstrap, topic=self.topic, key_serializer="str",
                    value_serializer="json", delivery="exactly_once").cfg), when)
                _ = rows | "Keyed" >> Map(lambda r: (str(r["id"]), r)) | "Kafka" >> write
            else:  # pragma: no cover
                raise ValueError(name)
            self.wrappers.append(write.sink)

    def committed(self) -> dict[str, list[dict]]:
        """Per sink, the committed rows sorted by id (duplicates kept)."""
        out: dict[str, list[dict]] = {}
        if "files" in self.sinks:
            out["files"] = sorted(file_rows(self.prefix), key=lambda r: r["id"])
        if "sql" in self.sinks:
            out["sql"] = sql_rows(self.db)
        if "kafka" in self.sinks:
            from committed_view import committed_view

            view = committed_view(self.bootstrap, self.topic)
            out["kafka"] = sorted((json.loads(r.value) for r in view.committed),
                                  key=lambda r: r["id"])
        return out

    def leftovers(self) -> list[str]:
        """Staged output left behind: in-progress parts and staged SQLite rows."""
        left = []
        if "files" in self.sinks and os.path.isdir(os.path.dirname(self.prefix)):
            left += [n for n in os.listdir(os.path.dirname(self.prefix)) if ".inprogress." in n]
        if "sql" in self.sinks:
            with sqlite3.connect(self.db) as c:
                if c.execute("SELECT name FROM sqlite_master WHERE name='fluvial_staging__rows'"
                             ).fetchall():
                    n = c.execute("SELECT COUNT(*) FROM fluvial_staging__rows").fetchone()[0]
                    left += [f"{n} staged rows"] if n else []
        return left

    def sql_changes(self) -> list[tuple[str, int]]:
        """Every insert and update the table saw (an upsert hides a row applied twice)."""
        with sqlite3.connect(self.db) as c:
            return sorted(c.execute("SELECT kind, id FROM changes"))


class Collected(fl.Sink):
    """A sink keeping (value, timestamp_ms) of every element in memory (``.items``), and its
    pane info (``.panes``, in the same order)."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, int]] = []
        self.panes: list[Any] = []

    def open(self, ctx: Any) -> fl.SinkWriter:
        box = self

        class _W(fl.SinkWriter):
            def write(self, batch: list) -> None:
                box.items.extend((wv.value, wv.timestamp) for wv in batch)
                box.panes.extend(wv.pane for wv in batch)

        return _W()


def collect(pcoll: Any, label: str) -> Collected:
    sink = Collected()
    _ = pcoll | label >> fl.Write(sink)
    return sink


def prepare_db(db: str) -> None:
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, sq INTEGER)")
        c.execute("CREATE TABLE changes (kind TEXT, id INTEGER)")
        c.execute("CREATE TRIGGER ti AFTER INSERT ON rows BEGIN INSERT INTO changes VALUES "
                  "('insert', NEW.id); END")
        c.execute("CREATE TRIGGER tu AFTER UPDATE ON rows BEGIN INSERT INTO changes VALUES "
                  "('update', NEW.id); END")


def file_rows(prefix: str) -> list[dict]:
    out = []
    for path in sorted(glob.glob(prefix + "-*.jsonl")):
        with open(path) as f:
            out += [json.loads(line) for line in f if line.strip()]
    return out


def sql_rows(db: str) -> list[dict]:
    with sqlite3.connect(db) as c:
        return [{"id": i, "sq": s} for i, s in c.execute("SELECT id, sq FROM rows ORDER BY id")]


def pipeline(ck: str, *extra: str) -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "direct", "--checkpoint-dir", ck,
                             "--checkpoint-interval", "0", "--batch-size", str(BATCH), *extra])


def checkpoint_ids(ck: str) -> list[int]:
    return sorted(int(n[4:14]) for n in os.listdir(ck)
                  if n.startswith("chk-") and n.endswith(".ckpt"))


def truncate(path: str) -> bytes:
    """Cut the file to half its size; its original bytes."""
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "r+b") as f:
        f.truncate(len(data) // 2)
    return data
