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
Neither Python client can resume the dead producer's pre-committed transaction (Kafka's Java
client can only through internals), so the writer reads the marker: if it shows epoch ``n`` committed,
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
before 1970) follow the writer's ``on_error``: "fail" (default) raises
:class:`~fluvial.errors.BadRecordError`, which a restart cannot heal; "skip" drops the element
(counted in ``fluvial/errors_skipped``); "dead_letter" sends it to ``p.dead_letters()`` with the
reason. A writer that itself consumes dead letters (its element came from
``p.dead_letters()``) cannot send its own failures there: such a failure raises
BadRecordError.

**Clients, batches, broker loss.** The writers are written once over the producer interface
(:mod:`fluvial.transforms.kafka.clients`). A batch's elements become records in one loop (the
element-by-element path, with the error policy, only runs for a batch holding a bad element)
and go to the client as one list. Every wait (a flush, a full client buffer, a transaction
call) runs in steps of :data:`WAIT_STEP_S` under a
:class:`~fluvial.transforms.kafka.liveness.BrokerWatch`: while nothing is acknowledged the
brokers count as unreachable, and after ``broker_timeout`` the write fails with an error naming
the transform, the servers and the last error (the restart strategy then applies).

Records, counters and errors carry WriteToKafka's label (``"Out"``), not that of its Write
primitive (``"Out/Write"``).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from fluvial.errors import BadRecordError, PipelineConstructionError
from fluvial.ptransform import composite_label
from fluvial.sink import Sink, SinkWriter
from fluvial.timeutil import MIN_TIMESTAMP_MS

from .clients import backend
from .clients.base import ProducerClient, Record
from .convert import RecordEncoder
from .errors import KafkaIOError
from .liveness import BrokerWatch, broker_timeout

WAIT_STEP_S = 1.0
"""Each wait of a writer gives the client this long before the broker watch looks again."""

MARSHAL_VERSION = 4
"""The marshal format of an epoch's records in a checkpoint (readable by every Python 3)."""


def pack_records(records: list[Record]) -> bytes | list[Record]:
    """An epoch's records as the checkpoint holds them: one marshal blob, which the checkpoint
    writes as a single bytes object (pickling the list itself, one memoised tuple and two bytes
    objects per record, costs several times more and ran on the pipeline's thread at every
    checkpoint). A record holding something marshal cannot write (a serializer's own bytes-like
    type) keeps the list, for pickle. An empty epoch stays ``[]``.

    The checkpoint is authenticated before it is unpickled (see docs/exactly-once.md), so the
    blob read back is the blob written.

    >>> recs = [("out", b"k", b"v", 5), ("out", None, b"w", None)]
    >>> unpack_records(pack_records(recs)) == recs
    True
    """
    if not records:
        return []
    try:
        return marshal.dumps(records, MARSHAL_VERSION)
    except ValueError:
        return records


def unpack_records(packed: bytes | list[Record]) -> list[Record]:
    """The records :func:`pack_records` packed (a list: what it kept, or what an earlier fluvial
    wrote)."""
    if isinstance(packed, bytes):
        return marshal.loads(packed)
    return packed


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


def security_config(config: dict[str, Any]) -> dict[str, Any]:
    """The security settings (SASL, TLS) of a client configuration, for a helper client."""
    return {k: v for k, v in config.items() if k.startswith(("security", "sasl", "ssl"))}


