"""WriteToSqlite: upserts, the two-phase-commit protocol step by step (a crash between any
two steps is a new writer that restores the last durable checkpoint), and its errors."""

from __future__ import annotations

import os
import sqlite3

import pytest

import fluvial as fl
from fluvial.errors import BadRecordError
from fluvial.transforms import Map
from fluvial.transforms.io import SqliteSink, WriteToSqlite
from fluvial.values import GLOBAL_WINDOWS, WindowedValue


class Ctx:
    label = "Out/Write"


def wv(v):
    return WindowedValue(v, 0, GLOBAL_WINDOWS, None)


def rows(db, table="t"):
    with sqlite3.connect(db) as c:
        return c.execute(f"SELECT k, n FROM {table} ORDER BY k").fetchall()


def staged(db, table="t"):
    with sqlite3.connect(db) as c:
        return c.execute(f"SELECT k, n FROM fluvial_staging__{table} ORDER BY k").fetchall()


def commits(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT sink_id, checkpoint_id FROM fluvial_sink_commits").fetchall()


def count_changes(db, table="t"):
    """Install triggers counting every insert and update on ``table``: a row applied twice
    shows up as an update even when the upsert leaves the same values behind."""
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE changes (kind TEXT, k TEXT)")
        c.execute(f"CREATE TRIGGER ti AFTER INSERT ON {table} BEGIN "
                  "INSERT INTO changes VALUES ('insert', NEW.k); END")
        c.execute(f"CREATE TRIGGER tu AFTER UPDATE ON {table} BEGIN "
                  "INSERT INTO changes VALUES ('update', NEW.k); END")


def changes(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT kind, k FROM changes ORDER BY rowid").fetchall()


def sink(db):
    return SqliteSink(str(db), "t", ["k"], ["k", "n"])


def test_pipeline_upserts_last_value_per_key(tmp_path):
    db = str(tmp_path / "o.db")
    with fl.Pipeline(argv=["--runner", "direct"]) as p:
        _ = p | fl.Create([{"k": "a", "n": 1}, {"k": "b", "n": 2}, {"k": "a", "n": 3}]) | (
            WriteToSqlite(db, "t", ["k"], ["k", "n"]))
    assert rows(db) == [("a", 3), ("b", 2)]
    assert staged(db) == []
    assert commits(db) == [("WriteToSqlite/Write", 1)]


def test_pipeline_with_checkpoints_and_row_fn(tmp_path):
    db = str(tmp_path / "o.db")
    ck = str(tmp_path / "ck")
    p = fl.Pipeline(argv=["--checkpoint-dir", ck, "--checkpoint-interval", "0",
                          "--batch-size", "2"])
    _ = (p | fl.Create([("x", 1), ("y", 2), ("z", 3), ("x", 4), ("w", 5)])
         | "Db" >> WriteToSqlite(db, "t", ["k"], row_fn=lambda kv: {"k": kv[0], "n": kv[1]}))
    r = p.run()
    assert rows(db) == [("w", 5), ("x", 4), ("y", 2), ("z", 3)]
    assert r.info["checkpoints_taken"] >= 3
    assert commits(db)[0][0] == "Db/Write"
    assert staged(db) == []


def test_commit_only_after_notify(tmp_path):
    db = tmp_path / "o.db"
    w = sink(db).open(Ctx())
    w.write([wv({"k": "a", "n": 1})])
    state = w.snapshot(1)
    assert rows(db) == [] and staged(db) == [("a", 1)]
    w.notify_checkpoint_complete(1)
    assert rows(db) == [("a", 1)] and staged(db) == []
    assert commits(db) == [("Out/Write", 1)]
    assert state["checkpoint_id"] == 1 and state["sink_id"] == "Out/Write"


def test_crash_after_checkpoint_before_notify_restore_commits(tmp_path):
    db = tmp_path / "o.db"
    w = sink(db).open(Ctx())
    w.write([wv({"k": "a", "n": 1}), wv({"k": "b", "n": 2})])
    state = w.snapshot(1)
    # the process dies here: the checkpoint holding `state` is durable, notify never ran
    w2 = sink(db).open(Ctx())
    w2.restore(state)
    assert rows(db) == [("a", 1), ("b", 2)]
    assert commits(db) == [("Out/Write", 1)]
    assert staged(db) == []


def test_crash_before_checkpoint_file_discards_newer_staged_rows(tmp_path):
    db = tmp_path / "o.db"
    w = sink(db).open(Ctx())
    w.write([wv({"k": "a", "n": 1})])
    s1 = w.snapshot(1)
    w.notify_checkpoint_complete(1)
    w.write([wv({"k": "a", "n": 10}), wv({"k": "c", "n": 3})])
    w.snapshot(2)  # staged, but the process dies before checkpoint 2 is written
    assert staged(db) == [("a", 10), ("c", 3)]
    w2 = sink(db).open(Ctx())
    w2.restore(s1)
    assert rows(db) == [("a", 1)]
    assert staged(db) == []
    # the replay after the restore stages and commits them under checkpoint 2 again
    w2.write([wv({"k": "a", "n": 10}), wv({"k": "c", "n": 3})])
    w2.snapshot(2)
    w2.notify_checkpoint_complete(2)
    assert rows(db) == [("a", 10), ("c", 3)]
    assert commits(db) == [("Out/Write", 2)]


def test_restore_is_idempotent(tmp_path):
    db = tmp_path / "o.db"
    w = sink(db).open(Ctx())
    count_changes(db)
    w.write([wv({"k": "a", "n": 1})])
    s1 = w.snapshot(1)
    w.notify_checkpoint_complete(1)
    for _ in range(3):  # restart after restart from the same checkpoint
        sink(db).open(Ctx()).restore(s1)
    assert rows(db) == [("a", 1)]
    assert changes(db) == [("insert", "a")]


def test_failed_commit_transaction_leaves_everything_to_the_restore(tmp_path):
    db = tmp_path / "o.db"
    w = sink(db).open(Ctx())
    with sqlite3.connect(db) as c:  # the commit fails half-way: at the second row
        c.execute("CREATE TABLE fail (on_key TEXT)")
        c.execute("INSERT INTO fail VALUES ('b')")
        c.execute("CREATE TRIGGER boom BEFORE INSERT ON t WHEN NEW.k IN (SELECT on_key FROM "
                  "fail) BEGIN SELECT RAISE(ABORT, 'injected'); END")
    w.write([wv({"k": "a", "n": 1}), wv({"k": "b", "n": 2})])
    state = w.snapshot(1)
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        w.notify_checkpoint_complete(1)
    assert rows(db) == [] and commits(db) == []  # rolled back: not even row "a"
    assert staged(db) == [("a", 1), ("b", 2)]
    w.abort()
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM fail")
    sink(db).open(Ctx()).restore(state)
    assert rows(db) == [("a", 1), ("b", 2)]
    assert commits(db) == [("Out/Write", 1)]


def test_abort_discards_unstaged_rows(tmp_path):
    db = tmp_path / "o.db"
    w = sink(db).open(Ctx())
    w.write([wv({"k": "a", "n": 1})])
    s1 = w.snapshot(1)
    w.write([wv({"k": "b", "n": 2})])
    w.abort()
    w2 = sink(db).open(Ctx())
    w2.restore(s1)
    assert rows(db) == [("a", 1)]
    assert staged(db) == []


def test_fresh_run_ignores_rows_staged_by_an_abandoned_run(tmp_path):
    db = tmp_path / "o.db"
    old = sink(db).open(Ctx())
    old.write([wv({"k": "old", "n": 9})])
    old.snapshot(1)  # staged; its checkpoint directory is then thrown away
    new = sink(db).open(Ctx())  # a fresh run: no restore, checkpoint ids start at 1 again
    new.write([wv({"k": "a", "n": 1})])
    new.snapshot(1)
    new.notify_checkpoint_complete(1)
    assert rows(db) == [("a", 1)]
    assert staged(db) == []


def test_checkpoint_ids_of_an_earlier_run_do_not_hide_a_new_runs_commits(tmp_path):
    db = tmp_path / "o.db"
    old = sink(db).open(Ctx())
    old.write([wv({"k": "a", "n": 1})])
    old.snapshot(57)
    old.notify_checkpoint_complete(57)
    new = sink(db).open(Ctx())  # new checkpoint dir: its ids restart at 1
    new.write([wv({"k": "b", "n": 2})])
    s1 = new.snapshot(1)
    sink(db).open(Ctx()).restore(s1)  # died before notify(1)
    assert rows(db) == [("a", 1), ("b", 2)]
    assert commits(db) == [("Out/Write", 1)]


def test_rows_of_later_checkpoints_win(tmp_path):
    db = tmp_path / "o.db"
    w = sink(db).open(Ctx())
    w.write([wv({"k": "a", "n": 1})])
    w.snapshot(1)
    w.write([wv({"k": "a", "n": 2})])
    s2 = w.snapshot(2)
    sink(db).open(Ctx()).restore(s2)  # commits both checkpoints in one transaction, in order
    assert rows(db) == [("a", 2)]


def test_two_sinks_share_one_table_with_their_own_commit_records(tmp_path):
    db = str(tmp_path / "o.db")
    with fl.Pipeline(argv=[]) as p:
        pc = p | fl.Create([{"k": "a", "n": 1}, {"k": "b", "n": 2}])
        _ = pc | "One" >> WriteToSqlite(db, "t", ["k"], ["k", "n"])
        _ = pc | "Two" >> WriteToSqlite(db, "u", ["k"], ["k", "n"], sink_id="second")
    assert rows(db, "t") == rows(db, "u") == [("a", 1), ("b", 2)]
    assert sorted(commits(db)) == [("One/Write", 1), ("second", 1)]


def test_missing_non_key_column_is_null_and_existing_table_is_used(tmp_path):
    db = str(tmp_path / "o.db")
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE t (k TEXT UNIQUE, n INTEGER, extra TEXT DEFAULT 'x')")
    with fl.Pipeline(argv=[]) as p:
        _ = p | fl.Create([{"k": "a"}, {"k": "b", "n": 2}]) | WriteToSqlite(
            db, "t", ["k"], ["k", "n"])
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT k, n, extra FROM t ORDER BY k").fetchall() == [
            ("a", None, "x"), ("b", 2, "x")]


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(table="t; DROP TABLE x", key_columns=["k"]), "table name"),
        (dict(table="t", key_columns=["k k"]), "key column"),
        (dict(table="t", key_columns=["k"], columns=["k", "1n"]), "column name"),
        (dict(table="t", key_columns=["k"], columns=["n"]), "key columns ['k'] are not among"),
        (dict(table="t", key_columns="k"), "non-empty list"),
        (dict(table="fluvial_sink_commits", key_columns=["k"]), "fluvial_"),
        (dict(table="t", key_columns=["k"], columns=["k", "k"]), "duplicate"),
        (dict(table="t", key_columns=["k"], row_fn=3), "row_fn must be callable"),
    ],
)
def test_bad_names_fail_at_construction(tmp_path, kwargs, message):
    with pytest.raises(fl.PipelineConstructionError, match="WriteToSqlite") as ei:
        WriteToSqlite(str(tmp_path / "o.db"), **kwargs)
    assert message in str(ei.value)


