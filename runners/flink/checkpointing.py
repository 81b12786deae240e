"""Flink checkpoints and restarts for a fluvial run: the pipeline options ``--checkpoint-dir``,
``--checkpoint-interval``, ``--restart-attempts`` and ``--restart-delay`` as Flink settings, and
where a run resumes.

Rules:

* ``--checkpoint-dir DIR``: Flink's exactly-once checkpointing every ``--checkpoint-interval``
  seconds (default 10; 0 means as often as Flink allows, every :data:`MIN_INTERVAL_MS` ms),
  checkpoints stored under ``DIR/flink/`` (Flink writes ``DIR/flink/<job id>/chk-<n>/``) and
  retained when the job fails or is cancelled, so a later run can resume. Flink discards them
  when a job ends by itself (its input ended): running the same command again then starts from
  the beginning.
* **Resuming.** A run with ``--checkpoint-dir`` resumes from the newest *completed* checkpoint
  in ``DIR/flink`` (one whose ``_metadata`` file exists: Flink writes it under a temporary name
  and renames it when the checkpoint completes), over every job directory (checkpoint numbers
  keep growing across resumed jobs). The resumed job claims that checkpoint (Flink's ``CLAIM``
  restore mode: it is deleted once a newer one completes), so an older checkpoint is never
  picked up again.
* **One pipeline per directory.** ``DIR/flink/pipeline.json`` records the pipeline's
  fingerprint; resuming a different pipeline graph is refused
  (:class:`~fluvial.errors.CheckpointMismatchError`). ``DIR/.lock`` is held (``flock``) for the
  whole run, as on the direct runner: a second pipeline on the same directory is refused
  (:class:`~fluvial.errors.CheckpointLockedError`). The directory is created with mode 0700; an
  existing one must be owned by the user and not writable by group or others
  (:class:`~fluvial.errors.CheckpointSecurityError`), because fluvial's sinks keep pickled
  pre-commit states in it (see :mod:`.committing`).
* ``--restart-attempts N`` (with ``--checkpoint-dir``): Flink's fixed-delay restart strategy,
  ``N`` attempts ``--restart-delay`` seconds apart; each restart resumes the job from its
  latest completed checkpoint inside Flink. Failures a restart cannot heal (bad records,
  configuration errors: :mod:`fluvial.runners.common.restart_policy`) make the runner cancel
  the job instead (see :mod:`.execution`). Without ``--checkpoint-dir`` there are no restarts, as
  on the direct runner.

>>> s = CheckpointSettings.from_options(None)
>>> (s.enabled, s.restart_attempts)
(False, 0)
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import re
import stat
from typing import Any

import attrs

from fluvial.errors import (
    CheckpointLockedError,
    CheckpointMismatchError,
    CheckpointSecurityError,
)

MIN_INTERVAL_MS = 100
SUBDIR = "flink"
LOCK_FILE = ".lock"
PIPELINE_FILE = "pipeline.json"
_CHK = re.compile(r"^chk-(\d+)$")


@attrs.frozen
class CheckpointSettings:
    """What the pipeline options ask of Flink's checkpoints and restarts."""

    directory: str | None = None
    interval_ms: int = 10_000
    restart_attempts: int = 0
    restart_delay_ms: int = 1_000

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    @property
    def flink_dir(self) -> str:
        assert self.directory is not None
        return os.path.join(self.directory, SUBDIR)

    @classmethod
    def from_options(cls, options: Any) -> CheckpointSettings:
        directory = getattr(options, "checkpoint_dir", None)
        interval = float(getattr(options, "checkpoint_interval", 10.0))
        attempts = int(getattr(options, "restart_attempts", 0) or 0)
        delay = float(getattr(options, "restart_delay", 1.0))
        return cls(
            os.path.abspath(os.path.expanduser(directory)) if directory else None,
            max(MIN_INTERVAL_MS, int(round(interval * 1000))),
            attempts if directory else 0,
            max(0, int(round(delay * 1000))),
        )


def flink_config(settings: CheckpointSettings, restore_from: str | None) -> dict[str, str]:
    """The Flink configuration entries for ``settings`` (and the checkpoint to resume from)."""
    conf: dict[str, str] = {}
    if settings.enabled:
        conf.update({
            "execution.checkpointing.interval": f"{settings.interval_ms} ms",
            "execution.checkpointing.mode": "EXACTLY_ONCE",
            "execution.checkpointing.dir": _uri(settings.flink_dir),
            "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
            "execution.checkpointing.num-retained": "1",
            "state.backend.type": "hashmap",
        })
    if settings.restart_attempts > 0:
        conf.update({
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": str(settings.restart_attempts),
            "restart-strategy.fixed-delay.delay": f"{settings.restart_delay_ms} ms",
        })
    else:
        conf["restart-strategy.type"] = "none"
    if restore_from is not None:
        conf["execution.state-recovery.path"] = _uri(restore_from)
        conf["execution.state-recovery.claim-mode"] = "CLAIM"
    return conf