class KafkaSink(Sink):
    """The Sink behind :class:`fluvial.transforms.kafka.WriteToKafka` (parameters there).
    ``composite``: applied by WriteToKafka as ``"Write" >> Write(sink)``, so records and
    errors carry WriteToKafka's label."""

    def __init__(self, composite: bool = False, **cfg: Any) -> None:
        self.cfg = cfg
        self.composite = composite
        self.on_error = cfg.get("on_error")  # seen by the dead-letter consumer check

    def display_name(self) -> str:
        return "KafkaSink"

    @property
    def exactly_once(self) -> bool:  # type: ignore[override]
        return self.cfg["delivery"] == "exactly_once"

    def exactly_once_promise(self) -> str | None:
        return "delivery='exactly_once'" if self.exactly_once else None

    def open(self, ctx: Any) -> SinkWriter:
        label = composite_label(ctx.label, "Write", self.composite)
        if label != ctx.label:
            from fluvial.source import SourceContext

            ctx = SourceContext(ctx.options, ctx.clock, label, ctx.metrics, ctx.dead_letter)
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
        self.topic = cfg["topic"]
        self.on_error = cfg.get("on_error") or "fail"
        self.servers = cfg["bootstrap_servers"]
        self.timeout = broker_timeout(cfg.get("broker_timeout"), ctx.options)
        self.backend = backend(cfg.get("client"), self.label, ctx.options)
        self._in_error = False  # inside a dead-letter hand-over (see the module docstring)
        self.producer = self._open_producer()
        self.encoder = RecordEncoder(cfg, self.label,
                                     zero_ok=getattr(self.producer, "zero_timestamp_ok", True))

    def _open_producer(self, transactional_id: str | None = None) -> ProducerClient:
        cfg = self.cfg
        return self.backend.producer(
            self.label, self.servers, cfg["connect_timeout"], linger_ms=cfg["linger_ms"],
            batch_size=cfg["batch_size"], compression_type=cfg["compression_type"],
            client_id=cfg["client_id"], transactional_id=transactional_id,
            transaction_timeout_ms=cfg["transaction_timeout_ms"] if transactional_id else None,
            config=dict(cfg["producer_config"]))

    # -- elements to records -------------------------------------------------------------------
    def _records(self, batch: list) -> list[Record]:
        """(topic, key bytes, value bytes, timestamp ms or None) for each element that can
        become a record (:class:`~fluvial.transforms.kafka.convert.RecordEncoder`); the others
        follow the writer's ``on_error``."""
        enc = self.encoder
        if enc.fast_ok:
            try:
                return enc.fast(batch)
            except Exception:  # noqa: BLE001 - found again element by element, with the policy
                pass
        out = []
        for wv in batch:
            try:
                out.append(enc.record(wv))
            except BadRecordError as e:
                self._bad(e, wv)
        return out

    def _bad(self, e: BadRecordError, wv: Any) -> None:
        """An element that cannot be written: the writer's ``on_error``."""
        if self.on_error == "fail" or self._in_error:
            raise e
        self._in_error = True
        try:
            self.ctx.handle_error(ValueError(e.reason), wv.value, policy=self.on_error,
                                  timestamp_ms=wv.timestamp if wv.timestamp != MIN_TIMESTAMP_MS
                                  else None, topic=self.topic)
        finally:
            self._in_error = False

    # -- waiting under the broker watch --------------------------------------------------------
    def _wait(self, what: str, attempt: Callable[[float], bool],
              progress: Callable[[], bool] | None = None) -> None:
        """Call ``attempt(WAIT_STEP_S)`` until it returns True; while it does not and
        ``progress()`` (something was acknowledged) is False, the brokers count as
        unreachable, and after ``broker_timeout`` this raises BrokerUnreachableError."""
        watch: BrokerWatch | None = None
        while not attempt(WAIT_STEP_S):
            if progress is not None and progress():
                if watch is not None:
                    watch.ok()
                continue
            if watch is None:
                watch = BrokerWatch(self.label, self.servers, self.timeout)
            trouble = self.producer.trouble()
            watch.failed(f"{what}: {trouble}" if trouble else f"{what}: no answer")
        if watch is not None:
            watch.ok()

    def _send(self, records: list[Record]) -> None:
        i = 0
        while i < len(records):
            i += self.producer.send(records[i:] if i else records)
            if i < len(records):  # the client's buffer is full: wait for room
                self._make_room()

    def _make_room(self) -> None:
        """Wait until the client acknowledged some of its queued records (its buffer has room
        again), at most WAIT_STEP_S per attempt under the broker watch."""
        before = self.producer.flush(0)

        def attempt(step: float) -> bool:
            deadline = time.monotonic() + step
            while True:
                if self.producer.flush(0.005) < before:
                    return True
                if time.monotonic() >= deadline:
                    return False

        self._wait("records not acknowledged", attempt)

    def _flush_queue(self) -> None:
        """Wait until every queued record is acknowledged."""
        left = [self.producer.flush(0)]

        def attempt(step: float) -> bool:
            left.append(self.producer.flush(step))
            return left[-1] == 0

        def progress() -> bool:
            moved = left[-1] < left[-2]
            del left[:-1]
            return moved

        if left[0]:
            self._wait("records not acknowledged", attempt, progress)

    def write(self, batch: list) -> None:
        self._send(self._records(batch))

    def _flush(self) -> None:
        self._flush_queue()
        failed = self.producer.failures()
        if failed:
            raise KafkaIOError(
                f"transform '{self.label}': the broker did not accept {len(failed)} record(s): "
                f"{failed[0]}")

    def snapshot(self, checkpoint_id: int) -> Any:
        self._flush()
        return None

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self.producer.close(WAIT_STEP_S)

    def abort(self) -> None:
        self.producer.close(0)


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
        self.epoch_records: list[Record] = []  # serialized records of the open transaction
        self.pending: tuple[int, list[Record]] | None = None  # (epoch, records) pre-committed
        self.held: list[Record] = []  # written while an epoch waits for its commit
        self.commits = 0
        self.aborts = 0

    def _open_producer(self, transactional_id: str | None = None) -> ProducerClient:
        producer = super()._open_producer(self.transactional_id)
        self.producer = producer
        try:
            # fences an older producer with this id, and aborts its open transaction
            self._wait("InitProducerId", producer.init_transactions)
        except KafkaIOError as e:
            producer.close(0)
            raise KafkaIOError(
                f"transform '{self.label}': the producer could not initialize transactions "
                f"for transactional id {self.transactional_id!r}: {e}") from e
        except BaseException:
            producer.close(0)
            raise
        return producer

    @property
    def marker_group(self) -> str:
        return f"fluvial-eos.{self.prefix}.{self.token}"

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
        group = self.marker_group
        offsets = {(self.marker_topic, 0): epoch}
        self._wait("TxnOffsetCommit", lambda t: self.producer.send_offsets(offsets, group, t))

    def _commit_txn(self) -> None:
        self._wait("EndTxn(commit)", self.producer.commit_transaction)

    def snapshot(self, checkpoint_id: int) -> Any:
        if self.pending is not None:  # the last epoch never completed: it stays in this txn
            self.epoch_records = self.pending[1] + self.held if self.keep_records else []
            self._send(self.held)
            self.held = []
            self.pending = None
        self._begin()
        self._flush()  # every record acknowledged (a fenced producer fails here, naming it)
        self._mark(checkpoint_id)
        self.pending = (checkpoint_id, self.epoch_records)
        self.epoch_records = []
        return {"transactional_id": self.transactional_id, "token": self.token,
                "epoch": checkpoint_id, "records": pack_records(self.pending[1])}

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        if self.pending is None or self.pending[0] > checkpoint_id:
            return
        self._commit_txn()
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
        cfg = self.cfg
        c = self.backend.consumer(
            self.label, self.servers, cfg["connect_timeout"], group_id=self.marker_group,
            isolation_level="read_committed", max_poll_records=1, fetch_max_bytes=1 << 20,
            max_partition_fetch_bytes=1 << 20, client_id=cfg["client_id"],
            config=security_config(cfg["producer_config"]))
        try:
            tp = (self.marker_topic, 0)
            return c.committed([tp], cfg["connect_timeout"]).get(tp)
        finally:
            c.close()

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
        # init_transactions when the writer opened already fenced the old producer and aborted
        # its open transaction; the marker now tells whether the restored epoch committed.
        self.token = state["token"]
        epoch = state["epoch"]
        done = self.committed_epoch()
        if done is not None and done >= epoch:
            return
        self.producer.begin_transaction()
        self.in_txn = True
        self._send(unpack_records(state["records"]))
        self._flush()
        self._mark(epoch)
        self._commit_txn()
        self.commits += 1
        self.in_txn = False

    def close(self) -> None:
        try:
            if self.pending is not None or self.in_txn:
                raise KafkaIOError(
                    f"transform '{self.label}': closing with an uncommitted transaction")
        finally:
            self.producer.close(WAIT_STEP_S)

    def abort(self) -> None:
        try:
            if self.in_txn:
                self.producer.abort_transaction(WAIT_STEP_S)
                self.aborts += 1
        except Exception:  # noqa: BLE001 - a fenced or broken producer has nothing to abort
            pass
        finally:
            self.in_txn = False
            self.producer.close(0)