def run_one(tmp_path, elements, **kw):
    db = str(tmp_path / "o.db")
    with fl.Pipeline(argv=[]) as p:
        _ = p | fl.Create(elements) | "Out" >> WriteToSqlite(db, "t", ["k"], **kw)
    return db


def test_non_dict_element_names_the_transform(tmp_path):
    with pytest.raises(BadRecordError) as ei:
        run_one(tmp_path, [("a", 1)], columns=["k", "n"])
    msg = str(ei.value)
    assert "'Out/Write'" in msg and "needs dict elements" in msg and "row_fn" in msg


def test_missing_key_column_names_the_element(tmp_path):
    with pytest.raises(BadRecordError) as ei:
        run_one(tmp_path, [{"k": "a", "n": 1}, {"n": 2}], columns=["k", "n"])
    msg = str(ei.value)
    assert "no value for the key columns ['k']" in msg and "{'n': 2}" in msg
    assert rows(str(tmp_path / "o.db")) == []  # the failed run committed nothing


def test_unsupported_value_type(tmp_path):
    with pytest.raises(BadRecordError, match="column 'n' is a list"):
        run_one(tmp_path, [{"k": "a", "n": [1]}], columns=["k", "n"])


def test_existing_table_without_unique_key(tmp_path):
    db = str(tmp_path / "o.db")
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE t (k TEXT, n INTEGER)")
    with pytest.raises(fl.PipelineConstructionError, match="'Out/Write'.*no PRIMARY KEY"):
        run_one(tmp_path, [{"k": "a", "n": 1}], columns=["k", "n"])


