"""The direct runner's event loop: polls sources, pushes batches through the operators,
advances watermarks and processing time, and takes checkpoints.

A checkpoint: every operator's snapshot (the sinks' pre-commits), the file written
(:mod:`~fluvial.runners.direct.checkpoint`), then the sinks' commits. When the file cannot be
written the sinks hear ``notify_checkpoint_aborted`` and the run fails (their ``abort`` then
discards what that checkpoint pre-committed). A restore asks the exactly-once sinks, before
resuming from an older checkpoint past damaged ones, whether they committed anything after it.
"""

from __future__ import annotations

import time
from typing import Any

from fluvial import metrics as m
from fluvial.errors import CheckpointWriteError
from fluvial.metrics import MetricsContainer

from . import checkpoint as ck
from .checkpoint_dir import CheckpointDirectory
from .gc_tuning import batch_gc
from .operators.simple import WriteOperator
from .progress import make_display
from .sources import ReadSource, SourceOperator
from .translate import translate
from .watermark_stall import WatermarkStall


class Clock:
    """Processing time in ms: the TestStream's clock in test mode, else the wall clock."""

    def __init__(self, test_mode: bool) -> None:
        self.test_mode = test_mode
        self.test_now = 0

    def now_ms(self) -> int:
        return self.test_now if self.test_mode else int(time.time() * 1000)


