"""fluvial's sinks on Flink: the SinkWriter's two-phase commit driven by Flink's checkpoints.

PyFlink gives a Python function no checkpoint hooks, so the Write translation puts fluvial's
Java operator ``fluvial.flink.CheckpointMarkers`` (parallelism 1) in front of the sink
function and lets it carry Flink's checkpoint events through the stream as marker records
(:data:`DATA`, :data:`SNAPSHOT`, :data:`COMMIT`, :data:`RESTORED`, :data:`END`; the numbers
match ``CheckpointMarkers.java``). The two run in separate tasks, so a marker reaches the sink
function over the network in stream order. :class:`CommittingWrite` (parallelism 1) then does
what the direct runner's checkpoints do:

* ``SNAPSHOT(n)`` arrives before the barrier of checkpoint ``n``: the buffered elements are
  written, ``writer.snapshot(n)`` pre-commits them, and its state is saved to
  ``<checkpoint dir>/flink/sinks/<sink>/pre-<n>.pkl`` (atomic rename, fsynced) before the sink
  task acknowledges the checkpoint. So every completed checkpoint has the sink's pre-commit
  state on disk.
* ``COMMIT(n)`` (Flink's notify-checkpoint-complete): ``writer.notify_checkpoint_complete(n)``
  commits everything pre-committed up to ``n``. A lost notification is covered by the next.
* ``RESTORED(m)`` comes first after the job resumed from checkpoint ``m`` (a new process, or a
  restart inside Flink): ``writer.restore(state)`` with the newest saved state that checkpoint
  ``m`` covers commits what it covered and discards later pre-commits (its sources replay
  everything after ``m``).
* ``END(k)`` (the input ended; ``k`` is the last checkpoint snapshotted): the rest is written and
  pre-committed as ``end-<k>.pkl``. Flink completes one more checkpoint before the job finishes,
  but a finished Python function gets no callback after it (in thread mode Flink calls
  ``close()`` at the end of the input), so the **runner** commits it: once the job has
  finished, :func:`finish_sinks` opens each such sink in the driver, calls ``restore`` with the
  end state (committing it) and ``close``. A job resumed from a checkpoint taken after ``END``
  counts that end state as covered too.

Without ``--checkpoint-dir`` there is no restore: the sink commits once, at ``END`` (a failed
run commits nothing), unless it runs at-least-once by choice (``periodic_s``: committed every
``batch`` elements or ``periodic_s`` seconds, and at the end).

Guarantee: exactly-once output for exactly-once sinks (file sinks, ``WriteToSqlite``, any sink
implementing the SinkWriter hooks) under ``--checkpoint-dir``, as on the direct runner, provided
every source of the pipeline resumes from Flink's checkpoints (see :mod:`.guarantees`). The
driver and the TaskManagers must share the checkpoint directory's filesystem.

State files hold pickles, so they are read only from the verified checkpoint directory (see
:mod:`.checkpointing`) and only if owned by the user and not writable by others.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pickle
import re
import stat
import time
from typing import Any

from fluvial.errors import CheckpointSecurityError
from fluvial.metrics import MetricKey, MetricsContainer
from fluvial.source import SourceContext

from .functions import WallClock, _Function
from .records import from_wire

DATA, SNAPSHOT, COMMIT, RESTORED, END = 0, 1, 2, 3, 4
SINKS = "sinks"
_NAME = re.compile(r"^(pre|end)-(\d{10})\.pkl$")


def sink_key(label: str) -> str:
    """A directory name for the sink ``label``: its readable part and a hash."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:40]
    return f"{safe}-{hashlib.sha1(label.encode()).hexdigest()[:10]}"


