"""Exactly-once upserts into a SQLite table, committed atomically with the checkpoint id.

``WriteToSqlite(path, table, key_columns, columns=...)`` writes each element (a dict, or what
``row_fn`` turns it into) as one row, inserting it or updating the row with the same key.

**Protocol.** Rows written between two checkpoints are buffered in memory (the last row per key
wins). ``snapshot(cid)`` writes them, in one SQLite transaction, into a staging table
``fluvial_staging__<table>`` tagged with the sink id, the run id and ``cid``: they are durable
before the checkpoint that covers them is written. ``notify_checkpoint_complete(cid)`` then, in
**one** transaction, upserts every staged row with checkpoint id ``<= cid`` into the table,
deletes them from the staging table and records ``(sink_id, run_id, cid)`` in
``fluvial_sink_commits``. After a restart, ``restore(state)`` does the same for the restored
checkpoint unless ``fluvial_sink_commits`` shows it was already committed (so it is
idempotent), and deletes staged rows newer than that checkpoint, or staged by an abandoned run.

Wherever the process dies, the table holds exactly the rows of the checkpoints that completed:
before the checkpoint file is written, the staged rows are discarded by the restore; after it,
they are committed by ``notify`` or by the restore, never twice (the commit record is part of
the same transaction as the rows). ``abort()`` drops the rows no snapshot staged, and the rows
staged for checkpoints that could not be written (``notify_checkpoint_aborted``); other staged
rows stay for the restore to decide.

**Falling back.** When the newest checkpoint is damaged, the runner may resume from the one
before only if ``committed_after(state, id)`` finds that this run's commit record is not past
that checkpoint (a later commit would be applied again by the replay). A commit record of
another run of the same sink id means this run committed nothing since (its commits would have
replaced it).

An element that cannot be a row (not a dict and no ``row_fn``, a key column without a value, a
value SQLite cannot store) raises :class:`~fluvial.errors.BadRecordError` naming the transform
and the element; ``--restart-attempts`` never retries it.

The run id is drawn when a run starts without a checkpoint and carried in the checkpoints, so a
pipeline started afresh (a new ``--checkpoint-dir``) never confuses its checkpoint ids with an
earlier run's. One sink id (default: the transform label) must not be written by two running
pipelines at once.

>>> import os, sqlite3, tempfile
>>> import fluvial as fl
>>> db = os.path.join(tempfile.mkdtemp(), "out.db")
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     _ = (p | fl.Create([{"k": "a", "n": 1}, {"k": "b", "n": 2}, {"k": "a", "n": 3}])
...          | WriteToSqlite(db, "totals", key_columns=["k"], columns=["k", "n"]))
>>> sqlite3.connect(db).execute("SELECT k, n FROM totals ORDER BY k").fetchall()
[('a', 3), ('b', 2)]
"""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from fluvial.errors import BadRecordError, PipelineConstructionError, bounded_repr
from fluvial.ptransform import PTransform
from fluvial.sink import Sink, SinkWriter, Write

__all__ = ["SqliteSink", "SqliteSinkWriter", "WriteToSqlite", "COMMITS_TABLE"]

COMMITS_TABLE = "fluvial_sink_commits"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SQL_TYPES = (type(None), int, float, str, bytes)
_META = ("fluvial_sink_id", "fluvial_run_id", "fluvial_checkpoint_id", "fluvial_seq")


def _check_ident(what: str, name: Any) -> str:
    if not isinstance(name, str) or not _IDENT.match(name) or name.lower().startswith("fluvial_"):
        raise PipelineConstructionError(
            f"WriteToSqlite: {what} must be a plain SQL identifier (letters, digits, '_', not "
            f"starting with a digit or 'fluvial_'), got {name!r}"
        )
    return name


def _q(name: str) -> str:
    return f'"{name}"'


