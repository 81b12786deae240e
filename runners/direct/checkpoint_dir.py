"""The checkpoint directory: who may write it, its key, its lock, and atomic writes.

Rules (see docs/exactly-once.md, "What is trusted"):

- The directory is created with mode 0700. An existing directory must be owned by the user
  running the pipeline and not writable by group or others; otherwise the run is refused
  (:class:`~fluvial.errors.CheckpointSecurityError`) before anything in it is read.
- ``.key`` holds the directory's 32-byte HMAC key, created (mode 0600) when the directory
  holds no checkpoint yet. It must be owned by the user and neither readable nor writable by
  group or others. Checkpoints without it are never loaded.
- ``.lock`` is locked (``fcntl.flock``, exclusive) for as long as the directory is open, and
  holds the pid of its holder: a second pipeline on the same directory is refused at once
  (:class:`~fluvial.errors.CheckpointLockedError`). The kernel releases the lock when the
  holder dies, even by SIGKILL.
- Every file operation goes through a descriptor of the verified directory (no path is
  resolved again) and never follows a symbolic link. Checkpoint files are written with mode
  0600 to ``chk-N.ckpt.tmp``, fsynced, renamed to ``chk-N.ckpt`` and the directory fsynced; a
  failed write removes the temporary file and names the checkpoint
  (:class:`~fluvial.errors.CheckpointWriteError`). Temporary files a killed run left behind
  are removed when the directory is opened.
- A checkpoint file read back must be a regular file owned by the user and not writable by
  group or others.

>>> import os, tempfile
>>> d = CheckpointDirectory.open(os.path.join(tempfile.mkdtemp(), "ck"))
>>> oct(os.stat(d.path).st_mode & 0o777), sorted(os.listdir(d.path))
('0o700', ['.key', '.lock'])
>>> d.close()
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import time

from fluvial.errors import (
    CheckpointError,
    CheckpointLockedError,
    CheckpointSecurityError,
    CheckpointWriteError,
)

from .checkpoint_format import KEY_BYTES

NAME = re.compile(r"^chk-(\d{10})\.ckpt$")
_TMP = re.compile(r"^chk-\d{10}\.ckpt\.tmp$")
KEY_FILE = ".key"
LOCK_FILE = ".lock"
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def file_name(checkpoint_id: int) -> str:
    return f"chk-{checkpoint_id:010d}.ckpt"


def _check_owned(st: os.stat_result, path: str, what: str, private: bool = False) -> None:
    """Refuse ``path`` (a ``what``) unless the user owns it and group/others cannot write it
    (nor read it, with ``private``)."""
    uid = os.geteuid()
    if st.st_uid != uid:
        raise CheckpointSecurityError(
            f"{what} {path} is owned by uid {st.st_uid}, not by the user running this pipeline "
            f"(uid {uid}): another user could have planted files in it, so it is not used. "
            "Use a checkpoint directory you created yourself (not a shared temporary directory)"
        )
    bad = 0o077 if private else 0o022
    if st.st_mode & bad:
        mode = stat.S_IMODE(st.st_mode)
        fix = "chmod 700" if stat.S_ISDIR(st.st_mode) else "chmod 600"
        who = "readable or writable" if private else "writable"
        raise CheckpointSecurityError(
            f"{what} {path} is {who} by group or others (mode {mode:04o}), so others could "
            f"forge or replace checkpoints; it is not used. Fix: {fix} {path}"
        )


class CheckpointDirectory:
    """An open, verified and locked checkpoint directory (see the module docstring). Use
    :meth:`open`; :meth:`close` releases the lock."""

    def __init__(self, path: str, fd: int, lock_fd: int, key: bytes) -> None:
        self.path = path
        self.fd = fd
        self.lock_fd = lock_fd
        self.key = key

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str) -> CheckpointDirectory:
        path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        created = False
        try:
            os.mkdir(path, 0o700)
            created = True
        except FileExistsError:
            pass
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except NotADirectoryError:
            raise CheckpointError(
                f"--checkpoint-dir {path} exists and is not a directory; give a directory path"
            ) from None
        try:
            st = os.fstat(fd)
            if created and st.st_uid == os.geteuid():
                os.fchmod(fd, 0o700)  # whatever the umask
                st = os.fstat(fd)
            _check_owned(st, path, "checkpoint directory")
            lock_fd = cls._lock(fd, path)
        except BaseException:
            os.close(fd)
            raise
        try:
            cls._remove_temporaries(fd)
            key = cls._key(fd, path)
        except BaseException:
            os.close(lock_fd)
            os.close(fd)
            raise
        return cls(path, fd, lock_fd, key)

    @staticmethod
    def _lock(fd: int, path: str) -> int:
        import fcntl  # POSIX: checkpoints need it (imported here so the runner imports anywhere)

        lock_path = os.path.join(path, LOCK_FILE)
        lfd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600, dir_fd=fd)
        try:
            _check_owned(os.fstat(lfd), lock_path, "lock file")
            try:
                fcntl.flock(lfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(lfd)
                raise CheckpointLockedError(
                    f"checkpoint directory {path} is in use by another running pipeline "
                    f"(pid {holder}, recorded in {lock_path}); a checkpoint directory has one "
                    "writer: stop that pipeline first, or give this one its own --checkpoint-dir"
                ) from None
            os.ftruncate(lfd, 0)
            os.pwrite(lfd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(lfd)
            raise
        return lfd

    @staticmethod
    def _remove_temporaries(fd: int) -> None:
        """Temporary files of checkpoints a killed run was writing (we hold the lock)."""
        for name in os.listdir(fd):
            if _TMP.match(name):
                try:
                    os.unlink(name, dir_fd=fd)
                except FileNotFoundError:  # pragma: no cover
                    pass

    @staticmethod
    def _key(fd: int, path: str) -> bytes:
        key_path = os.path.join(path, KEY_FILE)
        try:
            kfd = os.open(KEY_FILE, os.O_RDONLY | _NOFOLLOW, dir_fd=fd)
        except FileNotFoundError:
            existing = [n for n in os.listdir(fd) if NAME.match(n)]
            if existing:
                raise CheckpointSecurityError(
                    f"checkpoint directory {path} holds checkpoints ({', '.join(sorted(existing))}) "
                    f"but no key file {key_path}, so they cannot be verified and are never loaded "
                    "(they may be from an earlier fluvial version, which did not sign them). To "
                    "start over, use a new --checkpoint-dir (and empty exactly-once outputs)"
                ) from None
            return _create_key(fd, key_path)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise CheckpointSecurityError(
                    f"key file {key_path} is a symbolic link; it is not used") from None
            raise
        try:
            st = os.fstat(kfd)
            if not stat.S_ISREG(st.st_mode):
                raise CheckpointSecurityError(f"key file {key_path} is not a regular file")
            _check_owned(st, key_path, "key file", private=True)
            key = os.read(kfd, KEY_BYTES + 1)
        finally:
            os.close(kfd)
        if len(key) != KEY_BYTES:
            raise CheckpointSecurityError(
                f"key file {key_path} holds {len(key)} bytes, not {KEY_BYTES}: it was changed, so "
                "no checkpoint of this directory can be verified. Restore the key file, or start "
                "over with a new --checkpoint-dir"
            )
        return key

    def close(self) -> None:
        """Release the lock and the directory."""
        if self.lock_fd >= 0:
            try:
                os.ftruncate(self.lock_fd, 0)
            except OSError:  # pragma: no cover
                pass
            os.close(self.lock_fd)  # releases the flock
            self.lock_fd = -1
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> CheckpointDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- checkpoint files ----------------------------------------------------------------------
    def file_path(self, checkpoint_id: int) -> str:
        return os.path.join(self.path, file_name(checkpoint_id))

    def ids(self) -> list[int]:
        """The checkpoint ids present, ascending."""
        return sorted(int(m.group(1)) for n in os.listdir(self.fd) if (m := NAME.match(n)))

    def read(self, checkpoint_id: int) -> bytes:
        """The bytes of a checkpoint file, after checking who may have written it. OSError when
        it cannot be read."""
        name = file_name(checkpoint_id)
        path = self.file_path(checkpoint_id)
        try:
            rfd = os.open(name, os.O_RDONLY | _NOFOLLOW, dir_fd=self.fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise CheckpointSecurityError(
                    f"checkpoint {path} is a symbolic link; it is not loaded") from None
            raise
        try:
            st = os.fstat(rfd)
            if not stat.S_ISREG(st.st_mode):
                raise CheckpointSecurityError(f"checkpoint {path} is not a regular file")
            _check_owned(st, path, "checkpoint file")
            chunks = []
            while chunk := os.read(rfd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(rfd)

    def write(self, checkpoint_id: int, data: bytes) -> str:
        """Write ``data`` atomically as checkpoint ``checkpoint_id``; the path written."""
        name = file_name(checkpoint_id)
        tmp = name + ".tmp"
        path = self.file_path(checkpoint_id)
        try:
            os.unlink(tmp, dir_fd=self.fd)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise CheckpointWriteError(path, e) from e
        try:
            wfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600,
                          dir_fd=self.fd)
        except OSError as e:
            raise CheckpointWriteError(path, e) from e
        try:
            try:
                _write_all(wfd, data)
                os.fsync(wfd)
            finally:
                os.close(wfd)
            os.replace(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as e:
            try:
                os.unlink(tmp, dir_fd=self.fd)
            except OSError:
                pass
            raise CheckpointWriteError(path, e) from e
        try:
            os.fsync(self.fd)
        except OSError as e:
            raise CheckpointWriteError(path, e, maybe_written=True) from e
        return path

    def remove(self, checkpoint_id: int) -> None:
        try:
            os.unlink(file_name(checkpoint_id), dir_fd=self.fd)
        except FileNotFoundError:  # pragma: no cover
            pass

    def set_aside(self, checkpoint_id: int) -> str:
        """Rename a damaged checkpoint to ``chk-N.ckpt.damaged`` (kept for inspection, never
        read again; ``.damaged.2``, ``.3``, ... when a run that resumed from an older checkpoint
        set aside an earlier ``chk-N`` already); its new path."""
        name = file_name(checkpoint_id)
        aside, n = name + ".damaged", 1
        while _exists(aside, self.fd):
            n += 1
            aside = f"{name}.damaged.{n}"
        os.rename(name, aside, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        os.fsync(self.fd)
        return os.path.join(self.path, aside)


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _holder(lfd: int) -> str:
    """The pid recorded in the lock file (its holder may not have written it yet)."""
    for _ in range(20):
        text = os.pread(lfd, 64, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.025)
    return "unknown"


def _create_key(fd: int, key_path: str) -> bytes:
    key = secrets.token_bytes(KEY_BYTES)
    kfd = os.open(KEY_FILE + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600,
                  dir_fd=fd)
    try:
        os.fchmod(kfd, 0o600)
        if os.write(kfd, key) != len(key):  # pragma: no cover - 32 bytes to a new file
            raise OSError(errno.EIO, f"short write of {key_path}")
        os.fsync(kfd)
    finally:
        os.close(kfd)
    os.replace(KEY_FILE + ".tmp", KEY_FILE, src_dir_fd=fd, dst_dir_fd=fd)
    os.fsync(fd)
    return key
