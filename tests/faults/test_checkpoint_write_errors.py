"""Issue 11, defect 3 (its second half): a full disk gave a bare ``Errno 28`` naming no file,
and left ``chk-N.ckpt.tmp`` and a hidden in-progress sink part behind through every restart.

Now an error writing a checkpoint names the file (CheckpointWriteError, an OSError with the
errno), the temporary file is removed, the sinks hear that the checkpoint will never complete
and discard what they pre-committed for it when the run fails, and the restart strategy may
retry (a full disk is a runtime failure). Checked with a failure injected at the write call and
with a real, tiny tmpfs that fills up.
"""

from __future__ import annotations

import errno
import os
import struct
import subprocess

import pytest
from faults_support import BATCH, EXPECTED, N, Outputs, checkpoint_ids, pipeline

import fluvial as fl
from fluvial.errors import CheckpointWriteError
from fluvial.runners.direct import checkpoint_dir
from fluvial.transforms import Map
from fluvial.transforms.io import WriteToJsonLines


def fill_disk_from(monkeypatch, first: int) -> None:
    """Writes of checkpoint ``first`` and later fail half-way with ENOSPC."""
    real = checkpoint_dir._write_all

    def write_all(fd: int, data: bytes) -> None:
        cid = struct.unpack(">Q", data[8:16])[0]  # the header's checkpoint id
        if cid < first:
            return real(fd, data)
        real(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_dir, "_write_all", write_all)


def test_a_failed_checkpoint_write_names_the_file_and_leaves_nothing_behind(tmp_path,
                                                                            monkeypatch):
    out = Outputs(tmp_path, ("files", "sql"))
    ck = str(tmp_path / "ck")
    fill_disk_from(monkeypatch, 4)
    p = pipeline(ck)
    out.build(p)
    with pytest.raises(CheckpointWriteError) as ei:
        p.run()
    path = os.path.join(ck, "chk-0000000004.ckpt")
    assert str(ei.value) == (f"cannot write checkpoint {path}: No space left on device; free "
                             "space on (or repair) the file system of the checkpoint directory")
    assert ei.value.errno == errno.ENOSPC and ei.value.path == path
    assert isinstance(ei.value, OSError)
    assert sorted(os.listdir(ck)) == [".key", ".lock", "chk-0000000002.ckpt",
                                      "chk-0000000003.ckpt"]
    # the parts and rows pre-committed for checkpoint 4 are gone, what 1-3 covered committed
    assert out.leftovers() == []
    assert out.committed() == {"files": EXPECTED[:3 * BATCH], "sql": EXPECTED[:3 * BATCH]}

    monkeypatch.undo()  # space freed: the next run resumes from checkpoint 3
    p = pipeline(ck)
    out.build(p)
    assert p.run().info["restored_from"] == 3
    assert out.committed() == {"files": EXPECTED, "sql": EXPECTED}
    assert out.sql_changes() == [("insert", i) for i in range(N)]
    assert out.leftovers() == []


def test_a_full_disk_is_retried_and_each_attempt_cleans_up(tmp_path, monkeypatch):
    out = Outputs(tmp_path, ("files", "sql"))
    ck = str(tmp_path / "ck")
    fill_disk_from(monkeypatch, 4)
    p = pipeline(ck, "--restart-attempts", "2", "--restart-delay", "0")
    out.build(p)
    with pytest.raises(CheckpointWriteError, match="chk-0000000004.ckpt: No space left"):
        p.run()
    assert [w.opens for w in out.wrappers] == [3, 3]  # the first attempt and two restarts
    assert not [n for n in os.listdir(ck) if n.endswith(".tmp")]
    assert out.leftovers() == []
    assert out.committed() == {"files": EXPECTED[:3 * BATCH], "sql": EXPECTED[:3 * BATCH]}


def test_a_temporary_file_of_a_killed_run_is_removed_at_the_next_start(tmp_path):
    out = Outputs(tmp_path, ("files",))
    ck = str(tmp_path / "ck")
    p = pipeline(ck)
    out.build(p)
    p.run()
    stale = os.path.join(ck, "chk-0000000099.ckpt.tmp")  # as a SIGKILL while writing leaves it
    with open(stale, "wb") as f:
        f.write(b"half a checkpoint")
    p = pipeline(ck)
    out.build(p)
    p.run()
    assert not os.path.exists(stale)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KiB tmpfs mounted at tmp_path/small (unmounted at teardown)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and the mount capability: "
                    f"{r.stderr.strip()}); the injected ENOSPC tests cover the same code")
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_real_full_disk(tmp_path, tiny_tmpfs):
    # the checkpoints hold a group's values (1 KB per element) and outgrow the 64 KiB disk;
    # the output goes to a file sink on another disk and is committed at every checkpoint
    ck = os.path.join(tiny_tmpfs, "ck")
    n = 200
    out_prefix = str(tmp_path / "out" / "rows")

    def build(p):
        nums = p | "Numbers" >> fl.Create(list(range(n)))
        _ = nums | "Rows" >> WriteToJsonLines(out_prefix)
        _ = (nums | "Big" >> Map(lambda i: ("k", "x" * 1000 + str(i)))
             | "Group" >> fl.GroupByKey() | "Size" >> Map(lambda kv: len(kv[1])))

    p = fl.Pipeline(argv=["--checkpoint-dir", ck, "--checkpoint-interval", "0",
                          "--batch-size", str(BATCH), "--restart-attempts", "1",
                          "--restart-delay", "0"])
    build(p)
    with pytest.raises(CheckpointWriteError) as ei:
        p.run()
    assert ei.value.errno == errno.ENOSPC
    ids = checkpoint_ids(ck)
    assert str(ei.value).startswith(f"cannot write checkpoint {ck}/chk-{ids[-1] + 1:010d}.ckpt: "
                                    "No space left on device")
    assert not [name for name in os.listdir(ck) if name.endswith(".tmp")]
    out_dir = tmp_path / "out"
    assert not [name for name in os.listdir(out_dir) if ".inprogress." in name]
    # exactly the elements of the newest durable checkpoint are committed, each once
    import json

    rows = sorted(json.loads(line) for name in os.listdir(out_dir)
                  for line in open(out_dir / name))
    assert rows == list(range(BATCH * ids[-1]))
