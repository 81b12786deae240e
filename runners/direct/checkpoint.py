"""Checkpoint files: atomic writes (temp file, fsync, rename, fsync of the directory), the
latest one found on restart, and a graph fingerprint check."""

from __future__ import annotations

import os
import pickle
import re
from typing import Any

from fluvial.errors import CheckpointMismatchError

_NAME = re.compile(r"^chk-(\d{10})\.ckpt$")
KEEP = 2


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_checkpoints(directory: str) -> list[tuple[int, str]]:
    if not os.path.isdir(directory):
        return []
    out = []
    for name in os.listdir(directory):
        mm = _NAME.match(name)
        if mm:
            out.append((int(mm.group(1)), os.path.join(directory, name)))
    return sorted(out)


def write_checkpoint(directory: str, checkpoint_id: int, payload: dict[str, Any]) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"chk-{checkpoint_id:010d}.ckpt")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(directory)
    for _cid, old in list_checkpoints(directory)[:-KEEP]:
        try:
            os.remove(old)
        except FileNotFoundError:  # pragma: no cover
            pass
    return path


def load_latest(directory: str, fingerprint: str) -> dict[str, Any] | None:
    chks = list_checkpoints(directory)
    if not chks:
        return None
    cid, path = chks[-1]
    with open(path, "rb") as f:
        payload = pickle.load(f)
    if payload.get("fingerprint") != fingerprint:
        raise CheckpointMismatchError(
            f"the checkpoint {path} was written by a different pipeline graph (fingerprint "
            f"{payload.get('fingerprint')}, this pipeline {fingerprint}); the transforms, their labels "
            "or their wiring changed. Use a new --checkpoint-dir, or delete this one to start over."
        )
    return payload