def _uri(path: str) -> str:
    return "file://" + os.path.abspath(path)


# -- the directory ------------------------------------------------------------------------------
def _check_owned(path: str, what: str) -> None:
    st = os.stat(path, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        raise CheckpointSecurityError(f"{what} {path} is a symbolic link; it is not used")
    if st.st_uid != os.geteuid():
        raise CheckpointSecurityError(
            f"{what} {path} is owned by uid {st.st_uid}, not by the user running this pipeline "
            f"(uid {os.geteuid()}): another user could have planted files in it, so it is not "
            "used. Use a checkpoint directory you created yourself"
        )
    if st.st_mode & 0o022:
        raise CheckpointSecurityError(
            f"{what} {path} is writable by group or others (mode "
            f"{stat.S_IMODE(st.st_mode):04o}), so others could plant files in it; it is not "
            f"used. Fix: chmod 700 {path}"
        )


def private_dir(path: str, what: str = "checkpoint directory") -> str:
    """``path`` created with mode 0700 if missing, else checked (owned by the user, not writable
    by group or others)."""
    try:
        os.makedirs(path, mode=0o700)
    except FileExistsError:
        pass
    _check_owned(path, what)
    return path


class CheckpointDirectory:
    """The run's hold on ``--checkpoint-dir``: verified, locked until :meth:`close`."""

    def __init__(self, settings: CheckpointSettings) -> None:
        self.settings = settings
        self.path = private_dir(settings.directory)  # type: ignore[arg-type]
        self.flink_dir = private_dir(settings.flink_dir)
        lock = os.path.join(self.path, LOCK_FILE)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise CheckpointLockedError(
                f"the checkpoint directory {self.path} is in use by another running pipeline "
                f"(pid {holder}); one pipeline per directory: wait for it to end, or use another "
                "--checkpoint-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd: int | None = fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    # -- which pipeline ------------------------------------------------------------------------
    def check_pipeline(self, fingerprint: str) -> None:
        """Record the pipeline's fingerprint; refuse a different pipeline when checkpoints of
        the recorded one exist."""
        path = os.path.join(self.flink_dir, PIPELINE_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                recorded = json.load(f).get("fingerprint")
        except (FileNotFoundError, ValueError):
            recorded = None
        latest = self.latest_checkpoint()
        if recorded is not None and recorded != fingerprint and latest is not None:
            raise CheckpointMismatchError(
                f"the checkpoint {latest} was written by a different pipeline graph (fingerprint "
                f"{recorded}, this pipeline {fingerprint}); the transforms, their labels or their "
                "wiring changed. Use a new --checkpoint-dir, or delete this one to start over."
            )
        if recorded != fingerprint:
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"fingerprint": fingerprint}, f)
            os.replace(tmp, path)

    # -- checkpoints ---------------------------------------------------------------------------
    def completed_checkpoints(self) -> list[tuple[int, str]]:
        """(number, path) of every completed checkpoint under ``DIR/flink``, oldest first."""
        out = []
        for meta in glob.glob(os.path.join(glob.escape(self.flink_dir), "*", "chk-*", "_metadata")):
            chk = os.path.dirname(meta)
            mm = _CHK.match(os.path.basename(chk))
            if mm is not None:
                out.append((int(mm.group(1)), chk))
        return sorted(out)

    def latest_checkpoint(self) -> str | None:
        """The newest completed checkpoint's directory, or None."""
        done = self.completed_checkpoints()
        return done[-1][1] if done else None

    def discard_checkpoints(self) -> None:
        """After a run that ended by itself: every checkpoint is obsolete (Flink deletes those
        of the finished job; this removes what resumed jobs left of older ones)."""
        import shutil

        for job in glob.glob(os.path.join(glob.escape(self.flink_dir), "*")):
            if os.path.isdir(job) and re.fullmatch(r"[0-9a-f]{32}", os.path.basename(job)):
                shutil.rmtree(job, ignore_errors=True)


def checkpoint_id(path: str) -> int:
    """The number of the checkpoint directory ``path`` (``.../chk-<n>``)."""
    mm = _CHK.match(os.path.basename(path.rstrip("/")))
    if mm is None:
        raise ValueError(f"not a Flink checkpoint directory: {path}")
    return int(mm.group(1))
