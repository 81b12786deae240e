"""KafkaSource and its reader: assigned partitions (no group rebalancing), offsets kept in
fluvial's checkpoints, per-partition watermarks, and a bounded buffer with per-partition
backpressure.

**Buffer and backpressure.** Fetched records wait in per-partition buffers holding at most
``max_buffered_records`` together. Each partition may hold its share of that bound
(``max_buffered_records // partitions``): a partition at its share is paused
(``consumer.pause``) while the others keep fetching, and resumed once it has drained to half of
its share. :meth:`KafkaReader.poll` hands out records round robin over the partitions with
records buffered, an equal share each. A slow downstream operator blocks ``poll`` on the direct
runner, so the buffers plus the client's own fetch limits (``max_poll_records``,
``fetch_max_bytes``, ``max_partition_fetch_bytes``; librdkafka's prefetch queue is bounded by
``fetch_max_bytes`` too) bound memory. Metrics (namespace ``kafka``):
counter ``pauses`` (partition pauses), gauges ``buffered_high_water`` and ``buffer_capacity``.
``progress()["paused"]`` lists the paused partitions as ``"topic/partition"``.

**Watermarks.** One sdk watermark generator per partition and the sdk combinator over them
(:mod:`fluvial.watermarks`, via :class:`PartitionWatermarks`): the minimum over active
partitions, idle ones (no records for ``idle_timeout``, counted from when the read started)
left out, finished ones left out for good. A record whose event time is out of range
(:meth:`~fluvial.source.SourceContext.check_event_time`) goes to the error policy before it
reaches a partition's watermark (:func:`~fluvial.transforms.kafka.convert.decode_columns`).
:meth:`KafkaReader.is_idle` is true while every partition still being read is idle; ``progress()["watermark_held_by"]`` maps the partitions
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

**Clients, batches.** The reader is written once over the client interface
(:mod:`fluvial.transforms.kafka.clients`): records stay the library's objects in per-partition
chunks until :meth:`KafkaReader.poll` hands them out, and are turned into elements a chunk at
a time, the deserializer mapped over the chunk's values; a chunk in which a record fails (or a
key or value is None) is converted record by record, so only the failing records go to the
error policy. Partitions are ``(topic, partition)`` tuples in checkpoints, whatever the client.

**Labels.** Records, counters and errors carry the user's label: ReadFromKafka's
(``"Orders"``), not that of the Read primitive inside it (``"Orders/Read"``).

**Broker loss.** A :class:`~fluvial.transforms.kafka.liveness.BrokerWatch` probes the brokers
when fetches come back empty and the client reported a connection error, or nothing came for a
while; it retries with backoff (``progress()["broker"]`` while the brokers are down) and fails
the read after ``broker_timeout`` (see :mod:`fluvial.transforms.kafka.liveness`).

>>> from fluvial.transforms.kafka import ReadFromKafka
>>> KafkaSource(**ReadFromKafka("127.0.0.1:9092", topics=["in"], stop="end").cfg).is_bounded
True
"""

from __future__ import annotations

import operator
from collections import deque
from typing import Any

from fluvial import metrics as m
from fluvial.ptransform import composite_label
from fluvial.source import Source, SourceContext, SourceReader
from fluvial.timeutil import MIN_EVENT_TIME_MS

from .clients import backend
from .clients.base import TP, ConsumerClient
from .convert import decode_columns
from .errors import BrokerUnreachableError, KafkaAuthenticationError, KafkaIOError
from .liveness import BrokerWatch, broker_timeout
from .offsets import end_offsets, start_offsets
from .partition_watermarks import PartitionWatermarks
from .serde import deserializer

_second = operator.itemgetter(1)


def _name(tp: TP) -> str:
    return f"{tp[0]}/{tp[1]}"


def open_consumer(cfg: dict[str, Any], label: str, options: Any) -> ConsumerClient:
    """A consumer for a ReadFromKafka configuration, on the backend it chooses."""
    return backend(cfg.get("client"), label, options).consumer(
        label, cfg["bootstrap_servers"], cfg["connect_timeout"], group_id=cfg["group_id"],
        isolation_level=cfg["isolation_level"], max_poll_records=cfg["max_poll_records"],
        fetch_max_bytes=cfg["fetch_max_bytes"],
        max_partition_fetch_bytes=cfg["max_partition_fetch_bytes"], client_id=cfg["client_id"],
        config=dict(cfg["consumer_config"]))


