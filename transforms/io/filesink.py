"""Exactly-once file sinks: staged part files, committed by renaming when a checkpoint
completes.

**File names.** With ``prefix="out/words"``, ``suffix=".txt"`` and ``num_shards=2`` a bounded run
that takes no intermediate checkpoint writes exactly Beam's names::

    out/words-00000-of-00002.txt
    out/words-00001-of-00002.txt

(every shard is written, empty or not). Each checkpoint that finds data pending in a shard
closes that shard's current part; the shard's next data goes into a new part, so a long or
unbounded run also produces ``out/words-00000-of-00002_part-00001.txt``,
``..._part-00002.txt`` and so on (part 0 keeps the plain name; names sort in part order).
Read them all back with the glob ``out/words-*``.

**Protocol.** Elements are written to hidden in-progress files in the same directory
(``.words-00000-of-00002.txt.inprogress.<token>``). ``snapshot(checkpoint_id)`` flushes and
fsyncs them and returns the list of (in-progress, final) pairs as the checkpoint's state;
``notify_checkpoint_complete`` renames them into place atomically (``os.replace``). After a
restart ``restore(state)`` renames what the restored checkpoint covered (again, if needed) and
deletes in-progress parts it did not cover. ``close()`` at the successful end of the input
commits everything still pending; ``abort()`` discards uncommitted in-progress parts instead:
the open ones, and those sealed for a checkpoint that could not be written
(``notify_checkpoint_aborted``); parts sealed for a checkpoint that may be durable are left for
the restore to decide. Elements go to shards round-robin.

**Falling back.** When the newest checkpoint is damaged, the runner may resume from the one
before only if ``committed_after(state, id)`` finds no part committed after it: any final part
whose number is at least the ``next_part`` the older state recorded for its shard (a part of
an earlier run into the same prefix counts too: remove it to allow the fallback).

An error writing, syncing or renaming a part names the file. A staged part that a checkpoint
covers but that is gone when it is to be committed raises
:class:`~fluvial.errors.CheckpointCorruptError` (a restart cannot bring it back).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from typing import IO, Any

from fluvial.errors import CheckpointCorruptError, PipelineConstructionError
from fluvial.sink import Sink, SinkWriter

Formatter = Callable[[Any], str]  # an element to one line of text, without the newline


def shard_name(prefix: str, shard: int, num_shards: int, suffix: str, part: int = 0) -> str:
    """The final name of part ``part`` of shard ``shard`` (see the module docstring).

    >>> shard_name("out/words", 0, 1, ".txt")
    'out/words-00000-of-00001.txt'
    >>> shard_name("out/words", 0, 1, ".txt", part=2)
    'out/words-00000-of-00001_part-00002.txt'
    """
    base = f"{prefix}-{shard:05d}-of-{num_shards:05d}"
    return f"{base}{suffix}" if part == 0 else f"{base}_part-{part:05d}{suffix}"


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path or ".", os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _io_error(e: OSError, what: str, path: str) -> OSError:
    """``e`` again, its message naming the file (a full disk otherwise says only Errno 28)."""
    err = OSError(e.errno, f"cannot {what} {path}: {e.strerror or e}")
    err.filename = path
    return err


class _Part:
    __slots__ = ("tmp", "final", "fh")

    def __init__(self, tmp: str, final: str, fh: IO[str]) -> None:
        self.tmp = tmp
        self.final = final
        self.fh = fh


class FileSinkWriter(SinkWriter):
    """Writes formatted lines to staged part files (see the module docstring)."""

    def __init__(
        self, prefix: str, suffix: str, num_shards: int, fmt: Formatter, encoding: str
    ) -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.num_shards = num_shards
        self.fmt = fmt
        self.encoding = encoding
        self.dir = os.path.dirname(prefix) or "."
        os.makedirs(self.dir, exist_ok=True)
        self.current: list[_Part | None] = [None] * num_shards
        self.next_part = [0] * num_shards
        self.pending: list[tuple[int, str, str]] = []  # (checkpoint id, tmp, final)
        self.rr = 0
        self.closed = False
        self.restored = False  # a fresh run (no restore) removes stale parts at its 1st snapshot
        base = re.escape(os.path.basename(prefix))
        self._tmp_re = re.compile(
            rf"^\.{base}-\d{{5}}-of-{num_shards:05d}(_part-\d{{5}})?{re.escape(suffix)}"
            r"\.inprogress\.[0-9a-f]+$"
        )
        self._final_re = re.compile(
            rf"^{base}-(\d{{5}})-of-{num_shards:05d}(?:_part-(\d{{5}}))?{re.escape(suffix)}$"
        )
        self.aborted: set[int] = set()  # checkpoints that will never complete

    # -- writing -------------------------------------------------------------------------------
    def _part(self, shard: int) -> _Part:
        part = self.current[shard]
        if part is None:
            final = shard_name(
                self.prefix, shard, self.num_shards, self.suffix, self.next_part[shard]
            )
            tmp = os.path.join(
                self.dir, f".{os.path.basename(final)}.inprogress.{uuid.uuid4().hex}"
            )
            try:
                fh = open(tmp, "w", encoding=self.encoding, newline="")
            except OSError as e:
                raise _io_error(e, "create the staged part", tmp) from e
            part = self.current[shard] = _Part(tmp, final, fh)
        return part

    def _put(self, shard: int, text: str) -> None:
        part = self._part(shard)
        try:
            part.fh.write(text)
        except OSError as e:
            raise _io_error(e, "write the staged part", part.tmp) from e

    def write(self, batch: list) -> None:
        if self.closed:
            raise RuntimeError(f"sink writer for {self.prefix!r} is closed")
        fmt = self.fmt
        n = self.num_shards
        if not batch:
            return
        if n == 1:
            self._put(0, "\n".join([fmt(wv.value) for wv in batch]) + "\n")
            return
        per_shard: list[list[str]] = [[] for _ in range(n)]
        rr = self.rr
        for wv in batch:
            per_shard[rr].append(fmt(wv.value))
            rr = (rr + 1) % n
        self.rr = rr
        for shard, lines in enumerate(per_shard):
            if lines:
                self._put(shard, "\n".join(lines) + "\n")

    # -- checkpoints ---------------------------------------------------------------------------
    def _seal(self, shard: int) -> tuple[str, str] | None:
        part = self.current[shard]
        if part is None:
            return None
        try:
            part.fh.flush()
            os.fsync(part.fh.fileno())
            part.fh.close()
        except OSError as e:
            raise _io_error(e, "write the staged part", part.tmp) from e
        self.current[shard] = None
        self.next_part[shard] += 1
        return part.tmp, part.final

    def snapshot(self, checkpoint_id: int) -> dict:
        if not self.restored:  # no checkpoint covers in-progress parts of an earlier, dead run
            self._remove_stale(set())
            self.restored = True
        for shard in range(self.num_shards):
            sealed = self._seal(shard)
            if sealed is not None:
                self.pending.append((checkpoint_id, *sealed))
        _fsync_dir(self.dir)
        return {
            "pending": [(tmp, final) for _, tmp, final in self.pending],
            "next_part": list(self.next_part),
            "rr": self.rr,
        }

    def _commit(self, tmp: str, final: str) -> None:
        if os.path.exists(tmp):
            try:
                os.replace(tmp, final)
            except OSError as e:
                raise _io_error(e, f"commit the staged part {tmp} as", final) from e
        elif not os.path.exists(final):
            raise CheckpointCorruptError(
                f"cannot commit {final!r}: its staged part {tmp!r}, which a checkpoint covers, "
                "is gone (was the output directory cleaned, or does another pipeline write the "
                "same prefix?); restore it, or start over with a new --checkpoint-dir and an "
                "empty output directory"
            )

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        keep = []
        committed = False
        for cp, tmp, final in self.pending:
            if cp <= checkpoint_id:
                self._commit(tmp, final)
                committed = True
            else:
                keep.append((cp, tmp, final))
        self.pending = keep
        if committed:
            _fsync_dir(self.dir)

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        self.aborted.add(checkpoint_id)

    def committed_after(self, state: Any, checkpoint_id: int) -> str | None:
        if state is None:
            return "parts of unknown checkpoints (the older checkpoint has no state for it)"
        later = []
        for name in sorted(os.listdir(self.dir)):
            mm = self._final_re.match(name)
            if mm is None:
                continue
            shard, part = int(mm.group(1)), int(mm.group(2) or 0)
            if shard < self.num_shards and part >= state["next_part"][shard]:
                later.append(name)
        if not later:
            return None
        more = f" and {len(later) - 3} more" if len(later) > 3 else ""
        return f"the parts {', '.join(later[:3])}{more} in {self.dir}"

    def restore(self, state: Any) -> None:
        if state is None:
            return
        covered = set()
        for tmp, final in state["pending"]:
            self._commit(tmp, final)
            covered.add(os.path.basename(tmp))
        self._remove_stale(covered)
        self.restored = True
        self.next_part = list(state["next_part"])
        self.rr = state.get("rr", 0)
        self.pending = []

    def _remove_stale(self, covered: set[str]) -> None:
        """Delete in-progress parts of this sink that are neither ``covered`` nor open here."""
        own = {os.path.basename(p.tmp) for p in self.current if p is not None}
        for name in os.listdir(self.dir):
            if name in covered or name in own or not self._tmp_re.match(name):
                continue
            try:
                os.remove(os.path.join(self.dir, name))
            except FileNotFoundError:  # pragma: no cover - raced with another cleanup
                pass
        _fsync_dir(self.dir)

    # -- end -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Successful end of input: commit every pending and open part; write empty files for
        shards that never received data, so a bounded run always has ``num_shards`` files."""
        if self.closed:
            return
        for shard in range(self.num_shards):
            sealed = self._seal(shard)
            if sealed is not None:
                self.pending.append((-1, *sealed))
        for _, tmp, final in self.pending:
            self._commit(tmp, final)
        self.pending = []
        for shard in range(self.num_shards):
            if self.next_part[shard] == 0:
                self._part(shard)
                tmp, final = self._seal(shard)  # type: ignore[misc]
                self._commit(tmp, final)
        _fsync_dir(self.dir)
        self.closed = True

    def abort(self) -> None:
        """Failure: close and delete the open parts and those sealed for checkpoints that could
        not be written; parts sealed for a checkpoint that may be durable wait for the restore.
        Best effort: one failure does not stop the rest."""
        doomed = []
        for shard, part in enumerate(self.current):
            if part is not None:
                try:
                    part.fh.close()
                except OSError:
                    pass  # e.g. the buffered tail cannot be flushed on a full disk
                doomed.append(part.tmp)
                self.current[shard] = None
        doomed += [tmp for cp, tmp, _ in self.pending if cp in self.aborted]
        self.pending = [e for e in self.pending if e[0] not in self.aborted]
        for tmp in doomed:
            try:
                os.remove(tmp)
            except OSError:
                pass
        self.closed = True


