"""Sinks and the Write primitive, with checkpoint hooks for two-phase commit.

A writer receives batches with :meth:`SinkWriter.write`. At a checkpoint the runner calls
:meth:`SinkWriter.snapshot` (pre-commit: make pending output durable, return what must be
committed), stores that in the checkpoint, and after the checkpoint is durable calls
:meth:`SinkWriter.notify_checkpoint_complete`. After a restart :meth:`SinkWriter.restore`
receives the state of the restored checkpoint, to commit what it covered and abort the rest.

Two more hooks serve failures. :meth:`SinkWriter.notify_checkpoint_aborted` says a checkpoint
whose ``snapshot`` ran will never complete (its file could not be written). And when the newest
checkpoint is damaged, the runner may restore an older one only if every exactly-once writer's
:meth:`SinkWriter.committed_after` finds nothing committed after it.
"""

from __future__ import annotations

from typing import Any

from fluvial.ptransform import PrimitiveTransform


class SinkWriter:
    def write(self, batch: list) -> None:
        raise NotImplementedError

    def snapshot(self, checkpoint_id: int) -> Any:
        return None

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        pass

    def restore(self, state: Any) -> None:
        pass

    def notify_checkpoint_aborted(self, checkpoint_id: int) -> None:
        """Checkpoint ``checkpoint_id`` will never complete (it could not be written). What
        ``snapshot(checkpoint_id)`` pre-committed stays pending: a later checkpoint commits it,
        and :meth:`abort`, if the run ends first, discards it."""

    def committed_after(self, state: Any, checkpoint_id: int) -> str | None:
        """Before a restore of the older checkpoint ``checkpoint_id`` (whose state for this
        writer is ``state``) because the newer ones are damaged: a description of output this
        sink already committed for a later checkpoint (e.g. ``"part out-00000-of-00001_part-00003.txt"``),
        or None when there is none. Only exactly-once sinks are asked; this default cannot tell,
        so a fallback past such a sink is refused rather than risk writing its output twice."""
        return f"{type(self).__name__} cannot tell (it does not implement committed_after)"

    def close(self) -> None:
        """The input ended and the final checkpoint completed: release resources."""

    def abort(self) -> None:
        """The run failed or was cancelled: discard what no completed checkpoint covers."""


class Sink:
    #: True when the sink commits its output exactly once at completed checkpoints (two-phase
    #: commit through the SinkWriter hooks); a runner that cannot call
    #: ``notify_checkpoint_complete`` refuses such a sink rather than silently weakening it
    exactly_once: bool = False

    def exactly_once_promise(self) -> str | None:
        """What this sink promises beyond at-least-once, for error messages; None when nothing.
        Sinks whose promise depends on their configuration override this."""
        return f"{type(self).__name__} declares exactly_once" if self.exactly_once else None

    def open(self, ctx: Any) -> SinkWriter:
        raise NotImplementedError

    def display_name(self) -> str:
        return type(self).__name__


class Write(PrimitiveTransform):
    """Write a PCollection to a :class:`Sink`: ``pcoll | Write(MySink())``."""

    def __init__(self, sink: Sink) -> None:
        if not isinstance(sink, Sink):
            raise TypeError(f"Write needs a Sink, got {sink!r}")
        self.sink = sink

    def default_label(self) -> str:
        return f"Write({self.sink.display_name()})"

    def expand_primitive(self, node, pcoll):
        return None