def read_partitions(cfg: dict[str, Any], label: str, consumer: ConsumerClient) -> list[TP]:
    """The partitions a ReadFromKafka configuration reads (topics checked or created)."""
    from .topics import ensure_topics

    topics = cfg["topics"] or sorted({t for t, _ in cfg["partitions"]})
    found = ensure_topics(label, consumer, topics, cfg["create_partitions"],
                          cfg["bootstrap_servers"], cfg["connect_timeout"],
                          cfg["consumer_config"])
    if cfg["partitions"]:
        return [(t, int(p)) for t, p in cfg["partitions"]]
    return [(t, p) for t in topics for p in found[t]]


class KafkaSource(Source):
    """The Source behind :class:`fluvial.transforms.kafka.ReadFromKafka` (see there for the
    parameters). ``composite``: applied by ReadFromKafka as ``"Read" >> Read(source)``, so
    records and errors carry ReadFromKafka's label."""

    def __init__(self, composite: bool = False, **cfg: Any) -> None:
        self.cfg = cfg
        self.composite = composite
        self.on_error = cfg.get("on_error")  # seen by the dead-letter consumer check
        self.is_bounded = cfg["stop"] is not None

    def display_name(self) -> str:
        return "KafkaSource"

    def user_label(self, read_label: str) -> str:
        return composite_label(read_label, "Read", self.composite)

    def open(self, ctx: SourceContext) -> KafkaReader:
        label = self.user_label(ctx.label)
        if label != ctx.label:
            ctx = SourceContext(ctx.options, ctx.clock, label, ctx.metrics, ctx.dead_letter)
        return KafkaReader(self.cfg, ctx)


