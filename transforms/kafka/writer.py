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

When the newest checkpoint is damaged, the runner may restore an older one only if
``committed_after`` finds the marker no further than that checkpoint's epoch: every snapshot
writes the marker, so any epoch committed after it refuses the fallback.

**Without checkpoints.** A bounded run without ``--checkpoint-dir`` writes everything in one
transaction, committed when the run ends successfully (aborted when it fails); its records are
not kept in memory (there is no restore), and the run must end within ``transaction_timeout_ms``.
When the writer opens, :func:`check_transaction_settings` refuses an unbounded input without
``--checkpoint-dir``, and a ``--checkpoint-interval`` not shorter than the transaction timeout.

**Bad elements** (not a ``(key, value)`` pair, a value the serializer refuses, an event time
before 1970) raise :class:`~fluvial.errors.BadRecordError`, which a restart cannot heal.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any

from fluvial.errors import PipelineConstructionError
from fluvial.sink import Sink, SinkWriter

from .client import KafkaIOError, connect
from .convert import RecordEncoder


def default_prefix(label: str, topic: str | None, checkpoint_dir: str | None) -> str:
    """A stable transactional id prefix: a hash of the sink's label, topic and checkpoint
    directory (a restarted pipeline with the same checkpoint directory gets the same id).

    >>> default_prefix("Write", "out", None) == default_prefix("Write", "out", None)
    True
    """
    where = os.path.abspath(checkpoint_dir) if checkpoint_dir else ""
    h = hashlib.sha1(f"{label}\0{topic}\0{where}".encode()).hexdigest()[:16]
    return f"fluvial-{h}"


def check_transaction_settings(label: str, cfg: dict[str, Any], options: Any) -> None:
    """Refuse exactly-once settings under which transactions cannot commit: an unbounded input
    without ``--checkpoint-dir`` (one transaction for the whole run, never committed, its
    records held in memory), and a checkpoint interval not shorter than the transaction
    timeout (the broker would abort each transaction before its checkpoint commits it).

    >>> from fluvial.options import PipelineOptions
    >>> opts = PipelineOptions(checkpoint_dir="/tmp/ck", checkpoint_interval=5)
    >>> check_transaction_settings("W", {"transaction_timeout_ms": 60_000}, opts)
    """
    checkpoint_dir = getattr(options, "checkpoint_dir", None)
    if not checkpoint_dir:
        if cfg.get("input_bounded") is False:
            raise PipelineConstructionError(
                f"transform '{label}': WriteToKafka(delivery='exactly_once') on an unbounded "
                "input needs --checkpoint-dir: its transactions commit at checkpoints, and "
                "without them the whole run would be one transaction that never commits; pass "
                "--checkpoint-dir DIR, or use delivery='at_least_once'")
        return
    interval = float(getattr(options, "checkpoint_interval", 0.0))
    timeout_ms = cfg["transaction_timeout_ms"]
    if interval * 1000 >= timeout_ms:
        raise PipelineConstructionError(
            f"transform '{label}': --checkpoint-interval {interval:g} s is not shorter than "
            f"WriteToKafka's transaction_timeout_ms={timeout_ms} ({timeout_ms / 1000:g} s): "
            "each transaction stays open for a checkpoint interval, and the broker aborts it "
            "after the timeout; lower --checkpoint-interval or raise transaction_timeout_ms "
            "(at most the broker's transaction.max.timeout.ms, 15 minutes by default)")


class KafkaSink(Sink):
    """The Sink behind :class:`fluvial.transforms.kafka.WriteToKafka` (parameters there)."""

    def __init__(self, **cfg: Any) -> None:
        self.cfg = cfg

    def display_name(self) -> str:
        return "KafkaSink"

    @property
    def exactly_once(self) -> bool:  # type: ignore[override]
        return self.cfg["delivery"] == "exactly_once"

    def exactly_once_promise(self) -> str | None:
        return "delivery='exactly_once'" if self.exactly_once else None

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
        self.encoder = RecordEncoder(cfg, self.label)
        self.topic = cfg["topic"]
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
        """(topic, key bytes, value bytes, timestamp ms or None) for each element; an element
        that cannot become a record raises :class:`~fluvial.errors.BadRecordError`."""
        return self.encoder.records(batch)

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
        checkpoint_dir = getattr(ctx.options, "checkpoint_dir", None)
        check_transaction_settings(ctx.label, cfg, ctx.options)
        # an epoch's records are kept for the checkpoint; without checkpoints there is no
        # restore to produce them again, so they are not kept
        self.keep_records = bool(checkpoint_dir)
        self.prefix = cfg["transactional_id_prefix"] or default_prefix(
            ctx.label, cfg["topic"], checkpoint_dir)
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
        from kafka.errors import KafkaError

        try:
            producer.init_transactions()  # fences an older producer with this id, aborts its txn
        except BaseException as e:
            producer.close(timeout=0)
            if isinstance(e, KafkaError):
                raise KafkaIOError(
                    f"transform '{self.label}': the producer could not initialize transactions "
                    f"for transactional id {self.transactional_id!r} ({type(e).__name__}: {e}); "
                    "check that the broker supports transactions, or raise max_block_ms in "
                    "producer_config") from e
            raise
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
        if self.keep_records:
            self.epoch_records.extend(recs)
        self._send(recs)

    def _mark(self, epoch: int) -> None:
        from kafka.structs import OffsetAndMetadata

        self.producer.send_offsets_to_transaction(
            {self._marker_tp(): OffsetAndMetadata(epoch, "", -1)}, self.marker_group)

    def snapshot(self, checkpoint_id: int) -> Any:
        if self.pending is not None:  # the last epoch never completed: it stays in this txn
            self.epoch_records = self.pending[1] + self.held if self.keep_records else []
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
            if self.keep_records:
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

    def committed_after(self, state: Any, checkpoint_id: int) -> str | None:
        """The marker of a transaction committed after the checkpoint ``state`` belongs to: a
        restore of that older checkpoint would produce that transaction's records again."""
        if state is None:
            return "transactions of unknown checkpoints (the older checkpoint has no state for it)"
        token, self.token = self.token, state["token"]
        try:
            done = self.committed_epoch()
            group = self.marker_group
        finally:
            self.token = token
        if done is None or done <= state["epoch"]:
            return None
        return (f"the transaction of checkpoint {done} to topic {self.topic!r} (marker group "
                f"{group!r})")

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