class SinkStates:
    """The saved pre-commit states of one sink: ``pre-<n>.pkl`` (checkpoint ``n``) and
    ``end-<k>.pkl`` (the end of the input, after checkpoint ``k``)."""

    def __init__(self, root: str, label: str) -> None:
        self.dir = os.path.join(root, SINKS, sink_key(label))

    def _entries(self) -> list[tuple[str, int, str]]:
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            mm = _NAME.match(name)
            if mm is not None:
                out.append((mm.group(1), int(mm.group(2)), name))
        return sorted(out, key=lambda e: (e[1], e[0] == "end"))

    def save(self, kind: str, n: int, state: Any) -> None:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        name = f"{kind}-{n:010d}.pkl"
        tmp = os.path.join(self.dir, f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.dir, name))
        _fsync_dir(self.dir)

    def load(self, name: str) -> Any:
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.geteuid() or st.st_mode & 0o022 or not stat.S_ISREG(st.st_mode):
                raise CheckpointSecurityError(
                    f"the sink state {path} is not a regular file owned by this user and "
                    "private to it; it is not loaded (unpickling a file someone else wrote can "
                    "run their code)"
                )
            return pickle.load(f)

    def covering(self, m: int) -> str | None:
        """The newest state checkpoint ``m`` covers: an end state saved after a checkpoint
        older than ``m``, else the pre-commit state of ``m`` itself."""
        best = None
        for kind, n, name in self._entries():
            if (kind == "end" and n < m) or (kind == "pre" and n == m):
                best = name
        return best

    def keep_only(self, keep: str | None) -> None:
        for _, _, name in self._entries():
            if name != keep:
                _remove(os.path.join(self.dir, name))

    def drop_before(self, n: int) -> None:
        """Checkpoint ``n`` completed: older states are superseded."""
        for _, k, name in self._entries():
            if k < n:
                _remove(os.path.join(self.dir, name))

    def end_state(self) -> str | None:
        ends = [name for kind, _, name in self._entries() if kind == "end"]
        return ends[-1] if ends else None

    def clear(self) -> None:
        for _, _, name in self._entries():
            _remove(os.path.join(self.dir, name))
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CommittingWrite(_Function):
    """The sink function after ``CheckpointMarkers`` (see the module docstring).
    ``states_root``: ``<checkpoint dir>/flink`` when Flink takes checkpoints, else None.
    ``periodic_s``: without checkpoints, commit every ``batch`` elements or ``periodic_s``
    seconds (at-least-once); None: commit once, at the end."""

    def __init__(self, label: str, sink: Any, options: Any, channel: str, batch: int,
                 states_root: str | None, periodic_s: float | None = None) -> None:
        super().__init__(channel)
        self.label = label
        self.sink = sink
        self.options = options
        self.batch = batch
        self.states_root = states_root
        self.periodic_s = periodic_s
        self.writer: Any = None
        self.buf: list = []
        self.epoch = 0  # local commit counter without checkpoints
        self.last = 0.0
        self.states: SinkStates | None = None

    def open(self, runtime_context: Any = None) -> None:
        self._open_metrics()
        if self.states_root is not None:
            self.states = SinkStates(self.states_root, self.label)
        try:
            self.writer = self.sink.open(SourceContext(self.options, WallClock(), self.label,
                                                       self.metrics))
        except Exception as e:
            raise self._fail(e) from None
        self.last = time.monotonic()

    def process_element(self, rec: Any, ctx: Any = None) -> list:
        kind, n, payload = rec[0], rec[1], rec[2]
        self._bind(self.label)
        try:
            if kind == DATA:
                self.buf.append(from_wire(pickle.loads(payload)))
                if len(self.buf) >= self.batch:
                    self._write()
                if self.periodic_s is not None and time.monotonic() - self.last >= self.periodic_s:
                    self._commit_now()
            elif kind == SNAPSHOT:
                self._write()
                state = self.writer.snapshot(n)
                if self.states is not None:
                    self.states.save("pre", n, state)
            elif kind == COMMIT:
                self.writer.notify_checkpoint_complete(n)
                if self.states is not None:
                    self.states.drop_before(n)
            elif kind == RESTORED:
                self._restore(n)
            elif kind == END:
                self._end(n)
        except Exception as e:
            raise self._fail(e, self.buf[0].value if self.buf else None) from None
        return []

    def _write(self) -> None:
        batch, self.buf = self.buf, []
        if batch:
            self.writer.write(batch)
            self.metrics.inc(MetricKey(self.label, "fluvial", "elements_written"), len(batch))  # type: ignore[union-attr]

    def _commit_now(self) -> None:
        self._write()
        self.epoch += 1
        self.writer.snapshot(self.epoch)
        self.writer.notify_checkpoint_complete(self.epoch)
        self.last = time.monotonic()

    def _restore(self, m: int) -> None:
        if self.states is None:
            return
        name = self.states.covering(m)
        self.writer.restore(None if name is None else self.states.load(name))
        self.states.keep_only(name)

    def _end(self, k: int) -> None:
        self._write()
        if self.states is None:  # no checkpoints: the one commit of the run
            self._commit_now()
            writer, self.writer = self.writer, None
            writer.close()
            return
        self.states.save("end", k, self.writer.snapshot(k + 1))

    def close(self) -> None:
        # after END with checkpoints the end state waits for the runner (finish_sinks); on a
        # failure nothing is committed: abort keeps what a completed checkpoint may cover
        try:
            if self.writer is not None:
                self.writer.abort()
        finally:
            self.writer = None
            self._close_metrics()


def finish_sinks(root: str, sinks: dict[str, Any], options: Any, metrics: MetricsContainer) -> int:
    """After the job finished: commit each sink's end state (``restore`` + ``close`` of a writer
    opened here) and forget every saved state; returns how many sinks were committed."""
    done = 0
    for label, sink in sinks.items():
        states = SinkStates(root, label)
        name = states.end_state()
        if name is not None:
            state = states.load(name)
            writer = sink.open(SourceContext(options, WallClock(), label, metrics))
            try:
                writer.restore(state)
                writer.close()
            except BaseException:
                writer.abort()
                raise
            done += 1
        states.clear()
    return done


def saved_sinks(root: str) -> list[str]:
    """The sink directories holding saved states (for diagnostics and tests)."""
    return sorted(os.path.basename(d) for d in glob.glob(os.path.join(root, SINKS, "*"))
                  if os.listdir(d))
