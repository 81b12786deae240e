"""KafkaSink and its writers: at-least-once (idempotent producer, flushed at each checkpoint) and
exactly-once (one Kafka transaction per checkpoint epoch, committed when the checkpoint is
durable).

**Exactly-once protocol.** The writer owns one stable transactional id,
``<transactional_id_prefix>-0``. Records written between two checkpoints go into one
transaction and are also kept (serialized) in memory. ``snapshot(n)`` flushes and returns the
epoch ``n`` with those records as the checkpoint's state (the transaction is now pre-committed);
``notify_checkpoint_complete(n)`` commits it and the next write begins a new transaction. Each
transaction also commits, through ``send_offsets_to_transaction``, the offset ``n`` of a marker
partition (partition 0 of ``marker_topic``, default ``topic``) for a marker group unique to this
pipeline instance (``fluvial-eos.<prefix>.<token>``, the token kept in the checkpoints): the
marker becomes visible exactly when the transaction commits.

After a restart, ``restore(state)`` runs ``init_transactions`` with the same id: that fences the
old producer and aborts its open transaction (Kafka completes a commit already under way first).
A client cannot resume the dead producer's pre-committed transaction (Kafka's Java client can
only through internals), so the writer reads the marker: if it shows epoch ``n`` committed,
nothing is left to do; otherwise the restored state's records are produced again in a new
transaction carrying marker ``n`` and committed. Each checkpointed epoch is therefore committed
exactly once, and records after the restored checkpoint are produced again by the replayed
source in later transactions. See docs/kafka.md for the resulting guarantee.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from typing import Any

from fluvial.sink import Sink, SinkWriter
from fluvial.timeutil import MIN_TIMESTAMP_MS

from .client import KafkaIOError, connect
from .serde import serializer


def default_prefix(label: str, topic: str | None, checkpoint_dir: str | None) -> str:
    """A stable transactional id prefix: a hash of the sink's label, topic and checkpoint
    directory (a restarted pipeline with the same checkpoint directory gets the same id).

    >>> default_prefix("Write", "out", None) == default_prefix("Write", "out", None)
    True
    """
    where = os.path.abspath(checkpoint_dir) if checkpoint_dir else ""
    h = hashlib.sha1(f"{label}\0{topic}\0{where}".encode()).hexdigest()[:16]
    return f"fluvial-{h}"


class KafkaSink(Sink):
    """The Sink behind :class:`fluvial.transforms.kafka.WriteToKafka` (parameters there)."""

    def __init__(self, **cfg: Any) -> None:
        self.cfg = cfg

    def display_name(self) -> str:
        return "KafkaSink"

    def open(self, ctx: Any) -> SinkWriter:
        if self.cfg["delivery"] == "exactly_once":
            return TransactionalKafkaWriter(self.cfg, ctx)
        return KafkaWriter(self.cfg, ctx)


class KafkaWriter(SinkWriter):
    """At-least-once: idempotent producer, acks=all, flushed (and every send checked) at each
    checkpoint and at the end."""

    transactional = False

    def __init__(self, cfg: dict[str, Any], ctx: Any) -> None:
        self.cfg = cfg
        self.label = ctx.label
        self.ctx = ctx
        self.ks = serializer(cfg["key_serializer"])
        self.vs = serializer(cfg["value_serializer"])
        self.key_fn: Callable[[Any], Any] | None = cfg["key_fn"]
        self.topic = cfg["topic"]
        self.topic_fn: Callable[[Any], str] | None = cfg["topic_fn"]
        self.with_timestamps = cfg["with_timestamps"]
        self.producer_config = dict(
            acks="all", enable_idempotence=True, linger_ms=cfg["linger_ms"],
            batch_size=cfg["batch_size"], compression_type=cfg["compression_type"],
            max_in_flight_requests_per_connection=5, client_id=cfg["client_id"],
            **cfg["producer_config"],
        )
        self.futures: list = []
        self.producer = self._open_producer()

    def _open_producer(self, **extra: Any) -> Any:
        from kafka import KafkaProducer

        return connect(KafkaProducer, self.label, self.cfg["bootstrap_servers"],
                       self.cfg["connect_timeout"], **self.producer_config, **extra)

    # -- elements to records -------------------------------------------------------------------
    def _records(self, batch: list) -> list[tuple]:
        """(topic, key bytes, value bytes, timestamp ms or None) for each element."""
        ks, vs, key_fn, topic, topic_fn = self.ks, self.vs, self.key_fn, self.topic, self.topic_fn
        out = []
        for wv in batch:
            el = wv.value
            if key_fn is not None:
                k, v = key_fn(el), el
            else:
                try:
                    k, v = el
                except (TypeError, ValueError):
                    raise KafkaIOError(
                        f"transform '{self.label}': elements must be (key, value) pairs, got "
                        f"{el!r:.100}; pass key_fn=... to write plain values"
                    ) from None
            ts = wv.timestamp if self.with_timestamps and wv.timestamp > 0 else None
            if ts == MIN_TIMESTAMP_MS:
                ts = None
            out.append((topic_fn(el) if topic_fn is not None else topic,
                        None if k is None else ks(k), None if v is None else vs(v), ts))
        return out

    def _send(self, records: list[tuple]) -> None:
        send = self.producer.send
        futs = self.futures
        for topic, k, v, ts in records:
            futs.append(send(topic, value=v, key=k, timestamp_ms=ts))

    def write(self, batch: list) -> None:
        self._send(self._records(batch))

    def _flush(self) -> None:
        self.producer.flush(timeout=self.cfg["flush_timeout"])
        futs, self.futures = self.futures, []
        for f in futs:
            if f.failed():
                raise KafkaIOError(
                    f"transform '{self.label}': the broker did not accept a record: "
                    f"{f.exception!r}") from f.exception

    def snapshot(self, checkpoint_id: int) -> Any:
        self._flush()
        return None

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self.producer.close()

    def abort(self) -> None:
        self.producer.close(timeout=0)


class TransactionalKafkaWriter(KafkaWriter):
    """Exactly-once (see the module docstring for the protocol)."""

    transactional = True

    def __init__(self, cfg: dict[str, Any], ctx: Any) -> None:
        self.prefix = cfg["transactional_id_prefix"] or default_prefix(
            ctx.label, cfg["topic"], getattr(ctx.options, "checkpoint_dir", None))
        self.transactional_id = f"{self.prefix}-0"
        self.token = uuid.uuid4().hex[:12]
        self.marker_topic = cfg["marker_topic"] or cfg["topic"]
        super().__init__(cfg, ctx)
        self.in_txn = False
        self.epoch_records: list[tuple] = []  # serialized records of the open transaction
        self.pending: tuple[int, list[tuple]] | None = None  # (epoch, records) pre-committed
        self.held: list[tuple] = []  # written while an epoch waits for its commit
        self.commits = 0
        self.aborts = 0

    def _open_producer(self, **extra: Any) -> Any:
        producer = super()._open_producer(
            transactional_id=self.transactional_id,
            transaction_timeout_ms=self.cfg["transaction_timeout_ms"])
        producer.init_transactions()  # fences an older producer with this id, aborts its txn
        return producer

    @property
    def marker_group(self) -> str:
        return f"fluvial-eos.{self.prefix}.{self.token}"

    def _marker_tp(self) -> Any:
        from kafka import TopicPartition

        return TopicPartition(self.marker_topic, 0)

    def _begin(self) -> None:
        if not self.in_txn:
            self.producer.begin_transaction()
            self.in_txn = True

    def write(self, batch: list) -> None:
        recs = self._records(batch)
        if self.pending is not None:
            self.held.extend(recs)
            return
        self._begin()
        self.epoch_records.extend(recs)
        self._send(recs)

    def _mark(self, epoch: int) -> None:
        from kafka.structs import OffsetAndMetadata

        self.producer.send_offsets_to_transaction(
            {self._marker_tp(): OffsetAndMetadata(epoch, "", -1)}, self.marker_group)

    def snapshot(self, checkpoint_id: int) -> Any:
        if self.pending is not None:  # the last epoch never completed: it stays in this txn
            self.epoch_records = self.pending[1] + self.held
            self._send(self.held)
            self.held = []
            self.pending = None
        self._begin()
        self._mark(checkpoint_id)
        self._flush()
        self.pending = (checkpoint_id, self.epoch_records)
        self.epoch_records = []
        return {"transactional_id": self.transactional_id, "token": self.token,
                "epoch": checkpoint_id, "records": self.pending[1]}

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        if self.pending is None or self.pending[0] > checkpoint_id:
            return
        self.producer.commit_transaction()
        self.commits += 1
        self.in_txn = False
        self.pending = None
        held, self.held = self.held, []
        if held:
            self._begin()
            self.epoch_records.extend(held)
            self._send(held)

    def committed_epoch(self) -> int | None:
        """The last epoch whose transaction committed, from the marker group (None: none)."""
        from kafka import KafkaConsumer

        c = connect(KafkaConsumer, self.label, self.cfg["bootstrap_servers"],
                    self.cfg["connect_timeout"], group_id=self.marker_group,
                    enable_auto_commit=False, client_id=self.cfg["client_id"])
        try:
            return c.committed(self._marker_tp())
        finally:
            c.close(autocommit=False)

    def restore(self, state: Any) -> None:
        if state is None:
            return
        # init_transactions in __init__ already fenced the old producer and aborted its
        # open transaction; the marker now tells whether the restored epoch committed.
        self.token = state["token"]
        epoch = state["epoch"]
        done = self.committed_epoch()
        if done is not None and done >= epoch:
            return
        self.producer.begin_transaction()
        self.in_txn = True
        self._send(state["records"])
        self._mark(epoch)
        self._flush()
        self.producer.commit_transaction()
        self.commits += 1
        self.in_txn = False

    def close(self) -> None:
        try:
            if self.pending is not None or self.in_txn:
                raise KafkaIOError(
                    f"transform '{self.label}': closing with an uncommitted transaction")
        finally:
            self.producer.close()

    def abort(self) -> None:
        try:
            if self.in_txn:
                self.producer.abort_transaction()
                self.aborts += 1
        except Exception:  # noqa: BLE001 - a fenced or broken producer has nothing to abort
            pass
        finally:
            self.in_txn = False
            self.producer.close(timeout=0)