def test_existing_table_with_an_integer_primary_key(tmp_path):
    # an INTEGER PRIMARY KEY is SQLite's rowid: it has no index for PRAGMA index_list to show
    db = str(tmp_path / "o.db")
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)")
    with fl.Pipeline(argv=["--runner", "direct"]) as p:
        _ = (p | fl.Create([{"id": 1, "n": 1}, {"id": 2, "n": 2}, {"id": 1, "n": 3}])
             | "Out" >> WriteToSqlite(db, "t", ["id"], ["id", "n"]))
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT id, n FROM t ORDER BY id").fetchall() == [(1, 3), (2, 2)]


def test_committed_after_reads_the_commit_record(tmp_path):
    db = tmp_path / "o.db"
    w = sink(db).open(Ctx())
    w.write([wv({"k": "a", "n": 1})])
    s1 = w.snapshot(1)
    w.notify_checkpoint_complete(1)
    w.write([wv({"k": "b", "n": 2})])
    w.snapshot(2)
    # checkpoint 2 durable, not committed: nothing after checkpoint 1 is committed
    assert w.committed_after(s1, 1) is None
    w.notify_checkpoint_complete(2)
    assert w.committed_after(s1, 1) == (
        f"the rows of checkpoint 2 to table 't' of {db} (fluvial_sink_commits shows it)")
    # another run's commit record: this run has committed nothing since
    other = sink(tmp_path / "other.db").open(Ctx())
    assert other.committed_after({**s1, "run_id": "another"}, 1) is None