class Executor:
    def __init__(self, pipeline: Any, options: Any,
                 checkpoints: CheckpointDirectory | None = None) -> None:
        from fluvial.testing.test_stream import TestStream

        self.pipeline = pipeline
        self.options = options
        # the open, locked checkpoint directory (the runner holds it across restarts); opened
        # by run() when not given and --checkpoint-dir is set
        self.store = checkpoints
        self.metrics = MetricsContainer()
        test_mode = any(isinstance(n.transform, TestStream) for n in pipeline.primitives())
        self.clock = Clock(test_mode)
        self.graph = translate(pipeline, options, self)
        self.ops = self.graph.ops
        self.sources: list[SourceOperator] = self.graph.sources
        self.checkpoint_id = 0
        self.checkpoints_taken = 0
        self.restored_from: int | None = None
        self.skipped_checkpoints: list[str] = []  # damaged checkpoints skipped at the restore
        self.last_checkpoint_at: float | None = None  # time.monotonic() of the latest
        self.fingerprint = pipeline.fingerprint()
        self.progress = make_display(getattr(options, "progress", "off"))
        # names who holds the watermark back when it stalls (not under TestStream: scripted)
        self.stall = None if test_mode else WatermarkStall(
            before_log=self.progress.close if self.progress is not None else None)

    # time -------------------------------------------------------------------------------------
    def _set_processing_time(self, now: int) -> None:
        for op in self.ops:
            op.processing_time = now

    def advance_test_clock(self, ms: int) -> None:
        self.clock.test_now += ms
        self._fire_processing_timers(self.clock.test_now)

    def _fire_processing_timers(self, now: int) -> None:
        self._set_processing_time(now)
        for op in self.ops:
            nxt = op.next_processing_timer()
            if nxt is not None and nxt <= now:
                m.set_step(op.label)
                op.on_processing_time(now)

    # checkpoints ------------------------------------------------------------------------------
    def _writers(self) -> list[WriteOperator]:
        return [op for op in self.ops if isinstance(op, WriteOperator)]

    def _checkpoint(self) -> None:
        store = self.store
        if store is None:
            return
        self.checkpoint_id += 1
        cid = self.checkpoint_id
        durable = False
        try:
            ops: dict[str, Any] = {}
            for op in self.ops:
                st = op.snapshot()
                if isinstance(op, WriteOperator):
                    st["sink"] = op.writer.snapshot(cid)
                ops[op.label] = st
            payload = {
                "fingerprint": self.fingerprint,
                "checkpoint_id": cid,
                "operators": ops,
                "test_now": self.clock.test_now,
                "metrics": self.metrics.snapshot(),
            }
            try:
                ck.write_checkpoint(store, cid, payload)
            except CheckpointWriteError as e:
                durable = e.maybe_written  # a restart finds out whether it is
                raise
            durable = True
        except BaseException:
            if not durable:  # what the sinks pre-committed for cid is covered by no checkpoint
                for op in self._writers():
                    try:
                        op.writer.notify_checkpoint_aborted(cid)
                    except Exception:  # noqa: BLE001 - the abort that follows cleans up too
                        pass
            raise
        self.checkpoints_taken += 1
        self.last_checkpoint_at = time.monotonic()
        # sinks commit first: a reader may publish its position (e.g. Kafka group offsets) on
        # this notification, and that position must never run ahead of committed output
        for op in self._writers():
            op.writer.notify_checkpoint_complete(cid)
        for op in self.ops:
            if isinstance(op, ReadSource):
                op.reader.notify_checkpoint_complete(cid)

    def _committed_after(self, payload: dict[str, Any]) -> list[str]:
        """Exactly-once output committed after the checkpoint ``payload`` (asked before a
        fallback past damaged checkpoints; see checkpoint.load_latest)."""
        cid = payload["checkpoint_id"]
        found = []
        for op in self._writers():
            if not op.sink.exactly_once:  # at-least-once sinks may repeat output anyway
                continue
            st = payload["operators"].get(op.label) or {}
            what = op.writer.committed_after(st.get("sink"), cid)
            if what is not None:
                found.append(f"'{op.label}' committed {what}")
        return found

    def _restore(self) -> None:
        if self.store is None:
            return
        restored = ck.load_latest(self.store, self.fingerprint, self._committed_after)
        if restored is None:
            return
        payload = restored.payload
        self.skipped_checkpoints = restored.skipped
        self.checkpoint_id = payload["checkpoint_id"]
        self.restored_from = self.checkpoint_id
        self.clock.test_now = payload["test_now"]
        self.metrics.restore(payload["metrics"])
        for op in self.ops:
            st = payload["operators"].get(op.label)
            if st is None:
                continue
            op.restore(st)
            if isinstance(op, WriteOperator):
                op.writer.restore(st.get("sink"))

    def _final_commit(self) -> None:
        if self.store is not None:
            self._checkpoint()
            return
        cid = self.checkpoint_id + 1
        for op in self.ops:
            if isinstance(op, WriteOperator):
                op.writer.snapshot(cid)
                op.writer.notify_checkpoint_complete(cid)

    # the loop -------------------------------------------------------------------------------
    def run(self) -> str:
        owned = None
        if self.store is None and self.options.checkpoint_dir:
            owned = self.store = CheckpointDirectory.open(self.options.checkpoint_dir)
        try:
            with batch_gc():
                return self._run()
        finally:
            if owned is not None:
                owned.close()
                self.store = None

    def _run(self) -> str:
        token = m.set_container(self.metrics)
        opened: list[Any] = []
        state = "DONE"
        ok = False
        try:
            for op in self.ops:
                m.set_step(op.label)
                op.open(self.metrics)
                opened.append(op)
            self._restore()
            self._set_processing_time(self.clock.now_ms())
            self._loop()
            self._final_commit()
            ok = True
            if self.progress is not None:
                self.progress.finish(self)
        except KeyboardInterrupt:
            state = "CANCELLED"
        finally:
            if self.progress is not None:
                self.progress.close()
            for op in reversed(opened):
                try:
                    op.close() if ok else op.abort()
                except Exception:  # noqa: BLE001 - closing must not hide the original error
                    if ok:
                        raise
            m._current.reset(token)
        return state

    def _loop(self) -> None:
        batch_size = self.options.batch_size
        interval = self.options.checkpoint_interval
        has_checkpoints = self.store is not None
        last_chk = time.monotonic()
        progress = self.progress
        stall = self.stall
        active = [s for s in self.sources if not s.done]
        while active:
            progressed = False
            for src in list(active):
                n = src.poll(batch_size)
                if n is None:
                    active.remove(src)
                    progressed = True
                elif n > 0 or src.is_test_stream:
                    progressed = True
            # processing-time timers that are due (in test mode: set at or before the test clock)
            self._fire_processing_timers(self.clock.now_ms())
            if has_checkpoints and time.monotonic() - last_chk >= interval:
                self._checkpoint()
                last_chk = time.monotonic()
            if stall is not None:
                stall.tick(self.sources)
            if progress is not None:
                progress.tick(self)
            if not progressed:
                time.sleep(0.002)
