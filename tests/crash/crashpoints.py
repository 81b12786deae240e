"""Sink wrappers for the crash job that SIGKILL their own process at one step of the
two-phase-commit protocol, so that the crash test reaches every gap between two steps
deterministically (the random kills reach them only by chance).

A crash point is ``SINK.HOOK.WHEN:N``: e.g. ``Sql.snapshot.after:2`` kills the process right
after the SQL sink's second *meaningful* ``snapshot`` returned, i.e. its rows are pre-committed
but the checkpoint is not written yet. Meaningful: a snapshot after at least one write, and the
notify of such a snapshot's checkpoint (other calls have nothing to commit and are not counted).
The wrappers are always in the graph (inactive without a crash point), so every run of the job
has the same graph and can restore the others' checkpoints.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import fluvial as fl


class CrashPlan:
    def __init__(self, spec: str | None) -> None:
        self.point, self.n = None, 0
        if spec:
            point, n = spec.rsplit(":", 1)
            self.point, self.n = point, int(n)
        self.calls = 0

    def reached(self, point: str) -> None:
        if point != self.point:
            return
        self.calls += 1
        if self.calls == self.n:
            os.kill(os.getpid(), signal.SIGKILL)


class _Writer(fl.SinkWriter):
    def __init__(self, inner: fl.SinkWriter, name: str, plan: CrashPlan) -> None:
        self.inner, self.name, self.plan = inner, name, plan
        self.dirty = False  # written since the last snapshot
        self.meaningful: set[int] = set()  # checkpoint ids whose snapshot followed writes

    def _at(self, hook: str, when: str) -> None:
        self.plan.reached(f"{self.name}.{hook}.{when}")

    def write(self, batch: list) -> None:
        self.inner.write(batch)
        if batch:
            self.dirty = True

    def snapshot(self, checkpoint_id: int) -> Any:
        dirty, self.dirty = self.dirty, False
        if dirty:
            self.meaningful.add(checkpoint_id)
            self._at("snapshot", "before")
        state = self.inner.snapshot(checkpoint_id)
        if dirty:
            self._at("snapshot", "after")
        return state

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        hit = any(c <= checkpoint_id for c in self.meaningful)
        self.meaningful = {c for c in self.meaningful if c > checkpoint_id}
        if hit:
            self._at("notify", "before")
        self.inner.notify_checkpoint_complete(checkpoint_id)
        if hit:
            self._at("notify", "after")

    def restore(self, state: Any) -> None:
        self.inner.restore(state)

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        self.inner.notify_checkpoint_aborted(checkpoint_id)

    def committed_after(self, state: Any, checkpoint_id: int) -> str | None:
        return self.inner.committed_after(state, checkpoint_id)

    def close(self) -> None:
        self.inner.close()

    def abort(self) -> None:
        self.inner.abort()


class CrashingSink(fl.Sink):
    """``sink`` whose writer runs ``plan`` at its protocol steps (module docstring)."""

    def __init__(self, sink: fl.Sink, name: str, plan: CrashPlan) -> None:
        self.sink, self.name, self.plan = sink, name, plan
        self.exactly_once = sink.exactly_once  # the wrapped sink's promise

    def open(self, ctx: Any) -> fl.SinkWriter:
        return _Writer(self.sink.open(ctx), self.name, self.plan)

    def display_name(self) -> str:
        return self.sink.display_name()


class CrashableWrite(fl.PTransform):
    """What an IO write transform expands to (``"Write" >> Write(sink)``), the sink wrapped:
    the primitive keeps the label ``<label>/Write`` of WriteToJsonLines & co."""

    def __init__(self, sink: fl.Sink, name: str, plan: CrashPlan) -> None:
        self.sink = CrashingSink(sink, name, plan)

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "Write" >> fl.Write(self.sink)