class KafkaReader(SourceReader):
    """Reads the assigned partitions (see the module docstring)."""

    def __init__(self, cfg: dict[str, Any], ctx: SourceContext) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.label = ctx.label
        self.clock = ctx.clock
        self.consumer = open_consumer(cfg, self.label, ctx.options)
        try:
            self._setup(cfg, ctx)
        except BaseException:
            self.consumer.close()  # nothing to commit: the read never started
            raise

    def _setup(self, cfg: dict[str, Any], ctx: SourceContext) -> None:
        timeout = cfg["connect_timeout"]
        tps = read_partitions(cfg, self.label, self.consumer)
        self.tps = tps
        stop = cfg["stop"]
        # before the end probe assigns the partitions (a ListOffsets request can wait behind
        # the fetches of an assigned consumer)
        begin = self.consumer.beginning_offsets(tps, timeout)
        if stop == "end":
            self.ends: dict[TP, int] | None = end_offsets(self.consumer, tps, timeout=timeout,
                                                          begin=begin, label=self.label)
        elif isinstance(stop, dict):
            self.ends = {tp: stop[tp] for tp in tps if tp in stop}
        else:
            self.ends = None
        self.next: dict[TP, int] = start_offsets(self.consumer, tps, cfg["start"], self.ends,
                                                 timeout, begin=begin)
        self.consumer.assign(dict(self.next))
        self.assigned = list(tps)
        self.access = self.consumer.access
        # per partition: fetched chunks [records, index of the next record], and their count
        self.buffers: dict[TP, deque] = {tp: deque() for tp in tps}
        self.counts: dict[TP, int] = dict.fromkeys(tps, 0)
        self.buffered = 0
        self.capacity = cfg["max_buffered_records"]
        # each partition may hold its share of the buffer; a partition at its share is paused
        # (the others keep fetching), and resumed when drained to half of it
        self.part_cap = max(1, self.capacity // len(tps)) if tps else self.capacity
        self.part_low = self.part_cap // 2
        self.paused: set[TP] = set()
        self.fetched: dict[TP, int] = dict(self.next)  # per partition: after the last buffered
        self._rr = 0  # the partition that goes first in the next poll (round robin)
        self.high_water = 0
        self.poll_timeout = cfg["poll_timeout_ms"] / 1000
        self.max_poll = cfg["max_poll_records"]
        self.kd = deserializer(cfg["key_deserializer"])
        self.vd = deserializer(cfg["value_deserializer"])
        self.timestamp_fn = cfg["timestamp_fn"]
        self.with_metadata = cfg["with_metadata"]
        self.wm = PartitionWatermarks(tps, cfg["delay_ms"], cfg["idle_ms"], self.clock.now_ms())
        self.finished: set[TP] = set()
        self._check_finished_all()
        self._to_commit: dict[TP, int] | None = None
        # without --checkpoint-dir no checkpoint commits offsets: a bounded read commits its
        # end when the run succeeds (close); with checkpoints the final checkpoint does
        self._commit_at_close = not getattr(ctx.options, "checkpoint_dir", None)
        self.exhausted = False
        self.watch = BrokerWatch(self.label, cfg["bootstrap_servers"],
                                 broker_timeout(cfg.get("broker_timeout"), ctx.options))
        self._last_trouble: str | None = None
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
    def _finish(self, tp: TP) -> None:
        if tp in self.finished:
            return
        self.finished.add(tp)
        self.paused.discard(tp)
        self.wm.finish(tp)
        # A paused partition with a fetched response the client still holds can stop it from
        # fetching the other partitions (seen with kafka-python 3.0): take the finished
        # partition out of the assignment instead, and put the others back where they were.
        self._assign([t for t in self.tps if t not in self.finished])

    def _assign(self, tps: list[TP]) -> None:
        if not tps:  # all finished: fetch nothing more
            self.consumer.pause(self.assigned)
            return
        self.consumer.assign({t: self.fetched[t] for t in tps})
        self.assigned = list(tps)
        paused = [t for t in tps if t in self.paused]
        if paused:
            self.consumer.pause(paused)

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
            if pos is not None and pos >= end:
                self.next[tp] = max(self.next[tp], min(pos, end))
                self._finish(tp)

    # -- fetching ------------------------------------------------------------------------------
    def _fill(self) -> None:
        counts = self.counts
        drained = [tp for tp in self.paused if counts[tp] <= self.part_low]
        if drained:
            # the client may have dropped records it fetched for a partition while it was
            # paused: continue right after the last record this reader buffered
            self.consumer.resume(drained)
            for tp in drained:
                self.consumer.seek(tp, self.fetched[tp])
            self.paused.difference_update(drained)
        # fetch a batch (at most max_poll_records) once fewer than that are buffered: the
        # client's own bounded prefetch queue holds the rest, and the partitions rarely reach
        # their share (a paused partition's prefetched records are dropped and fetched again)
        room = min(self.capacity - self.buffered, self.max_poll)
        if room <= 0 or self.buffered >= self.max_poll \
                or len(self.paused) + len(self.finished) >= len(self.tps):
            return
        got = self.consumer.fetch(room, 0 if self.buffered else self.poll_timeout)
        if not got:
            self._check_broker()
            if self.ends is not None:
                self._check_positions()
            return
        self.watch.ok()
        now = self.clock.now_ms()
        offset = self.access.offset
        n = 0
        buffers, finished, wm = self.buffers, self.finished, self.wm
        for chunk in got:
            tp, recs = chunk.tp, chunk.recs
            if tp in finished:
                continue
            buffers[tp].append([recs, 0])
            self.fetched[tp] = offset(recs[-1]) + 1
            counts[tp] += len(recs)
            n += len(recs)
            wm.touch(tp, now)
        self.buffered += n
        if self.buffered > self.high_water:
            self.high_water = self.buffered
            self._gauge("buffered_high_water", self.high_water)
        full = [tp for tp in self.tps if counts[tp] >= self.part_cap
                and tp not in self.paused and tp not in self.finished]
        if full:
            self.consumer.pause(full)
            self.paused.update(full)
            self._count("pauses", len(full))

    def _check_broker(self) -> None:
        """Nothing was fetched: probe the brokers when due (see liveness)."""
        trouble = self.consumer.trouble()
        if trouble is not None:
            self._last_trouble = trouble
        if not self.watch.due(trouble is not None):
            return
        try:
            self.consumer.probe(self.tps, self.watch.probe_timeout())
        except KafkaAuthenticationError:
            raise
        except KafkaIOError as e:
            trouble = self.consumer.trouble()
            if trouble is not None:
                self._last_trouble = trouble
            self.watch.failed(self._last_trouble or str(e))
        else:
            self.watch.ok()
            self._last_trouble = None

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

    def _take(self, tp: TP, want: int, out: list, now: int) -> None:
        """Hand out up to ``want`` buffered records of partition ``tp``."""
        buf = self.buffers[tp]
        ends = self.ends
        offset = self.access.offset
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
            nxt = offset(chunk[-1]) + 1
            if ends is not None:
                end = ends.get(tp)
                if end is not None and nxt >= end:
                    chunk = [r for r in chunk if offset(r) < end]
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
    def _convert(self, tp: TP, chunk: list, out: list, now: int) -> None:
        """Elements of one chunk, a batch at a time (module docstring); the partition's
        watermark from the event times of the elements kept."""
        kd, vd, acc = self.kd, self.vd, self.access
        latest = self.ctx.latest_event_time()
        els = None
        if not self.with_metadata and self.timestamp_fn is None:
            if kd is None and vd is None:
                els = acc.pairs(chunk)
            else:
                keys = acc.keys(chunk)
                values = acc.values(chunk)
                if (kd is None or None not in keys) and (vd is None or None not in values):
                    try:
                        if kd is not None:
                            keys = list(map(kd, keys))
                        if vd is not None:
                            values = list(map(vd, values))
                        els = list(zip(zip(keys, values), acc.timestamps(chunk)))
                    except Exception:  # noqa: BLE001 - found again record by record
                        els = None
            if els:
                # the common case: every event time in range (else record by record, so that
                # a record out of range goes to the error policy and moves no watermark)
                hi = max(map(_second, els))
                if hi > latest or min(map(_second, els)) < MIN_EVENT_TIME_MS:
                    els = None
        if els is None:
            els = self._convert_slow(tp, chunk, latest)
            hi = max(map(_second, els)) if els else None
        out.extend(els)
        if els:
            self.wm.on_records(tp, hi, now)

    def _convert_slow(self, tp: TP, chunk: list, latest: int) -> list:
        """Record by record: failures and event times out of range to the error policy."""
        acc = self.access
        meta, tsf = self.with_metadata, self.timestamp_fn
        headers = acc.headers(chunk) if meta or tsf is not None else None
        return decode_columns(tp, acc.keys(chunk), acc.values(chunk), acc.timestamps(chunk),
                              acc.offsets(chunk), headers, self.kd, self.vd, tsf, meta,
                              self.cfg["on_error"], self.ctx, latest)

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
                lag[_name(tp)] = max(hw - self.next[tp], 0)
        paused = sorted(_name(tp) for tp in self.paused)
        held = {_name(tp): self.wm.partition_watermark(tp)
                for tp in self.wm.holding_back(self.clock.now_ms())}
        out = {"lag": lag, "buffered": self.buffered, "paused": paused,
               "watermark_held_by": held}
        broker = self.watch.status()
        if broker is not None:
            out["broker"] = broker
        return out

    # -- checkpoints ---------------------------------------------------------------------------
    def snapshot(self) -> Any:
        self._to_commit = dict(self.next)
        return {"next": dict(self.next), "ends": None if self.ends is None else dict(self.ends),
                "wm": self.wm.snapshot()}

    def restore(self, state: Any) -> None:
        saved = state["next"]
        for tp in self.tps:
            off = saved.get(tp)
            if off is not None:
                self.next[tp] = off
        self.fetched = dict(self.next)
        if state.get("ends") is not None and self.ends is not None:
            for tp, e in state["ends"].items():
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

    def _commit(self, offsets: dict[TP, int] | None) -> None:
        """Commit to the group, best effort (recovery uses the checkpoint): not while the
        brokers do not answer, and a commit without an answer counts as a failed attempt to
        reach them."""
        if not self.cfg["group_id"] or not offsets:
            return
        if self.watch.down:
            self._count("offset_commit_failures")
            return
        try:
            self.consumer.commit(offsets, self.watch.probe_timeout())
            self._count("offset_commits")
        except BrokerUnreachableError as e:
            self._count("offset_commit_failures")
            self.watch.failed(e.last_error or str(e))
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
            self.consumer.close()

    def abort(self) -> None:
        """The run failed or was cancelled: close the consumer and commit nothing."""
        self._to_commit = None
        self.consumer.close()