class FileSink(Sink):
    """A sink of formatted lines in sharded files, committed at checkpoints."""

    exactly_once = True

    def exactly_once_promise(self) -> str | None:
        return f"{type(self).__name__} (files committed exactly once at checkpoints)"

    def __init__(
        self,
        path_prefix: str,
        suffix: str = ".txt",
        num_shards: int = 1,
        formatter: Formatter = str,
        encoding: str = "utf-8",
    ) -> None:
        if not isinstance(path_prefix, (str, os.PathLike)) or not os.fspath(path_prefix):
            raise PipelineConstructionError(
                f"{type(self).__name__}: path_prefix must be a non-empty path, got {path_prefix!r}"
            )
        if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
            raise PipelineConstructionError(
                f"{type(self).__name__}: num_shards must be a positive integer, got {num_shards!r}"
            )
        if not isinstance(suffix, str):
            raise PipelineConstructionError(
                f"{type(self).__name__}: suffix must be a string, got {suffix!r}"
            )
        self.path_prefix = os.path.expanduser(os.fspath(path_prefix))
        self.suffix = suffix
        self.num_shards = num_shards
        self.formatter = formatter
        self.encoding = encoding

    def open(self, ctx: Any) -> FileSinkWriter:
        return FileSinkWriter(
            self.path_prefix, self.suffix, self.num_shards, self.formatter, self.encoding
        )