def test_abort_drops_rows_staged_for_a_checkpoint_that_was_never_written(tmp_path):
    db = tmp_path / "o.db"
    w = sink(db).open(Ctx())
    w.write([wv({"k": "a", "n": 1})])
    w.snapshot(1)
    w.notify_checkpoint_complete(1)
    w.write([wv({"k": "b", "n": 2})])
    w.snapshot(2)
    w.write([wv({"k": "c", "n": 3})])
    w.snapshot(3)
    w.notify_checkpoint_aborted(3)  # checkpoint 2 may be durable, 3 never will be
    w.abort()
    assert rows(db) == [("a", 1)] and staged(db) == [("b", 2)]


def test_existing_table_without_the_columns(tmp_path):
    db = str(tmp_path / "o.db")
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    with pytest.raises(fl.PipelineConstructionError, match=r"has no columns \['n'\]"):
        run_one(tmp_path, [{"k": "a", "n": 1}], columns=["k", "n"])


# -- bad elements: BadRecordError, never retried by the restart strategy ----------------------

@pytest.mark.parametrize("element, reason", [
    (("a", 1), "needs dict elements"),
    ({"n": 2}, "no value for the key columns ['k']"),
    ({"k": "a", "n": [1]}, "column 'n' is a list"),
])
def test_bad_element_raises_bad_record_error_naming_transform_and_element(tmp_path, element,
                                                                          reason):
    w = sink(tmp_path / "o.db").open(Ctx())
    try:
        with pytest.raises(BadRecordError) as ei:
            w.write([wv({"k": "ok", "n": 0}), wv(element)])
    finally:
        w.abort()
    assert ei.value.label == "Out/Write" and ei.value.element == element
    assert reason in ei.value.reason
    assert "'Out/Write'" in str(ei.value) and repr(element) in str(ei.value)


def test_row_fn_returning_a_non_dict_is_a_bad_record(tmp_path):
    w = SqliteSink(str(tmp_path / "o.db"), "t", ["k"], ["k", "n"], row_fn=lambda x: [x]).open(Ctx())
    try:
        with pytest.raises(BadRecordError, match="row_fn must return a dict"):
            w.write([wv(5)])
    finally:
        w.abort()


SEEN: list = []  # elements reaching the sink's input, over all attempts of a run


def test_bad_record_is_not_retried_by_the_restart_strategy(tmp_path):
    db = str(tmp_path / "o.db")
    SEEN.clear()
    p = fl.Pipeline(argv=["--runner", "direct", "--checkpoint-dir", str(tmp_path / "ck"),
                          "--restart-attempts", "3", "--restart-delay", "0"])
    _ = (p | fl.Create([{"k": "a", "n": 1}, "not a row"])
           | Map(lambda x: SEEN.append(x) or x)
           | "Out" >> WriteToSqlite(db, "t", ["k"], columns=["k", "n"]))
    with pytest.raises(BadRecordError) as ei:
        p.run()
    assert ei.value.label == "Out/Write" and ei.value.element == "not a row"
    assert SEEN == [{"k": "a", "n": 1}, "not a row"]  # one attempt: no restart
    assert rows(db) == []


# -- the connection is closed on every failure path -------------------------------------------

def open_fds(path) -> int:
    """How many file descriptors of this process refer to ``path``."""
    target = os.path.realpath(str(path))
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                n += 1
        except OSError:
            pass
    return n


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc")
def test_construction_failure_closes_the_connection(tmp_path):
    db = tmp_path / "o.db"
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE t (k TEXT, n INTEGER)")  # no unique key: _ensure_tables fails
    c.close()
    with pytest.raises(fl.PipelineConstructionError, match="no PRIMARY KEY") as ei:
        sink(db).open(Ctx())
    # the traceback keeps the half-built writer alive: its connection must be closed anyway
    assert ei.traceback is not None
    assert open_fds(db) == 0


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc")
def test_close_closes_the_connection_when_the_final_commit_fails(tmp_path):
    db = tmp_path / "o.db"
    w = sink(db).open(Ctx())
    w.write([wv({"k": "a", "n": 1})])
    assert open_fds(db) == 1
    c = sqlite3.connect(db)
    c.execute("DROP TABLE fluvial_staging__t")  # the final snapshot cannot stage
    c.close()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        w.close()
    assert w.closed and open_fds(db) == 0
