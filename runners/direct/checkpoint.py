"""Checkpoints of the direct runner: written (pickled, signed, atomically) and found again on
restart (verified, only then unpickled), with the graph fingerprint check.

Rules:

- A checkpoint is pickled, signed with the directory's key
  (:mod:`~fluvial.runners.direct.checkpoint_format`) and written atomically by
  :class:`~fluvial.runners.direct.checkpoint_dir.CheckpointDirectory`; the two newest are kept.
  A state that cannot be pickled is a :class:`~fluvial.errors.PipelineConstructionError` naming
  the transform that holds it (a restart would fail the same way).
- On restart the newest checkpoint is verified before it is unpickled. One that is **not
  authentic** (another format, another key, renamed) refuses the run
  (:class:`~fluvial.errors.CheckpointSecurityError`): it is never loaded, and no older one is
  tried, since someone with write access to the directory placed it there.
- One that is **damaged** (truncated, checksum mismatch, unreadable) is skipped for the newest
  intact older one, but only if ``conflicts(payload)`` finds no exactly-once output committed
  after that older checkpoint (else resuming from it would write that output twice): the
  damaged files are then renamed ``chk-N.ckpt.damaged`` and reported (log warning, and
  :attr:`Restored.skipped`). Otherwise, and when no intact checkpoint is left, the run is
  refused with :class:`~fluvial.errors.CheckpointCorruptError` naming the files.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from typing import Any

from fluvial.errors import (
    CheckpointCorruptError,
    CheckpointMismatchError,
    CheckpointSecurityError,
    PipelineConstructionError,
)

from .checkpoint_dir import CheckpointDirectory
from .checkpoint_format import Damaged, NotAuthentic, decode, encode

KEEP = 2
log = logging.getLogger("fluvial.runners.direct")

_START_OVER = ("or start over with a new --checkpoint-dir and empty exactly-once outputs")


class Restored:
    """The checkpoint a run resumes from: its payload, its path, and the damaged newer
    checkpoints skipped for it (``"path: reason"``, the files now renamed ``*.damaged``)."""

    def __init__(self, payload: dict[str, Any], path: str, skipped: list[str]) -> None:
        self.payload = payload
        self.path = path
        self.skipped = skipped


def write_checkpoint(store: CheckpointDirectory, checkpoint_id: int, payload: dict[str, Any]) -> str:
    """Pickle, sign and write ``payload`` as checkpoint ``checkpoint_id``; keep the newest
    :data:`KEEP`. Raises :class:`~fluvial.errors.CheckpointWriteError` naming the file."""
    try:
        raw = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        raise _unpicklable(payload, store.file_path(checkpoint_id), e) from e
    path = store.write(checkpoint_id, encode(checkpoint_id, raw, store.key))
    for old in store.ids()[:-KEEP]:
        try:
            store.remove(old)
        except OSError as e:  # an old checkpoint left behind costs space, not correctness
            log.warning("could not remove the old checkpoint %s: %s", store.file_path(old), e)
    return path


def load_latest(
    store: CheckpointDirectory,
    fingerprint: str,
    conflicts: Callable[[dict[str, Any]], list[str]] = lambda payload: [],
) -> Restored | None:
    """The checkpoint to resume from (module docstring), or None when there is none.
    ``conflicts(payload)`` describes exactly-once output committed after ``payload``'s
    checkpoint; it is asked only when newer checkpoints were damaged."""
    damaged: list[tuple[int, str]] = []
    for cid in reversed(store.ids()):
        path = store.file_path(cid)
        try:
            data = store.read(cid)
            raw = decode(data, cid, store.key)
        except Damaged as e:
            damaged.append((cid, f"damaged: {e}"))
            continue
        except NotAuthentic as e:
            raise CheckpointSecurityError(
                f"checkpoint {path} is not authentic: {e}. It is never loaded (unpickling a "
                "file someone else wrote can run their code). Find out who wrote it, then move "
                "it out of the directory to resume from the newest authentic checkpoint"
                + ("" if not damaged else f" (newer ones are damaged: {_list(store, damaged)})")
            ) from None
        except OSError as e:
            damaged.append((cid, f"unreadable: {e.strerror or e}"))
            continue
        try:
            payload = pickle.loads(raw)  # authentic: written by this directory's key holder
        except Exception as e:
            raise CheckpointCorruptError(
                f"checkpoint {path} is authentic but cannot be loaded ({type(e).__name__}: {e}): "
                "it was written by another version of fluvial or of the pipeline's code. Run "
                f"that version to finish, {_START_OVER}"
            ) from e
        if payload.get("fingerprint") != fingerprint:
            raise CheckpointMismatchError(
                f"the checkpoint {path} was written by a different pipeline graph (fingerprint "
                f"{payload.get('fingerprint')}, this pipeline {fingerprint}); the transforms, "
                "their labels or their wiring changed. Use a new --checkpoint-dir, or delete this "
                "one to start over."
            )
        skipped: list[str] = []
        if damaged:
            found = conflicts(payload)
            if found:
                raise CheckpointCorruptError(
                    f"the newest checkpoint cannot be restored ({_list(store, damaged)}), and "
                    f"the newest intact one, {path}, is older than output already committed: "
                    f"{'; '.join(found)}. Resuming from it would write that output twice, so "
                    f"the run is refused. Restore {store.file_path(damaged[0][0])} from a copy "
                    f"of the checkpoint directory, {_START_OVER}"
                )
            for dcid, reason in damaged:
                aside = store.set_aside(dcid)
                msg = f"{store.file_path(dcid)}: {reason} (kept as {aside})"
                log.warning("skipped checkpoint %s; resuming from the older %s", msg, path)
                skipped.append(msg)
        return Restored(payload, path, skipped)
    if damaged:
        raise CheckpointCorruptError(
            f"no intact checkpoint in {store.path}: {_list(store, damaged)}. Restore them from a "
            f"copy of the checkpoint directory, {_START_OVER}"
        )
    return None


def _unpicklable(payload: dict[str, Any], path: str, e: Exception) -> PipelineConstructionError:
    """The error for a state that cannot be saved, naming the transform that holds it."""
    where = "the pipeline's state"
    for label, st in payload.get("operators", {}).items():
        try:
            pickle.dumps(st, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - looking for the culprit
            where = f"the state of transform '{label}'"
            break
    return PipelineConstructionError(
        f"checkpoint {path} cannot be written: {where} cannot be pickled ({type(e).__name__}: "
        f"{e}); keep state, timers and sink snapshots to picklable values (no lambdas, open "
        "files, sockets or locks)"
    )


def _list(store: CheckpointDirectory, damaged: list[tuple[int, str]]) -> str:
    return "; ".join(f"{store.file_path(cid)} is {reason}" for cid, reason in damaged)
