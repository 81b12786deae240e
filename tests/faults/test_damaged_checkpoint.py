"""Issue 11, defect 3: a damaged newest checkpoint blocked every restart with a bare
``UnpicklingError`` naming no file, the older checkpoint was never tried, and
``--restart-attempts`` retried it anyway.

Now a damaged newest checkpoint is reported with its path and skipped for the newest intact
one, provided no exactly-once sink committed anything after that one; otherwise the run is
refused (``CheckpointCorruptError``, naming the file, what was committed, and what to do), and
never retried. Each test runs the real sinks (JSON-lines files, SQLite, and Kafka on the test
broker), alone and together, and checks the committed output element by element: no loss, no
duplicate (SQLite triggers count every insert and update; the Kafka view is the
read_committed view reconstructed from the log).

The pipeline (faults_support): checkpoint k covers elements 0 .. 5k - 1, and each checkpoint
commits 5 rows in every sink.
"""

from __future__ import annotations

import os

import pytest
from faults_support import (
    BATCH,
    EXPECTED,
    Boom,
    N,
    Outputs,
    checkpoint_ids,
    pipeline,
    truncate,
)

from fluvial.errors import CheckpointCorruptError
from fluvial.runners.direct import checkpoint_dir

SINKS = [("files",), ("sql",), ("kafka",), ("files", "sql", "kafka")]
IDS = ["files", "sqlite", "kafka", "all"]


def outputs(tmp_path, sinks, request) -> Outputs:
    if "kafka" not in sinks:
        return Outputs(tmp_path, sinks)
    broker = request.getfixturevalue("kafka_broker")
    topic = request.getfixturevalue("kafka_topic")()
    return Outputs(tmp_path, sinks, broker.bootstrap_servers, topic)


def committed_upto(out: Outputs, n: int) -> dict[str, list[dict]]:
    """What every sink of ``out`` holds when exactly the elements 0 .. n - 1 are committed."""
    return {name: EXPECTED[:n] for name in ("files", "sql", "kafka")
            if name in out.sinks}


def first_run_dies(out: Outputs, ck: str, fail_at: tuple[str, int]) -> None:
    p = pipeline(ck)
    out.build(p, fail_at)
    with pytest.raises(Boom):
        p.run()


@pytest.mark.parametrize("sinks", SINKS, ids=IDS)
def test_truncated_newest_checkpoint_falls_back_when_nothing_after_the_older_one_committed(
        tmp_path, sinks, request):
    out = outputs(tmp_path, sinks, request)
    ck = str(tmp_path / "ck")
    # checkpoint 4 is durable, the run dies before any sink commits it
    first_run_dies(out, ck, ("notify", 4))
    assert checkpoint_ids(ck) == [3, 4]
    assert out.committed() == committed_upto(out, 3 * BATCH)
    newest = os.path.join(ck, "chk-0000000004.ckpt")
    truncate(newest)

    p = pipeline(ck)
    out.build(p)
    result = p.run()
    assert result.info["restored_from"] == 3
    [skipped] = result.info["skipped_checkpoints"]
    assert skipped.startswith(f"{newest}: damaged: truncated")
    assert skipped.endswith(f"(kept as {newest}.damaged)")
    assert os.path.exists(newest + ".damaged")
    # every element exactly once in every sink, nothing left staged
    assert out.committed() == committed_upto(out, N)
    assert out.leftovers() == []
    if "sql" in sinks:
        assert out.sql_changes() == [("insert", i) for i in range(N)]


@pytest.mark.parametrize("sinks", SINKS, ids=IDS)
def test_truncated_newest_checkpoint_is_refused_when_a_sink_committed_after_the_older_one(
        tmp_path, sinks, request):
    out = outputs(tmp_path, sinks, request)
    ck = str(tmp_path / "ck")
    # checkpoint 4 is durable and committed by every sink; the run dies before checkpoint 5
    first_run_dies(out, ck, ("snapshot", 5))
    assert checkpoint_ids(ck) == [3, 4]
    assert out.committed() == committed_upto(out, 4 * BATCH)
    newest = os.path.join(ck, "chk-0000000004.ckpt")
    original = truncate(newest)

    p = pipeline(ck, "--restart-attempts", "3", "--restart-delay", "0")
    out.build(p)
    with pytest.raises(CheckpointCorruptError) as ei:
        p.run()
    msg = str(ei.value)
    assert f"{newest} is damaged: truncated" in msg
    assert os.path.join(ck, "chk-0000000003.ckpt") in msg
    assert f"Restore {newest} from a copy" in msg and "new --checkpoint-dir" in msg
    what = {
        "files": "'Files/Write' committed the parts rows-00000-of-00001_part-00003.jsonl",
        "sql": f"'Sql/Write' committed the rows of checkpoint 4 to table 'rows' of {out.db}",
        "kafka": f"'Kafka/Write' committed the transaction of checkpoint 4 to topic '{out.topic}'",
    }
    for name in sinks:
        assert what[name] in msg, (name, msg)
    # refused at once: one attempt (the sinks were opened once), nothing changed
    assert [w.opens for w in out.wrappers] == [1] * len(sinks)
    assert out.committed() == committed_upto(out, 4 * BATCH)
    assert checkpoint_ids(ck) == [3, 4] and not os.path.exists(newest + ".damaged")

    # the fix the message names: the checkpoint restored from a copy
    with open(newest, "wb") as f:
        f.write(original)
    p = pipeline(ck)
    out.build(p)
    assert p.run().info["restored_from"] == 4
    assert out.committed() == committed_upto(out, N)
    assert out.leftovers() == []
    if "sql" in sinks:
        assert out.sql_changes() == [("insert", i) for i in range(N)]


