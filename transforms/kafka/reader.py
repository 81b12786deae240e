"""KafkaSource and its reader: assigned partitions (no group rebalancing), offsets kept in
fluvial's checkpoints, per-partition watermarks, and a bounded buffer with per-partition
backpressure.

**Buffer and backpressure.** Fetched records wait in per-partition buffers holding at most
``max_buffered_records`` together. Each partition may hold its share of that bound
(``max_buffered_records // partitions``): a partition at its share is paused
(``consumer.pause``) while the others keep fetching, and resumed once it has drained to half of
its share. :meth:`KafkaReader.poll` hands out records round robin over the partitions with
records buffered, an equal share each. A slow downstream operator blocks ``poll`` on the direct
runner, so the buffers plus kafka-python's own fetch limits (``max_poll_records``,
``fetch_max_bytes``, ``max_partition_fetch_bytes``) bound memory. Metrics (namespace ``kafka``):
counter ``pauses`` (partition pauses), gauges ``buffered_high_water`` and ``buffer_capacity``.
``progress()["paused"]`` lists the paused partitions as ``"topic/partition"``.

**Watermarks.** One sdk watermark generator per partition and the sdk combinator over them
(:mod:`fluvial.watermarks`, via :class:`PartitionWatermarks`): the minimum over active
partitions, idle ones (no records for ``idle_timeout``, counted from when the read started)
left out, finished ones left out for good. :meth:`KafkaReader.is_idle` is true while every
partition still being read is idle; ``progress()["watermark_held_by"]`` maps the partitions
holding the watermark back (active, at the minimum, another partition ahead) to their
watermark.

**Offsets.** The checkpointed position of a partition is the offset after the last record handed
downstream (records still in the buffer are fetched again after a restore); recovery always uses
the checkpoint. Offsets are committed to ``group_id`` only where they are final: after each
completed checkpoint (the offsets of that checkpoint), and, for a bounded read without
``--checkpoint-dir``, in :meth:`KafkaReader.close` at the end of a successful run (the end
offsets). :meth:`KafkaReader.abort` (a failed or cancelled run) commits nothing. A later read
with ``start="committed"`` therefore starts after everything a completed checkpoint or a
successful run covered.

>>> from fluvial.transforms.kafka import ReadFromKafka
>>> KafkaSource(**ReadFromKafka("127.0.0.1:9092", topics=["in"], stop="end").cfg).is_bounded
True
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable
from typing import Any

from fluvial import metrics as m
from fluvial.source import Source, SourceContext, SourceReader

from .client import connect, ensure_topics
from .convert import decode_records
from .offsets import end_offsets, start_offsets
from .partition_watermarks import PartitionWatermarks
from .serde import deserializer

_ts = operator.attrgetter("timestamp")


def _none_safe(fn: Callable[[bytes], Any] | None) -> Callable[[Any], Any] | None:
    if fn is None:
        return None
    return lambda b: None if b is None else fn(b)


class KafkaSource(Source):
    """The Source behind :class:`fluvial.transforms.kafka.ReadFromKafka` (see there for the
    parameters)."""

    def __init__(self, **cfg: Any) -> None:
        self.cfg = cfg
        self.on_error = cfg.get("on_error")  # seen by the dead-letter consumer check
        self.is_bounded = cfg["stop"] is not None

    def display_name(self) -> str:
        return "KafkaSource"

    def open(self, ctx: SourceContext) -> KafkaReader:
        return KafkaReader(self.cfg, ctx)


class KafkaReader(SourceReader):
    """Reads the assigned partitions (see the module docstring)."""

    def __init__(self, cfg: dict[str, Any], ctx: SourceContext) -> None:
        from kafka import KafkaConsumer

        self.cfg = cfg
        self.ctx = ctx
        self.label = ctx.label
        self.clock = ctx.clock
        servers = cfg["bootstrap_servers"]
        self.consumer = connect(
            KafkaConsumer, self.label, servers, cfg["connect_timeout"],
            group_id=cfg["group_id"], enable_auto_commit=False, auto_offset_reset="earliest",
            isolation_level=cfg["isolation_level"], max_poll_records=cfg["max_poll_records"],
            fetch_max_bytes=cfg["fetch_max_bytes"],
            max_partition_fetch_bytes=cfg["max_partition_fetch_bytes"],
            client_id=cfg["client_id"], **cfg["consumer_config"],
        )
        try:
            self._setup(cfg, ctx)
        except BaseException:
            self.consumer.close(autocommit=False)  # nothing to commit: the read never started
            raise

    def _setup(self, cfg: dict[str, Any], ctx: SourceContext) -> None:
        from kafka import TopicPartition

        servers = cfg["bootstrap_servers"]
        topics = cfg["topics"] or sorted({t for t, _ in cfg["partitions"]})
        ensure_topics(self.label, self.consumer, topics, cfg["create_partitions"], servers,
                      cfg["connect_timeout"])
        if cfg["partitions"]:
            tps = [TopicPartition(t, p) for t, p in cfg["partitions"]]
        else:
            tps = [TopicPartition(t, p) for t in topics
                   for p in sorted(self.consumer.partitions_for_topic(t))]
        self.tps = tps
        self.consumer.assign(tps)
        stop = cfg["stop"]
        if stop == "end":
            self.ends: dict[Any, int] | None = end_offsets(self.consumer, tps)
        elif isinstance(stop, dict):
            self.ends = {tp: stop[(tp.topic, tp.partition)] for tp in tps
                         if (tp.topic, tp.partition) in stop}
        else:
            self.ends = None
        self.next: dict[Any, int] = start_offsets(self.consumer, tps, cfg["start"], self.ends)
        for tp, off in self.next.items():
            self.consumer.seek(tp, off)
        # per partition: fetched chunks [records, index of the next record], and their count
        self.buffers: dict[Any, deque] = {tp: deque() for tp in tps}
        self.counts: dict[Any, int] = dict.fromkeys(tps, 0)
        self.buffered = 0
        self.capacity = cfg["max_buffered_records"]
        # each partition may hold its share of the buffer; a partition at its share is paused
        # (the others keep fetching), and resumed when drained to half of it
        self.part_cap = max(1, self.capacity // len(tps)) if tps else self.capacity
        self.part_low = self.part_cap // 2
        self.paused: set[Any] = set()
        self.fetched: dict[Any, int] = dict(self.next)  # per partition: after the last buffered
        self._rr = 0  # the partition that goes first in the next poll (round robin)
        self.high_water = 0
        self.poll_timeout_ms = cfg["poll_timeout_ms"]
        self.kd = _none_safe(deserializer(cfg["key_deserializer"]))
        self.vd = _none_safe(deserializer(cfg["value_deserializer"]))
        self.timestamp_fn = cfg["timestamp_fn"]
        self.with_metadata = cfg["with_metadata"]
        self.wm = PartitionWatermarks(tps, cfg["delay_ms"], cfg["idle_ms"], self.clock.now_ms())
        self.finished: set[Any] = set()
        self._check_finished_all()
        self._to_commit: dict[Any, int] | None = None
        # without --checkpoint-dir no checkpoint commits offsets: a bounded read commits its
        # end when the run succeeds (close); with checkpoints the final checkpoint does
        self._commit_at_close = not getattr(ctx.options, "checkpoint_dir", None)
        self.exhausted = False
        self._metrics = ctx.metrics if ctx.metrics is not None else m._current.get()
        self._gauge("buffer_capacity", self.capacity)

    # -- metrics -----------------------------------------------------------------------------
    def _gauge(self, name: str, v: int) -> None:
        if self._metrics is not None:
            self._metrics.set_gauge(m.MetricKey(self.label, "kafka", name), v)

    def _count(self, name: str, n: int = 1) -> None:
        if self._metrics is not None:
            self._metrics.inc(m.MetricKey(self.label, "kafka", name), n)

    # -- partitions that reached their stop offset -------------------------------------------
    def _finish(self, tp: Any) -> None:
        if tp in self.finished:
            return
        self.finished.add(tp)
        self.paused.discard(tp)
        self.wm.finish(tp)
        # A paused partition with a fetched response kafka-python still holds can stop it from
        # fetching the other partitions (seen with kafka-python 3.0): take the finished
        # partition out of the assignment instead, and put the others back where they were.
        self._assign([t for t in self.tps if t not in self.finished])

    def _assign(self, tps: list) -> None:
        if not tps:  # all finished: fetch nothing more
            self.consumer.pause(*self.consumer.assignment())
            return
        self.consumer.assign(tps)
        for t in tps:
            self.consumer.seek(t, self.fetched[t])
        paused = [t for t in tps if t in self.paused]
        if paused:
            self.consumer.pause(*paused)

    def _check_finished_all(self) -> None:
        if self.ends is None:
            return
        for tp in self.tps:
            end = self.ends.get(tp)
            if end is not None and self.next[tp] >= end:
                self._finish(tp)

    def _check_positions(self) -> None:
        """Partitions with nothing buffered whose consumer position passed the end (e.g. the
        last offsets hold transaction markers, which are never returned as records)."""
        for tp, end in self.ends.items():  # type: ignore[union-attr]
            if tp in self.finished or self.counts[tp]:
                continue
            pos = self.consumer.position(tp)
            if pos >= end:
                self.next[tp] = max(self.next[tp], min(pos, end))
                self._finish(tp)

    # -- fetching ------------------------------------------------------------------------------
    def _fill(self) -> None:
        counts = self.counts
        drained = [tp for tp in self.paused if counts[tp] <= self.part_low]
        if drained:
            # kafka-python may have dropped records it fetched for a partition while it was
            # paused: continue right after the last record this reader buffered
            for tp in drained:
                self.consumer.seek(tp, self.fetched[tp])
            self.consumer.resume(*drained)
            self.paused.difference_update(drained)
        room = self.capacity - self.buffered
        if room <= 0 or len(self.paused) + len(self.finished) >= len(self.tps):
            return
        got = self.consumer.poll(timeout_ms=0 if self.buffered else self.poll_timeout_ms,
                                 max_records=room)
        now = self.clock.now_ms()
        n = 0
        for tp, recs in got.items():
            if recs and tp not in self.finished:
                self.buffers[tp].append([recs, 0])
                self.fetched[tp] = recs[-1].offset + 1
                counts[tp] += len(recs)
                n += len(recs)
                self.wm.touch(tp, now)
        self.buffered += n
        if self.buffered > self.high_water:
            self.high_water = self.buffered
            self._gauge("buffered_high_water", self.high_water)
        full = [tp for tp in self.tps if counts[tp] >= self.part_cap
                and tp not in self.paused and tp not in self.finished]
        if full:
            self.consumer.pause(*full)
            self.paused.update(full)
            self._count("pauses", len(full))
        if not n and self.ends is not None:
            self._check_positions()

    def poll(self, max_records: int) -> Any:
        if len(self.finished) == len(self.tps) and not self.buffered:
            self.exhausted = True
            return None
        self._fill()
        out: list = []
        now = self.clock.now_ms()
        tps = self.tps
        counts = self.counts
        # round robin over the partitions with buffered records, an equal share each, so that
        # one partition's large fetch does not hold back the others (and the watermark, which
        # is the minimum over partitions)
        start = self._rr % len(tps) if tps else 0
        self._rr += 1
        order = [tp for tp in tps[start:] + tps[:start] if counts[tp]]
        while order and len(out) < max_records:
            share = max(1, (max_records - len(out)) // len(order))
            for tp in order:
                room = max_records - len(out)
                if room <= 0:
                    break
                self._take(tp, min(share, room), out, now)
            order = [tp for tp in order if counts[tp]]
        return out

    def _take(self, tp: Any, want: int, out: list, now: int) -> None:
        """Hand out up to ``want`` buffered records of partition ``tp``."""
        buf = self.buffers[tp]
        ends = self.ends
        while buf and want > 0:
            item = buf[0]
            recs, i = item
            n = min(len(recs) - i, want)
            chunk = recs[i:i + n] if (i or n < len(recs)) else recs
            if i + n >= len(recs):
                buf.popleft()
            else:
                item[1] = i + n
            want -= n
            self.counts[tp] -= n
            self.buffered -= n
            nxt = chunk[-1].offset + 1
            if ends is not None:
                end = ends.get(tp)
                if end is not None and nxt >= end:
                    chunk = [r for r in chunk if r.offset < end]
                    nxt = end
            self.next[tp] = nxt
            if chunk:
                self._convert(tp, chunk, out, now)
            if ends is not None and tp in ends and nxt >= ends[tp]:
                self._finish(tp)
                self.buffered -= self.counts[tp]
                self.counts[tp] = 0
                buf.clear()
                return

    # -- records to elements -------------------------------------------------------------------
    def _convert(self, tp: Any, chunk: list, out: list, now: int) -> None:
        kd, vd = self.kd, self.vd
        if not self.with_metadata and self.timestamp_fn is None:
            try:
                if kd is None and vd is None:
                    els = [((r.key, r.value), r.timestamp) for r in chunk]
                elif kd is None:
                    els = [((r.key, vd(r.value)), r.timestamp) for r in chunk]
                else:
                    els = [((kd(r.key), vd(r.value) if vd else r.value), r.timestamp)
                           for r in chunk]
            except Exception:
                els = self._convert_slow(chunk)
            out.extend(els)
            if els:
                self.wm.on_records(tp, max(_ts(r) for r in chunk), now)
            return
        els = self._convert_slow(chunk)
        out.extend(els)
        if els:
            self.wm.on_records(tp, max(t for _, t in els), now)

    def _convert_slow(self, chunk: list) -> list:
        return decode_records(chunk, self.kd, self.vd, self.timestamp_fn, self.with_metadata,
                              self.cfg["on_error"], self.ctx.handle_error)

    # -- watermark, progress -------------------------------------------------------------------
    def watermark(self) -> int:
        return self.wm.current(self.clock.now_ms())

    def is_idle(self) -> bool:
        """Every partition still being read is idle (no records for ``idle_timeout``)."""
        return self.wm.idle(self.clock.now_ms())

    def progress(self) -> dict[str, Any]:
        lag = {}
        for tp in self.tps:
            hw = self.consumer.highwater(tp)
            if hw is None and self.ends is not None:
                hw = self.ends.get(tp)
            if hw is not None:
                lag[f"{tp.topic}/{tp.partition}"] = max(hw - self.next[tp], 0)
        paused = sorted(f"{tp.topic}/{tp.partition}" for tp in self.paused)
        held = {f"{tp.topic}/{tp.partition}": self.wm.partition_watermark(tp)
                for tp in self.wm.holding_back(self.clock.now_ms())}
        return {"lag": lag, "buffered": self.buffered, "paused": paused,
                "watermark_held_by": held}

    # -- checkpoints ---------------------------------------------------------------------------
    def snapshot(self) -> Any:
        nxt = {(tp.topic, tp.partition): off for tp, off in self.next.items()}
        self._to_commit = dict(self.next)
        ends = None if self.ends is None else {
            (tp.topic, tp.partition): e for tp, e in self.ends.items()}
        return {"next": nxt, "ends": ends, "wm": self.wm.snapshot()}

    def restore(self, state: Any) -> None:
        from kafka import TopicPartition

        saved = state["next"]
        for tp in self.tps:
            off = saved.get((tp.topic, tp.partition))
            if off is not None:
                self.next[tp] = off
        self.fetched = dict(self.next)
        if state.get("ends") is not None and self.ends is not None:
            for (t, p), e in state["ends"].items():
                tp = TopicPartition(t, p)
                if tp in self.ends:
                    self.ends[tp] = e
        for buf in self.buffers.values():
            buf.clear()
        self.counts = dict.fromkeys(self.tps, 0)
        self.buffered = 0
        self.finished = set()
        self.paused = set()
        self._assign(self.tps)  # a new assignment is not paused
        self.wm.restore(state["wm"], self.clock.now_ms())
        self._check_finished_all()

    def _commit(self, offsets: dict[Any, int] | None) -> None:
        if not self.cfg["group_id"] or not offsets:
            return
        from kafka.structs import OffsetAndMetadata

        try:
            self.consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()})
            self._count("offset_commits")
        except Exception:  # noqa: BLE001 - the checkpoint, not the group, is what recovery uses
            self._count("offset_commit_failures")

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        self._commit(self._to_commit)
        self._to_commit = None

    def close(self) -> None:
        """The run succeeded: without checkpoints, commit the end offsets of a bounded read that
        reached its end (with checkpoints, the final checkpoint committed them); then close."""
        try:
            if self.exhausted and self._commit_at_close:
                self._commit(dict(self.next))
        finally:
            self.consumer.close(autocommit=False)

    def abort(self) -> None:
        """The run failed or was cancelled: close the consumer and commit nothing."""
        self._to_commit = None
        self.consumer.close(autocommit=False)
