"""Issue 11, defect 1: checkpoints were pickles, loaded before the graph check, so a file named
like a newer checkpoint planted in the checkpoint directory ran code on the next start; files
were 0644 in a 0755 directory, and a directory another user created first was used as is.

Now: the directory is created 0700 and its files 0600; a directory, key or checkpoint owned by
another user or writable by group/others is refused; every checkpoint is authenticated with the
directory's key and verified before anything is unpickled; a file that is not authentic is
reported and the run refused (never loaded, nothing older tried). The planted pickles here run
``touch MARKER`` through ``os.system`` when unpickled, as the original attack did: the marker
must never appear.
"""

from __future__ import annotations

import os
import pickle
import shutil
import stat

import pytest
from faults_support import EXPECTED, Outputs, checkpoint_ids, pipeline

from fluvial.errors import CheckpointSecurityError

OTHER_UID = 65534  # "nobody"


class Planted:
    """Unpickling runs ``touch <marker>``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def plant(path: str, marker: str) -> None:
    with open(path, "wb") as f:
        pickle.dump(Planted(marker), f)


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def as_other_user(path: str, monkeypatch) -> None:
    """Make ``path`` owned by another user: chown as root, else make this process look like
    another user to the ownership checks."""
    if os.geteuid() == 0:
        os.chown(path, OTHER_UID, OTHER_UID)
    else:
        uid = os.geteuid()
        monkeypatch.setattr(os, "geteuid", lambda: uid + 1)


def completed_run(tmp_path) -> tuple[Outputs, str]:
    out = Outputs(tmp_path, ("files",))
    ck = str(tmp_path / "ck")
    p = pipeline(ck)
    out.build(p)
    p.run()
    return out, ck


def test_the_planted_pickle_would_run_its_command_when_unpickled(tmp_path):
    # the attack of the issue works on anything that unpickles the file
    marker = tmp_path / "pwned"
    plant(str(tmp_path / "x.ckpt"), str(marker))
    with open(tmp_path / "x.ckpt", "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_a_planted_newer_checkpoint_is_refused_and_never_unpickled(tmp_path):
    out, ck = completed_run(tmp_path)
    marker = tmp_path / "pwned"
    planted = os.path.join(ck, "chk-9999999999.ckpt")
    plant(planted, str(marker))
    os.chmod(planted, 0o600)
    p = pipeline(ck)
    out.build(p)
    with pytest.raises(CheckpointSecurityError) as ei:
        p.run()
    assert not marker.exists()
    msg = str(ei.value)
    assert msg.startswith(f"checkpoint {planted} is not authentic: not in the authenticated "
                          "checkpoint format")
    assert "move it out of the directory" in msg
    # once moved away, the pipeline resumes from its own newest checkpoint
    os.remove(planted)
    newest = max(checkpoint_ids(ck))
    p = pipeline(ck)
    out.build(p)
    assert p.run().info["restored_from"] == newest
    assert not marker.exists()
    assert out.committed()["files"] == EXPECTED


def test_a_directory_created_first_by_another_user_is_refused(tmp_path, monkeypatch):
    # the scenario: another user creates the directory the docs suggest, plants a file
    ck = str(tmp_path / "ck")
    os.mkdir(ck, 0o755)
    marker = tmp_path / "pwned"
    plant(os.path.join(ck, "chk-9999999999.ckpt"), str(marker))
    as_other_user(ck, monkeypatch)
    out = Outputs(tmp_path, ("files",))
    p = pipeline(ck)
    out.build(p)
    with pytest.raises(CheckpointSecurityError) as ei:
        p.run()
    assert not marker.exists()
    assert f"checkpoint directory {ck} is owned by uid" in str(ei.value)
    assert "Use a checkpoint directory you created yourself" in str(ei.value)
    assert out.committed()["files"] == []


@pytest.mark.parametrize("bits", [0o777, 0o1777, 0o770, 0o702])
def test_a_directory_writable_by_group_or_others_is_refused(tmp_path, bits):
    ck = str(tmp_path / "ck")
    os.mkdir(ck)
    os.chmod(ck, bits)
    marker = tmp_path / "pwned"
    plant(os.path.join(ck, "chk-9999999999.ckpt"), str(marker))
    p = pipeline(ck)
    Outputs(tmp_path, ("files",)).build(p)
    with pytest.raises(CheckpointSecurityError) as ei:
        p.run()
    assert not marker.exists()
    assert str(ei.value).startswith(
        f"checkpoint directory {ck} is writable by group or others (mode {bits:04o})")
    assert f"Fix: chmod 700 {ck}" in str(ei.value)


def test_new_directory_key_and_checkpoints_are_private(tmp_path):
    out, ck = completed_run(tmp_path)
    assert mode(ck) == 0o700
    assert mode(os.path.join(ck, ".key")) == 0o600
    assert os.path.getsize(os.path.join(ck, ".key")) == 32
    names = [n for n in os.listdir(ck) if n.startswith("chk-")]
    assert len(names) == 2
    assert [mode(os.path.join(ck, n)) for n in names] == [0o600, 0o600]


def test_an_existing_private_directory_of_the_user_is_used(tmp_path):
    ck = str(tmp_path / "ck")
    os.mkdir(ck)
    os.chmod(ck, 0o755)  # readable by others is fine: the key and the checkpoints are 0600
    out = Outputs(tmp_path, ("files",))
    p = pipeline(ck)
    out.build(p)
    assert p.run().info["checkpoints_taken"] > 0
    assert out.committed()["files"] == EXPECTED


def test_a_checkpoint_copied_under_a_newer_name_is_refused(tmp_path):
    out, ck = completed_run(tmp_path)
    newest = max(checkpoint_ids(ck))
    renamed = os.path.join(ck, "chk-9999999999.ckpt")
    shutil.copy(os.path.join(ck, f"chk-{newest:010d}.ckpt"), renamed)
    p = pipeline(ck)
    out.build(p)
    with pytest.raises(CheckpointSecurityError,
                       match=f"it holds checkpoint {newest}, not 9999999999: it was renamed"):
        p.run()


def test_a_checkpoint_signed_with_another_key_is_refused(tmp_path):
    out, ck = completed_run(tmp_path)
    # a well-formed checkpoint of another directory (another key), planted here
    other_out, other_ck = completed_run(tmp_path / "other")
    other = max(checkpoint_ids(other_ck))
    planted = os.path.join(ck, f"chk-{other + 100:010d}.ckpt")
    shutil.copy(os.path.join(other_ck, f"chk-{other:010d}.ckpt"), planted)
    p = pipeline(ck)
    out.build(p)
    with pytest.raises(CheckpointSecurityError,
                       match="is not authentic: not written with this directory's key"):
        p.run()


def test_checkpoints_without_their_key_are_never_loaded(tmp_path):
    out, ck = completed_run(tmp_path)
    key = os.path.join(ck, ".key")
    os.remove(key)
    p = pipeline(ck)
    out.build(p)
    with pytest.raises(CheckpointSecurityError) as ei:
        p.run()
    assert f"but no key file {key}, so they cannot be verified and are never loaded" in str(
        ei.value)
    assert not os.path.exists(key)  # no new key over old checkpoints


def test_a_key_readable_by_others_is_refused(tmp_path):
    out, ck = completed_run(tmp_path)
    key = os.path.join(ck, ".key")
    os.chmod(key, 0o644)
    p = pipeline(ck)
    out.build(p)
    with pytest.raises(CheckpointSecurityError) as ei:
        p.run()
    assert str(ei.value).startswith(f"key file {key} is readable or writable by group or "
                                    "others (mode 0644)")
    assert f"Fix: chmod 600 {key}" in str(ei.value)


def test_a_checkpoint_file_writable_by_others_is_refused(tmp_path):
    out, ck = completed_run(tmp_path)
    newest = os.path.join(ck, f"chk-{max(checkpoint_ids(ck)):010d}.ckpt")
    os.chmod(newest, 0o666)
    p = pipeline(ck)
    out.build(p)
    with pytest.raises(CheckpointSecurityError,
                       match=f"checkpoint file {newest} is writable by group or others"):
        p.run()


def test_a_checkpoint_file_of_another_user_is_refused(tmp_path, monkeypatch):
    out, ck = completed_run(tmp_path)
    newest = os.path.join(ck, f"chk-{max(checkpoint_ids(ck)):010d}.ckpt")
    if os.geteuid() != 0:
        pytest.skip("making a file owned by another user needs root (the directory case above "
                    "covers the same check without root)")
    os.chown(newest, OTHER_UID, OTHER_UID)
    p = pipeline(ck)
    out.build(p)
    with pytest.raises(CheckpointSecurityError,
                       match=f"checkpoint file {newest} is owned by uid {OTHER_UID}"):
        p.run()


def test_a_symbolic_link_in_place_of_a_checkpoint_is_refused(tmp_path):
    out, ck = completed_run(tmp_path)
    marker = tmp_path / "pwned"
    target = tmp_path / "elsewhere.ckpt"
    plant(str(target), str(marker))
    link = os.path.join(ck, "chk-9999999999.ckpt")
    os.symlink(target, link)
    p = pipeline(ck)
    out.build(p)
    with pytest.raises(CheckpointSecurityError, match=f"checkpoint {link} is a symbolic link"):
        p.run()
    assert not marker.exists()