def test_every_checkpoint_damaged_is_refused_and_not_retried(tmp_path):
    out = Outputs(tmp_path, ("files", "sql"))
    ck = str(tmp_path / "ck")
    first_run_dies(out, ck, ("notify", 4))
    for cid in (3, 4):
        truncate(os.path.join(ck, f"chk-{cid:010d}.ckpt"))
    p = pipeline(ck, "--restart-attempts", "3", "--restart-delay", "0")
    out.build(p)
    with pytest.raises(CheckpointCorruptError, match="no intact checkpoint in") as ei:
        p.run()
    for cid in (3, 4):
        assert f"chk-{cid:010d}.ckpt is damaged: truncated" in str(ei.value)
    assert [w.opens for w in out.wrappers] == [1, 1]
    assert out.committed() == committed_upto(out, 3 * BATCH)


def test_checksum_mismatch_is_damage_and_falls_back(tmp_path):
    out = Outputs(tmp_path, ("files",))
    ck = str(tmp_path / "ck")
    first_run_dies(out, ck, ("notify", 4))
    newest = os.path.join(ck, "chk-0000000004.ckpt")
    with open(newest, "r+b") as f:  # one bit of the payload flipped
        f.seek(-10, os.SEEK_END)
        b = f.read(1)
        f.seek(-10, os.SEEK_END)
        f.write(bytes([b[0] ^ 1]))
    p = pipeline(ck)
    out.build(p)
    result = p.run()
    assert result.info["restored_from"] == 3
    assert "damaged: checksum mismatch" in result.info["skipped_checkpoints"][0]
    assert out.committed() == committed_upto(out, N)


def test_unreadable_newest_checkpoint_falls_back(tmp_path, monkeypatch):
    out = Outputs(tmp_path, ("sql",))
    ck = str(tmp_path / "ck")
    first_run_dies(out, ck, ("notify", 4))
    read = checkpoint_dir.CheckpointDirectory.read

    def failing_read(self, checkpoint_id):  # a disk error on one file
        if checkpoint_id == 4:
            raise OSError(5, "Input/output error")
        return read(self, checkpoint_id)

    monkeypatch.setattr(checkpoint_dir.CheckpointDirectory, "read", failing_read)
    p = pipeline(ck)
    out.build(p)
    result = p.run()
    assert result.info["restored_from"] == 3
    newest = os.path.join(ck, "chk-0000000004.ckpt")
    assert result.info["skipped_checkpoints"] == [
        f"{newest}: unreadable: Input/output error (kept as {newest}.damaged)"]
    assert out.committed() == committed_upto(out, N)
    assert out.sql_changes() == [("insert", i) for i in range(N)]


def test_setting_aside_a_damaged_checkpoint_keeps_the_one_set_aside_before(tmp_path):
    """A run that fell back from a damaged chk-N writes a new chk-N later; if that one is damaged
    too, both are kept for inspection: the second goes to ``.damaged.2``."""
    from fluvial.runners.direct.checkpoint_dir import CheckpointDirectory

    store = CheckpointDirectory.open(str(tmp_path / "ck"))
    try:
        for content in (b"first", b"second"):
            with open(store.file_path(3), "wb") as f:
                f.write(content)
            store.set_aside(3)
        with open(store.file_path(3) + ".damaged", "rb") as f:
            assert f.read() == b"first"
        with open(store.file_path(3) + ".damaged.2", "rb") as f:
            assert f.read() == b"second"
        assert not (tmp_path / "ck" / "chk-0000000003.ckpt").exists()
    finally:
        store.close()