class SqliteSinkWriter(SinkWriter):
    """Stages rows per checkpoint and commits them with the checkpoint id (module docstring)."""

    def __init__(self, sink: SqliteSink, label: str) -> None:
        self.sink = sink
        self.label = label
        self.sink_id = sink.sink_id or label
        self.run_id = uuid.uuid4().hex
        self.columns: list[str] | None = list(sink.columns) if sink.columns else None
        self.buffer: dict[tuple, tuple] = {}
        self.last_staged = 0  # highest checkpoint id staged by this writer
        self.committed = 0  # highest checkpoint id committed by this writer
        self.aborted: set[int] = set()  # checkpoints that will never complete
        self.closed = False
        d = os.path.dirname(os.path.abspath(sink.path))
        os.makedirs(d, exist_ok=True)
        self.db = sqlite3.connect(sink.path, isolation_level=None, check_same_thread=False)
        try:
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute(
                f"CREATE TABLE IF NOT EXISTS {COMMITS_TABLE} (sink_id TEXT PRIMARY KEY, "
                "run_id TEXT NOT NULL, checkpoint_id INTEGER NOT NULL)"
            )
            if self.columns is None:
                existing = self._table_columns()
                if existing:
                    self.columns = existing
            if self.columns is not None:
                self._ensure_tables()
        except BaseException:
            self.db.close()
            self.closed = True
            raise

    # -- schema ---------------------------------------------------------------------------------
    def _table_columns(self) -> list[str]:
        return [r[1] for r in self.db.execute(f"PRAGMA table_info({_q(self.sink.table)})")]

    def _err(self, msg: str) -> PipelineConstructionError:
        return PipelineConstructionError(f"transform '{self.label}': {msg}")

    def _ensure_tables(self) -> None:
        cols = self.columns
        assert cols is not None
        table, keys = self.sink.table, self.sink.key_columns
        for c in cols:
            _check_ident("column name", c)
        missing = [k for k in keys if k not in cols]
        if missing:
            raise self._err(f"key columns {missing} are not among the columns {cols}")
        existing = self._table_columns()
        if not existing:
            coldefs = ", ".join(_q(c) for c in cols)
            pk = ", ".join(_q(k) for k in keys)
            self.db.execute(f"CREATE TABLE IF NOT EXISTS {_q(table)} ({coldefs}, PRIMARY KEY ({pk}))")
        else:
            absent = [c for c in cols if c not in existing]
            if absent:
                raise self._err(
                    f"table {table!r} in {self.sink.path} has no columns {absent} (it has "
                    f"{existing}); add them, or write to a new table"
                )
            if not self._has_unique_key(keys):
                raise self._err(
                    f"table {table!r} has no PRIMARY KEY or UNIQUE index on exactly {keys}; "
                    "upserts need one: create it, or write to a new table"
                )
        meta = ", ".join(_q(c) for c in _META)
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS {_q(self._staging)} "
            f"({meta}, {', '.join(_q(c) for c in cols)})"
        )
        self.db.execute(
            f"CREATE INDEX IF NOT EXISTS {_q(self._staging + '_by_sink')} ON "
            f"{_q(self._staging)} (fluvial_sink_id, fluvial_checkpoint_id)"
        )
        col_list = ", ".join(_q(c) for c in cols)
        updates = ", ".join(f"{_q(c)}=excluded.{_q(c)}" for c in cols if c not in keys)
        conflict = ", ".join(_q(k) for k in keys)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        self._upsert_sql = (
            f"INSERT INTO {_q(table)} ({col_list}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT ({conflict}) {action}"
        )
        self._stage_sql = (
            f"INSERT INTO {_q(self._staging)} ({meta}, {col_list}) "
            f"VALUES ({', '.join('?' * (len(cols) + len(_META)))})"
        )
        self._select_sql = (
            f"SELECT {col_list} FROM {_q(self._staging)} WHERE fluvial_sink_id=? AND "
            "fluvial_run_id=? AND fluvial_checkpoint_id<=? ORDER BY fluvial_checkpoint_id, "
            "fluvial_seq"
        )

    def _has_unique_key(self, keys: Sequence[str]) -> bool:
        want = set(keys)
        # the primary key (an INTEGER PRIMARY KEY is the rowid and has no index to list)
        pk = {r[1] for r in self.db.execute(f"PRAGMA table_info({_q(self.sink.table)})") if r[5]}
        if pk == want:
            return True
        for row in self.db.execute(f"PRAGMA index_list({_q(self.sink.table)})"):
            name, unique = row[1], row[2]
            if unique:
                cols = {r[2] for r in self.db.execute(f"PRAGMA index_info({_q(name)})")}
                if cols == want:
                    return True
        return False

    @property
    def _staging(self) -> str:
        return f"fluvial_staging__{self.sink.table}"

    # -- writing --------------------------------------------------------------------------------
    def _row(self, value: Any) -> dict:
        if self.sink.row_fn is not None:
            row = self.sink.row_fn(value)
            if not isinstance(row, dict):
                raise BadRecordError(
                    self.label, value, f"row_fn must return a dict of column values, got {bounded_repr(row)}"
                )
            return row
        if not isinstance(value, dict):
            raise BadRecordError(
                self.label, value,
                f"WriteToSqlite needs dict elements (column -> value), got a "
                f"{type(value).__name__}; map the elements to dicts first or pass row_fn=...",
            )
        return value

    def write(self, batch: list) -> None:
        if self.closed:
            raise RuntimeError(f"transform '{self.label}': the SQLite sink writer is closed")
        keys = self.sink.key_columns
        buf = self.buffer
        for wv in batch:
            row = self._row(wv.value)
            if self.columns is None:
                self.columns = list(row)
                self._ensure_tables()
            cols = self.columns
            missing = [k for k in keys if row.get(k) is None]
            if missing:
                raise BadRecordError(
                    self.label, wv.value,
                    f"no value for the key columns {missing}; every row needs all of {list(keys)}",
                )
            values = tuple(row.get(c) for c in cols)
            for c, v in zip(cols, values):
                if not isinstance(v, _SQL_TYPES):
                    raise BadRecordError(
                        self.label, wv.value,
                        f"column {c!r} is a {type(v).__name__}; SQLite stores None, int, float, "
                        "str and bytes: convert it with row_fn",
                    )
            key = tuple(row[k] for k in keys)
            buf.pop(key, None)  # re-insert so that the order is the order of the last writes
            buf[key] = values

    # -- checkpoints ----------------------------------------------------------------------------
    def _discard_stale(self, keep_upto: int) -> None:
        """Delete staged rows of other runs of this sink id, and this run's rows beyond
        ``keep_upto`` (called inside a transaction)."""
        if self.columns is None:
            return
        self.db.execute(
            f"DELETE FROM {_q(self._staging)} WHERE fluvial_sink_id=? AND (fluvial_run_id<>? OR "
            "fluvial_checkpoint_id>?)",
            (self.sink_id, self.run_id, keep_upto),
        )

    def snapshot(self, checkpoint_id: int) -> dict:
        if self.buffer:
            if self.last_staged == 0:
                self.db.execute("BEGIN IMMEDIATE")
                self._discard_stale(self.committed)
                self.db.execute("COMMIT")
            meta = (self.sink_id, self.run_id, checkpoint_id)
            rows = [(*meta, i, *v) for i, v in enumerate(self.buffer.values())]
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(self._stage_sql, rows)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.buffer = {}
            self.last_staged = checkpoint_id
        return {"sink_id": self.sink_id, "run_id": self.run_id, "checkpoint_id": checkpoint_id}

    def _committed_upto(self) -> int:
        row = self.db.execute(
            f"SELECT run_id, checkpoint_id FROM {COMMITS_TABLE} WHERE sink_id=?", (self.sink_id,)
        ).fetchone()
        if row is None or row[0] != self.run_id:
            return 0
        return int(row[1])

    def _commit(self, checkpoint_id: int) -> None:
        """One transaction: staged rows up to ``checkpoint_id`` into the table, and the commit
        record; nothing if the commit record already covers ``checkpoint_id``."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if self._committed_upto() < checkpoint_id:
                if self.columns is not None:
                    args = (self.sink_id, self.run_id, checkpoint_id)
                    rows = self.db.execute(self._select_sql, args).fetchall()
                    self.db.executemany(self._upsert_sql, rows)
                    self.db.execute(
                        f"DELETE FROM {_q(self._staging)} WHERE fluvial_sink_id=? AND "
                        "fluvial_run_id=? AND fluvial_checkpoint_id<=?",
                        args,
                    )
                self.db.execute(
                    f"INSERT INTO {COMMITS_TABLE} (sink_id, run_id, checkpoint_id) VALUES "
                    "(?, ?, ?) ON CONFLICT (sink_id) DO UPDATE SET run_id=excluded.run_id, "
                    "checkpoint_id=excluded.checkpoint_id",
                    (self.sink_id, self.run_id, checkpoint_id),
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.committed = checkpoint_id

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        if self.last_staged > self.committed:
            self._commit(checkpoint_id)

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        self.aborted.add(checkpoint_id)

    def committed_after(self, state: Any, checkpoint_id: int) -> str | None:
        if state is None:
            return "rows of unknown checkpoints (the older checkpoint has no state for it)"
        row = self.db.execute(
            f"SELECT run_id, checkpoint_id FROM {COMMITS_TABLE} WHERE sink_id=?", (self.sink_id,)
        ).fetchone()
        if row is None or row[0] != state["run_id"] or int(row[1]) <= checkpoint_id:
            return None
        return (f"the rows of checkpoint {row[1]} to table {self.sink.table!r} of {self.sink.path} "
                f"({COMMITS_TABLE} shows it)")

    def restore(self, state: Any) -> None:
        if state is None:
            return
        self.run_id = state["run_id"]
        cid = int(state["checkpoint_id"])
        self._commit(cid)
        self.db.execute("BEGIN IMMEDIATE")
        self._discard_stale(cid)
        self.db.execute("COMMIT")
        self.buffer = {}
        self.last_staged = self.committed = cid

    # -- end ------------------------------------------------------------------------------------
    def close(self) -> None:
        """Successful end of input: commit what is still buffered or staged."""
        if self.closed:
            return
        try:
            if self.buffer or self.last_staged > self.committed:
                cid = max(self.last_staged, self.committed) + 1
                self.snapshot(cid)
                self._commit(cid)
        finally:
            self.db.close()
            self.closed = True

    def abort(self) -> None:
        """Failure: drop the rows no snapshot staged and those staged for checkpoints that could
        not be written; other staged rows wait for the restore."""
        self.buffer = {}
        if self.closed:
            return
        try:
            if self.aborted and self.columns is not None:
                marks = ", ".join("?" * len(self.aborted))
                self.db.execute(
                    f"DELETE FROM {_q(self._staging)} WHERE fluvial_sink_id=? AND "
                    f"fluvial_run_id=? AND fluvial_checkpoint_id IN ({marks})",
                    (self.sink_id, self.run_id, *sorted(self.aborted)),
                )
        except sqlite3.Error:  # best effort: the next restore deletes them too
            pass
        finally:
            self.db.close()
            self.closed = True


class SqliteSink(Sink):
    """The sink behind :class:`WriteToSqlite`."""

    exactly_once = True

    def exactly_once_promise(self) -> str | None:
        return "WriteToSqlite (rows committed exactly once at checkpoints)"

    def __init__(
        self,
        path: str,
        table: str,
        key_columns: Sequence[str],
        columns: Sequence[str] | None = None,
        row_fn: Callable[[Any], dict] | None = None,
        sink_id: str | None = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise PipelineConstructionError(
                f"WriteToSqlite: path must be a database file path, got {path!r}"
            )
        self.path = os.path.expanduser(os.fspath(path))
        self.table = _check_ident("table name", table)
        if isinstance(key_columns, str) or not key_columns:
            raise PipelineConstructionError(
                f"WriteToSqlite: key_columns must be a non-empty list of column names, got "
                f"{key_columns!r}"
            )
        self.key_columns = tuple(_check_ident("key column", k) for k in key_columns)
        if columns is not None:
            if isinstance(columns, str) or not columns:
                raise PipelineConstructionError(
                    f"WriteToSqlite: columns must be a non-empty list of column names, got "
                    f"{columns!r}"
                )
            cols = tuple(_check_ident("column name", c) for c in columns)
            if len(set(cols)) != len(cols):
                raise PipelineConstructionError(f"WriteToSqlite: duplicate columns in {cols}")
            missing = [k for k in self.key_columns if k not in cols]
            if missing:
                raise PipelineConstructionError(
                    f"WriteToSqlite: key columns {missing} are not among the columns {list(cols)}"
                )
            columns = cols
        if row_fn is not None and not callable(row_fn):
            raise PipelineConstructionError(f"WriteToSqlite: row_fn must be callable, got {row_fn!r}")
        self.columns = columns
        self.row_fn = row_fn
        self.sink_id = sink_id

    def open(self, ctx: Any) -> SqliteSinkWriter:
        return SqliteSinkWriter(self, getattr(ctx, "label", None) or "WriteToSqlite")

    def display_name(self) -> str:
        return f"SqliteSink({self.table})"


class WriteToSqlite(PTransform):
    """Upserts each element into ``table`` of the SQLite database ``path``, exactly once under
    checkpoints (see the module docstring for the protocol).

    Elements are dicts (column -> value) or anything ``row_fn`` turns into one; ``columns``
    names the columns written (default: those of an existing table, else the keys of the first
    row); a missing non-key column is written as NULL. The table is created with a primary key
    on ``key_columns`` when it does not exist; an existing table needs a primary key or unique
    index on exactly those columns. ``sink_id`` (default: the transform label) names this sink
    in ``fluvial_sink_commits``.

    >>> t = WriteToSqlite("/tmp/out.db", "totals", key_columns=["user", "window_start"],
    ...                   columns=["user", "window_start", "total"])
    """

    def __init__(
        self,
        path: str,
        table: str,
        key_columns: Sequence[str],
        columns: Sequence[str] | None = None,
        row_fn: Callable[[Any], dict] | None = None,
        *,
        sink_id: str | None = None,
    ) -> None:
        self.sink = SqliteSink(path, table, key_columns, columns, row_fn, sink_id)

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "Write" >> Write(self.sink)
