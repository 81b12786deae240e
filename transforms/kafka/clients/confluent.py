"""The confluent-kafka backend (librdkafka; ``pip install 'fluvial[kafka]'``).

Notes on the library, each handled here:

* Clients connect lazily; opening one here waits (up to ``connect_timeout``) for a first
  metadata answer, so a wrong address fails at once with a clear error, like kafka-python's.
* Connection problems arrive through ``error_cb`` (served by ``consume``/``poll``/``flush``):
  ``_TRANSPORT``, ``_ALL_BROKERS_DOWN``, ``_RESOLVE``, ``_TIMED_OUT`` are kept as
  :meth:`trouble`; ``_AUTHENTICATION``, the SASL error codes and ``_SSL`` are authentication
  failures, raised as :class:`~fluvial.transforms.kafka.errors.KafkaAuthenticationError`.
* librdkafka's own log lines go to logger ``fluvial.kafka.librdkafka`` (not straight to stderr).
* Delivery reports only for failures (``delivery.report.only.error``): one callback per failed
  record, none per delivered one.
* A consumer needs a ``group.id`` even when it only reads assigned partitions; without
  ``group_id`` a fixed placeholder is set and never used (fluvial commits only with one).
* Record timestamp 0 means "now" to librdkafka: the producer cannot write event time 0
  (``zero_timestamp_ok`` is False; the writer refuses such an element as a bad record).
* Sending an offset commit in a transaction needs a consumer's group metadata: the producer
  keeps one idle consumer per marker group for it.

>>> BACKEND.name
'confluent'
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from ..errors import BrokerUnreachableError, KafkaAuthenticationError, KafkaIOError
from .base import TP, Backend, Chunk, ConsumerClient, ProducerClient, Record, RecordAccess
from .diagnose import connect_failure
from .options import check_config_style

NAME = "confluent"
LOG = logging.getLogger("fluvial.kafka.librdkafka")
_NO_GROUP = "fluvial-assigned-partitions"
_NO_OFFSET = -1001


def _codes() -> tuple[frozenset, frozenset]:
    from confluent_kafka import KafkaError as K

    down = frozenset({K._TRANSPORT, K._ALL_BROKERS_DOWN, K._RESOLVE, K._TIMED_OUT})
    auth = frozenset({K._AUTHENTICATION, K.SASL_AUTHENTICATION_FAILED,
                      K.UNSUPPORTED_SASL_MECHANISM, K.ILLEGAL_SASL_STATE, K._SSL})
    return down, auth


def _text(err: Any) -> str:
    return f"{err.name()}: {err.str()}"


def _tp(tp: TP, offset: int = _NO_OFFSET) -> Any:
    from confluent_kafka import TopicPartition

    return TopicPartition(tp[0], tp[1], offset)


def _offset_or_none(off: int) -> int | None:
    return None if off < 0 else off


ACCESS = RecordAccess(
    keys=lambda recs: [m.key() for m in recs],
    values=lambda recs: [m.value() for m in recs],
    timestamps=lambda recs: [m.timestamp()[1] for m in recs],
    offsets=lambda recs: [m.offset() for m in recs],
    headers=lambda recs: [tuple(m.headers() or ()) for m in recs],
    offset=lambda m: m.offset(),
    pairs=lambda recs: [((m.key(), m.value()), m.timestamp()[1]) for m in recs],
)


class _Errors:
    """``error_cb`` bookkeeping shared by the consumer and the producer."""

    def _init_errors(self, label: str, servers: Any, user_cb: Any) -> None:
        self.label = label
        self.servers = servers
        self._user_cb = user_cb
        self._down, self._auth = _codes()
        self._trouble: str | None = None
        self.last_error: str | None = None
        self.auth_error: str | None = None

    def _on_error(self, err: Any) -> None:
        code = err.code()
        if code in self._auth:
            self.auth_error = _text(err)
        elif code in self._down:
            self._trouble = _text(err)
        self.last_error = _text(err)
        if self._user_cb is not None:
            self._user_cb(err)

    def trouble(self) -> str | None:
        t, self._trouble = self._trouble, None
        return t

    def _check_auth(self) -> None:
        if self.auth_error is not None:
            raise KafkaAuthenticationError(self.label, self.servers, self.auth_error)

    def _config(self, label: str, servers: Any, client_id: str,
                config: dict[str, Any]) -> dict[str, Any]:
        check_config_style(label, config, NAME)
        conf = {"bootstrap.servers": servers if isinstance(servers, str) else ",".join(servers),
                "client.id": client_id, "logger": LOG, **config}
        self._init_errors(label, servers, conf.get("error_cb"))
        conf["error_cb"] = self._on_error
        return conf

    def _make(self, factory: Any, conf: dict[str, Any]) -> Any:
        from confluent_kafka import KafkaException

        from fluvial.errors import PipelineConstructionError

        try:
            return factory(conf)
        except (KafkaException, ValueError, TypeError) as e:
            raise PipelineConstructionError(
                f"transform '{self.label}': confluent-kafka refused the client configuration: "
                f"{e}") from e

    def _connect(self, client: Any, serve: Any, connect_timeout: float) -> None:
        """Wait for a first metadata answer (see the module docstring)."""
        from confluent_kafka import KafkaException

        deadline = time.monotonic() + connect_timeout
        while True:
            left = deadline - time.monotonic()
            try:
                client.list_topics(timeout=max(min(left, 1.0), 0.05))
                serve()
                self._check_auth()
                return
            except KafkaException as e:
                serve()
                err = e.args[0] if e.args else None
                if err is not None and hasattr(err, "code") and err.code() in self._auth:
                    self.auth_error = self.auth_error or _text(err)
                self._check_auth()
                self.last_error = self.last_error or (_text(err) if err is not None else str(e))
            if time.monotonic() >= deadline:
                raise connect_failure(self.label, self.servers, connect_timeout,
                                      self.auth_error, self.last_error)

    def _kafka_error(self, what: str, e: BaseException) -> KafkaIOError:
        err = e.args[0] if e.args else None
        code = err.code() if hasattr(err, "code") else None
        if code in self._auth:
            return KafkaAuthenticationError(self.label, self.servers, _text(err))
        if code in self._down:
            return BrokerUnreachableError(self.label, self.servers, "lost",
                                          f"{what}: {_text(err)}", 0)
        detail = _text(err) if hasattr(err, "name") else str(e)
        return KafkaIOError(f"transform '{self.label}': {what} failed on "
                            f"{self.servers!r}: {detail}")


class ConfluentConsumer(_Errors, ConsumerClient):
    name = NAME
    access = ACCESS

    def __init__(self, label: str, servers: Any, connect_timeout: float, group_id: str | None,
                 isolation_level: str, max_poll_records: int, fetch_max_bytes: int,
                 max_partition_fetch_bytes: int, client_id: str, config: dict[str, Any]) -> None:
        from confluent_kafka import Consumer, KafkaError

        self._eof_code = KafkaError._PARTITION_EOF
        conf = self._config(label, servers, client_id, {
            "group.id": group_id or _NO_GROUP, "enable.auto.commit": False,
            "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
            "isolation.level": isolation_level, "fetch.max.bytes": fetch_max_bytes,
            "max.partition.fetch.bytes": max_partition_fetch_bytes,
            # librdkafka's prefetch queue, bounded like the fetch size
            "queued.max.messages.kbytes": max(1024, fetch_max_bytes // 1024),
            "enable.partition.eof": True,  # fetched_end
            # a fetch waits at most 100 ms for data at the broker (librdkafka's 500 ms stalls
            # a consumer whose partitions were just resumed or sought), and fetching resumes
            # 10 ms after the prefetch queue drained below its bound (1 s by default)
            "fetch.wait.max.ms": 100, "fetch.queue.backoff.ms": 10,
            **config})
        self._eof: set[TP] = set()
        self._one_topic: str | None = None
        self._conf = conf
        self._admin: Any = None  # for commits
        self.c = self._make(Consumer, conf)
        self.closed = False
        try:
            self._connect(self.c, lambda: self.c.poll(0), connect_timeout)
        except BaseException:
            self.close()
            raise

    def partitions_for(self, topic: str, timeout: float) -> list[int] | None:
        from confluent_kafka import KafkaException

        try:
            md = self.c.list_topics(topic, timeout=timeout)
        except KafkaException as e:
            raise self._kafka_error("Metadata", e) from e
        t = md.topics.get(topic)
        if t is None or t.error is not None or not t.partitions:
            return None
        return sorted(t.partitions)

    def assign(self, positions: dict[TP, int]) -> None:
        topics = {t for t, _ in positions}
        self._one_topic = topics.pop() if len(topics) == 1 else None
        self._eof.clear()
        self.c.assign([_tp(tp, off) for tp, off in positions.items()])

    def seek(self, tp: TP, offset: int) -> None:
        self._eof.discard(tp)
        self.c.seek(_tp(tp, offset))

    def pause(self, tps: Sequence[TP]) -> None:
        if tps:
            self.c.pause([_tp(tp) for tp in tps])

    def resume(self, tps: Sequence[TP]) -> None:
        if tps:
            self.c.resume([_tp(tp) for tp in tps])

    def fetch(self, max_records: int, timeout: float) -> list[Chunk]:
        msgs = self.c.consume(max_records, timeout)
        self._check_auth()
        if not msgs:
            return []
        chunks: list[Chunk] = []
        cur: list | None = None
        ct = cp = None
        one = self._one_topic  # the only topic assigned, or None
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() == self._eof_code:
                    self._eof.add((m.topic(), m.partition()))
                else:
                    self._on_error(err)
                continue
            p = m.partition()
            if one is None:
                t = m.topic()
                if p != cp or t != ct:
                    ct, cp = t, p
                    cur = []
                    chunks.append(Chunk((t, p), cur))
            elif p != cp:
                cp = p
                cur = []
                chunks.append(Chunk((one, p), cur))
            cur.append(m)  # type: ignore[union-attr]
        return chunks

    def _list_offsets(self, tps: Sequence[TP], spec: int, timeout: float) -> dict[TP, int]:
        """ListOffsets for all ``tps`` in one request per broker: ``spec`` -2 (earliest) or
        -1 (latest, for the consumer's isolation level), the special timestamps of the
        protocol, which ``offsets_for_times`` passes on as they are (``get_watermark_offsets``
        asks one partition at a time)."""
        from confluent_kafka import KafkaException

        if not tps:
            return {}
        try:
            got = self.c.offsets_for_times([_tp(tp, spec) for tp in tps], timeout=timeout)
        except KafkaException as e:
            raise self._kafka_error("ListOffsets", e) from e
        out = {}
        for r in got:
            if r.error is not None:
                raise self._kafka_error("ListOffsets", KafkaException(r.error))
            out[(r.topic, r.partition)] = r.offset
        return out

    def beginning_offsets(self, tps: Sequence[TP], timeout: float) -> dict[TP, int]:
        return self._list_offsets(tps, -2, timeout)

    def listed_end_offsets(self, tps: Sequence[TP], timeout: float) -> dict[TP, int]:
        return self._list_offsets(tps, -1, timeout)

    def offsets_for_times(self, tps: Sequence[TP], ts_ms: int,
                          timeout: float) -> dict[TP, int | None]:
        from confluent_kafka import KafkaException

        try:
            got = self.c.offsets_for_times([_tp(tp, ts_ms) for tp in tps], timeout=timeout)
        except KafkaException as e:
            raise self._kafka_error("ListOffsets(timestamp)", e) from e
        return {(r.topic, r.partition): _offset_or_none(r.offset) for r in got}

    def committed(self, tps: Sequence[TP], timeout: float) -> dict[TP, int | None]:
        from confluent_kafka import KafkaException

        try:
            got = self.c.committed([_tp(tp) for tp in tps], timeout=timeout)
        except KafkaException as e:
            raise self._kafka_error("OffsetFetch", e) from e
        return {(r.topic, r.partition): _offset_or_none(r.offset) for r in got}

    def commit(self, offsets: dict[TP, int], timeout: float) -> None:
        """Through the admin API (AlterConsumerGroupOffsets, the same OffsetCommit request):
        a consumer's own commit waits without a limit when the broker is gone, and its close
        then waits for that commit forever."""
        from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
        from confluent_kafka.admin import AdminClient

        if self._admin is None:
            self._admin = self._make(AdminClient, {
                k: v for k, v in self._conf.items()
                if k in ("bootstrap.servers", "client.id", "logger", "error_cb")
                or k.startswith(("security.", "sasl.", "ssl."))})
        tps = [_tp(tp, off) for tp, off in offsets.items()]
        try:
            futures = self._admin.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(self._conf["group.id"], tps)],
                request_timeout=timeout)
            for f in futures.values():
                done = f.result(timeout=timeout + 1)
                bad = [p for p in done.topic_partitions or () if p.error is not None]
                if bad:
                    raise KafkaException(bad[0].error)
        except KafkaException as e:
            raise self._kafka_error("OffsetCommit", e) from e
        except TimeoutError as e:  # concurrent.futures: no answer within the timeout
            raise BrokerUnreachableError(self.label, self.servers, "lost",
                                         f"OffsetCommit: no answer within {timeout:g}s",
                                         timeout) from e

    def position(self, tp: TP) -> int | None:
        return _offset_or_none(self.c.position([_tp(tp)])[0].offset)

    def highwater(self, tp: TP) -> int | None:
        try:
            return _offset_or_none(self.c.get_watermark_offsets(_tp(tp), cached=True)[1])
        except Exception:  # noqa: BLE001 - unknown yet
            return None

    def fetched_end(self, tp: TP) -> bool:
        return tp in self._eof  # a _PARTITION_EOF event: the consumer reached the end

    def probe(self, tps: Sequence[TP], timeout: float) -> None:
        from confluent_kafka import KafkaException

        deadline = time.monotonic() + timeout
        for topic in sorted({t for t, _ in tps}):
            try:
                md = self.c.list_topics(topic, timeout=max(deadline - time.monotonic(), 0.05))
            except KafkaException as e:
                raise self._kafka_error("Metadata", e) from e
            meta = md.topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                why = f": {meta.error.str()}" if meta is not None and meta.error else ""
                raise KafkaIOError(f"transform '{self.label}': topic {topic!r} is not on the "
                                   f"broker any more{why}")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._admin = None
            self.c.close()


class ConfluentProducer(_Errors, ProducerClient):
    name = NAME
    zero_timestamp_ok = False

    def __init__(self, label: str, servers: Any, connect_timeout: float, linger_ms: int,
                 batch_size: int, compression_type: str | None, client_id: str,
                 transactional_id: str | None, transaction_timeout_ms: int | None,
                 config: dict[str, Any]) -> None:
        from confluent_kafka import Producer

        base: dict[str, Any] = {
            "enable.idempotence": True, "acks": "all", "linger.ms": linger_ms,
            "batch.size": batch_size, "delivery.report.only.error": True,
        }
        if compression_type:
            base["compression.type"] = compression_type
        if transactional_id is not None:
            base["transactional.id"] = transactional_id
            base["transaction.timeout.ms"] = transaction_timeout_ms
        conf = self._config(label, servers, client_id, {**base, **config})
        self._user_dr = conf.pop("on_delivery", None)
        conf["on_delivery"] = self._on_delivery
        self.conf = conf
        self._failed: list[str] = []
        self.p = self._make(Producer, conf)
        self._marker_consumers: dict[str, Any] = {}
        self.closed = False
        try:
            self._connect(self.p, lambda: self.p.poll(0), connect_timeout)
        except BaseException:
            self.close(0)
            raise

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._failed.append(f"{_text(err)} (topic {msg.topic()!r})")
        if self._user_dr is not None:
            self._user_dr(err, msg)

    def send(self, records: list[Record]) -> int:
        produce = self.p.produce
        n = 0
        try:
            for topic, k, v, ts in records:
                if ts is None:
                    produce(topic, v, k)
                else:
                    produce(topic, v, k, timestamp=ts)
                n += 1
        except BufferError:  # the client's queue is full: the writer flushes and sends the rest
            pass
        self.p.poll(0)
        return n

    def flush(self, timeout: float) -> int:
        left = self.p.flush(timeout)
        self._check_auth()
        return left

    def failures(self) -> list[str]:
        self.p.poll(0)
        out, self._failed = self._failed, []
        return out

    def _txn(self, what: str, call: Any) -> bool:
        """Run a transaction call; False when it timed out or failed retriably (call again)."""
        from confluent_kafka import KafkaError, KafkaException

        try:
            call()
            return True
        except KafkaException as e:
            err = e.args[0] if e.args else None
            if err is not None and hasattr(err, "retriable") and (
                    err.retriable() or err.code() == KafkaError._TIMED_OUT) \
                    and not err.fatal() and not err.txn_requires_abort():
                self._trouble = self._trouble or _text(err)
                return False
            raise self._kafka_error(what, e) from e

    def init_transactions(self, timeout: float) -> bool:
        return self._txn("InitProducerId", lambda: self.p.init_transactions(timeout))

    def begin_transaction(self) -> None:
        self.p.begin_transaction()

    def _group_metadata(self, group_id: str) -> Any:
        c = self._marker_consumers.get(group_id)
        if c is None:
            from confluent_kafka import Consumer

            c = self._marker_consumers[group_id] = Consumer({
                "bootstrap.servers": self.conf["bootstrap.servers"], "group.id": group_id,
                "enable.auto.commit": False, "logger": LOG,
                **{k: v for k, v in self.conf.items() if k.startswith(("security.", "sasl.",
                                                                       "ssl."))}})
        return c.consumer_group_metadata()

    def send_offsets(self, offsets: dict[TP, int], group_id: str, timeout: float) -> bool:
        tps = [_tp(tp, off) for tp, off in offsets.items()]
        gm = self._group_metadata(group_id)
        return self._txn("TxnOffsetCommit",
                         lambda: self.p.send_offsets_to_transaction(tps, gm, timeout))

    def commit_transaction(self, timeout: float) -> bool:
        return self._txn("EndTxn(commit)", lambda: self.p.commit_transaction(timeout))

    def abort_transaction(self, timeout: float) -> bool:
        return self._txn("EndTxn(abort)", lambda: self.p.abort_transaction(timeout))

    def close(self, timeout: float) -> None:
        if self.closed:
            return
        self.closed = True
        for c in self._marker_consumers.values():
            c.close()
        self._marker_consumers.clear()
        if timeout <= 0:
            # abandon: drop what is queued; Producer.close() would first abort an open
            # transaction and flush without a time limit (it hangs on a fenced producer)
            self.p.purge()
            self.p.flush(0)
            return
        self.p.flush(timeout)
        close = getattr(self.p, "close", None)
        if close is not None:
            close()


class ConfluentBackend(Backend):
    name = NAME

    def consumer(self, label: str, servers: Any, connect_timeout: float, **kw: Any) -> ConsumerClient:
        return ConfluentConsumer(label, servers, connect_timeout, **kw)

    def producer(self, label: str, servers: Any, connect_timeout: float, **kw: Any) -> ProducerClient:
        return ConfluentProducer(label, servers, connect_timeout, **kw)

    def create_topics(self, label: str, servers: Any, topics: Sequence[str], partitions: int,
                      connect_timeout: float, client_id: str, config: dict[str, Any]) -> None:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        holder = _Errors()
        conf = holder._config(label, servers, client_id, dict(config))
        admin = holder._make(AdminClient, conf)
        holder._connect(admin, lambda: admin.poll(0), connect_timeout)
        futures = admin.create_topics([NewTopic(t, num_partitions=partitions,
                                                replication_factor=1) for t in topics],
                                      operation_timeout=connect_timeout)
        for t, f in futures.items():
            try:
                f.result(timeout=connect_timeout)
            except KafkaException as e:
                if e.args and e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise holder._kafka_error(f"CreateTopics({t!r})", e) from e
        deadline = time.monotonic() + connect_timeout
        while time.monotonic() < deadline:  # wait until the metadata shows them
            md = admin.list_topics(timeout=max(deadline - time.monotonic(), 0.05))
            if all(t in md.topics and md.topics[t].partitions for t in topics):
                return
            time.sleep(0.05)


BACKEND = ConfluentBackend()
