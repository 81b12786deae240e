"""The kafka-python backend (pure Python, ``kafka-python>=3,<4``).

Notes on the library, each handled here:

* Connecting retries the bootstrap until ``bootstrap_timeout_ms`` and then raises a bare
  timeout; why it failed is only logged. A handler on logger ``kafka`` (:class:`_ClientLog`,
  one per process) keeps the newest warnings and errors with the exceptions they carry: an
  authentication failure among them makes the connect error a
  :class:`~fluvial.transforms.kafka.errors.KafkaAuthenticationError`, and the newest one is
  the "last error" of a lost broker. The records are the process's: with several clients on
  different clusters in one process, the text may come from another client (it only decides
  when to probe and what the error message quotes; the probe itself is per client).
* ``commit_transaction``, ``abort_transaction`` and ``send_offsets_to_transaction`` wait without
  a timeout (forever when the broker is gone). The producer here starts the same transaction
  manager operation and waits on its result with a timeout, then waits again on the same
  result (kafka-python internals ``_transaction_manager`` and ``_sender``, stable across 3.x).
* ``send`` blocks up to ``max_block_ms`` on a full buffer or missing metadata; the producer
  uses short blocks (``max_block_ms`` = 2 s unless the config says otherwise) and reports the
  records not queued, so the writer's wait loop (and its broker watch) stays in charge.

>>> BACKEND.name
'kafka-python'
"""

from __future__ import annotations

import logging
import operator
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from ..errors import BrokerUnreachableError, KafkaAuthenticationError, KafkaIOError
from .base import TP, Backend, Chunk, ConsumerClient, ProducerClient, Record, RecordAccess
from .diagnose import connect_failure
from .options import check_config_style

NAME = "kafka-python"
_BLOCK_MS = 2000


class _ClientLog(logging.Handler):
    """The newest WARNING and ERROR records of logger ``kafka`` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: deque[tuple[int, int, str, BaseException | None]] = deque(maxlen=64)
        self.seq = 0
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must not break the client
            text = str(record.msg)
        args = record.args if isinstance(record.args, tuple) else ()
        exc = next((a for a in args if isinstance(a, BaseException)), None)
        with self._lock2:
            self.seq += 1
            self.records.append((self.seq, record.levelno, text, exc))

    def since(self, seq: int) -> list[tuple[int, int, str, BaseException | None]]:
        with self._lock2:
            return [r for r in self.records if r[0] > seq]


_LOG: _ClientLog | None = None
_LOG_LOCK = threading.Lock()


def _client_log() -> _ClientLog:
    global _LOG
    with _LOG_LOCK:
        if _LOG is None:
            _LOG = _ClientLog()
            logging.getLogger("kafka").addHandler(_LOG)
        return _LOG


def _auth_errors() -> tuple[type[BaseException], ...]:
    import ssl

    from kafka import errors as E

    return (E.SaslAuthenticationFailedError, E.UnsupportedSaslMechanismError,
            E.IllegalSaslStateError, ssl.SSLError)


def _auth_error_since(seq: int) -> str | None:
    auth = _auth_errors()
    for _, _level, _text, exc in reversed(_client_log().since(seq)):
        if isinstance(exc, auth):
            return f"{type(exc).__name__}: {exc}"
    return None


def _last_error_since(seq: int) -> str | None:
    """The newest record carrying an exception (a failed connection), else the newest ERROR,
    else the newest record."""
    recs = _client_log().since(seq)
    for _, _level, _text, exc in reversed(recs):
        if exc is not None:
            return f"{type(exc).__name__}: {exc}"
    for _, level, text, _exc in reversed(recs):
        if level >= logging.ERROR:
            return text
    return recs[-1][2] if recs else None


def _tp(tp: TP) -> Any:
    from kafka import TopicPartition

    return TopicPartition(tp[0], tp[1])


def _plain(tp: Any) -> TP:
    return (tp.topic, tp.partition)


_key = operator.attrgetter("key")
_value = operator.attrgetter("value")
_timestamp = operator.attrgetter("timestamp")
_offset = operator.attrgetter("offset")

ACCESS = RecordAccess(
    keys=lambda recs: [r.key for r in recs],
    values=lambda recs: [r.value for r in recs],
    timestamps=lambda recs: [r.timestamp for r in recs],
    offsets=lambda recs: [r.offset for r in recs],
    headers=lambda recs: [tuple(r.headers or ()) for r in recs],
    offset=_offset,
    pairs=lambda recs: [((r.key, r.value), r.timestamp) for r in recs],
)


def _connect(factory: Any, label: str, servers: Any, connect_timeout: float, **config: Any) -> Any:
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    seq = _client_log().seq
    try:
        return factory(bootstrap_servers=servers,
                       bootstrap_timeout_ms=int(connect_timeout * 1000), **config)
    except (KafkaTimeoutError, KafkaConnectionError) as e:
        raise connect_failure(label, servers, connect_timeout, _auth_error_since(seq),
                              _last_error_since(seq) or f"{type(e).__name__}: {e}") from e
    except _auth_errors() as e:
        raise KafkaAuthenticationError(label, servers, f"{type(e).__name__}: {e}") from e


class _Trouble:
    """``trouble()``: the newest client error (an ERROR record, or one carrying an exception)
    logged since the last call."""

    def _init_trouble(self) -> None:
        self._seen = _client_log().seq

    def trouble(self) -> str | None:
        log = _client_log()
        seq, self._seen = self._seen, log.seq
        recs = [r for r in log.since(seq) if r[3] is not None or r[1] >= logging.ERROR]
        if not recs:
            return None
        return _last_error_since(recs[0][0] - 1)


class KafkaPythonConsumer(_Trouble, ConsumerClient):
    name = NAME
    access = ACCESS

    def __init__(self, label: str, servers: Any, connect_timeout: float, group_id: str | None,
                 isolation_level: str, max_poll_records: int, fetch_max_bytes: int,
                 max_partition_fetch_bytes: int, client_id: str, config: dict[str, Any]) -> None:
        from kafka import KafkaConsumer

        check_config_style(label, config, NAME)
        self.label = label
        self.servers = servers
        self._init_trouble()
        self.c = _connect(
            KafkaConsumer, label, servers, connect_timeout, group_id=group_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            isolation_level=isolation_level, max_poll_records=max_poll_records,
            fetch_max_bytes=fetch_max_bytes, max_partition_fetch_bytes=max_partition_fetch_bytes,
            fetch_max_wait_ms=100, client_id=client_id, **config)
        self.closed = False

    def _fail(self, what: str, e: BaseException) -> KafkaIOError:
        from kafka.errors import KafkaConnectionError, KafkaTimeoutError

        if isinstance(e, (KafkaTimeoutError, KafkaConnectionError)):
            return BrokerUnreachableError(self.label, self.servers, "lost",
                                          f"{what}: {type(e).__name__}: {e}", 0)
        return KafkaIOError(f"transform '{self.label}': {what} failed on "
                            f"{self.servers!r}: {type(e).__name__}: {e}")

    def partitions_for(self, topic: str, timeout: float) -> list[int] | None:
        parts = self.c.partitions_for_topic(topic)
        return sorted(parts) if parts else None

    def assign(self, positions: dict[TP, int]) -> None:
        self.c.assign([_tp(tp) for tp in positions])
        for tp, off in positions.items():
            self.c.seek(_tp(tp), off)

    def seek(self, tp: TP, offset: int) -> None:
        self.c.seek(_tp(tp), offset)

    def pause(self, tps: Sequence[TP]) -> None:
        if tps:
            self.c.pause(*[_tp(tp) for tp in tps])

    def resume(self, tps: Sequence[TP]) -> None:
        if tps:
            self.c.resume(*[_tp(tp) for tp in tps])

    def fetch(self, max_records: int, timeout: float) -> list[Chunk]:
        got = self.c.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        return [Chunk((tp.topic, tp.partition), recs) for tp, recs in got.items() if recs]

    def _offsets(self, what: str, call: Any, tps: Sequence[TP], timeout: float) -> dict:
        try:
            got = call([_tp(tp) for tp in tps], timeout_ms=int(timeout * 1000))
        except Exception as e:  # noqa: BLE001 - translated, naming the transform
            raise self._fail(what, e) from e
        return {_plain(tp): v for tp, v in got.items()}

    def beginning_offsets(self, tps: Sequence[TP], timeout: float) -> dict[TP, int]:
        return self._offsets("ListOffsets(earliest)", self.c.beginning_offsets, tps, timeout)

    def listed_end_offsets(self, tps: Sequence[TP], timeout: float) -> dict[TP, int]:
        return self._offsets("ListOffsets(latest)", self.c.end_offsets, tps, timeout)

    def offsets_for_times(self, tps: Sequence[TP], ts_ms: int,
                          timeout: float) -> dict[TP, int | None]:
        try:
            got = self.c.offsets_for_times({_tp(tp): ts_ms for tp in tps},
                                           timeout_ms=int(timeout * 1000))
        except Exception as e:  # noqa: BLE001
            raise self._fail("ListOffsets(timestamp)", e) from e
        return {_plain(tp): (None if v is None else v.offset) for tp, v in got.items()}

    def committed(self, tps: Sequence[TP], timeout: float) -> dict[TP, int | None]:
        try:
            return {tp: self.c.committed(_tp(tp), timeout_ms=int(timeout * 1000)) for tp in tps}
        except Exception as e:  # noqa: BLE001
            raise self._fail("OffsetFetch", e) from e

    def commit(self, offsets: dict[TP, int], timeout: float) -> None:
        from kafka.structs import OffsetAndMetadata

        try:
            self.c.commit({_tp(tp): OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()},
                          timeout_ms=int(timeout * 1000))
        except Exception as e:  # noqa: BLE001
            raise self._fail("OffsetCommit", e) from e

    def position(self, tp: TP) -> int | None:
        return self.c.position(_tp(tp))

    def highwater(self, tp: TP) -> int | None:
        return self.c.highwater(_tp(tp))

    def fetched_end(self, tp: TP) -> bool:
        # kafka-python sets a partition's high watermark from each fetch response and clears
        # it when the partition is assigned anew; one response returns whole record batches
        # up to the broker's limit
        return self.c.highwater(_tp(tp)) is not None

    def probe(self, tps: Sequence[TP], timeout: float) -> None:
        self.listed_end_offsets(tps, timeout)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.c.close(autocommit=False)


class KafkaPythonProducer(_Trouble, ProducerClient):
    name = NAME
    zero_timestamp_ok = True

    def __init__(self, label: str, servers: Any, connect_timeout: float, linger_ms: int,
                 batch_size: int, compression_type: str | None, client_id: str,
                 transactional_id: str | None, transaction_timeout_ms: int | None,
                 config: dict[str, Any]) -> None:
        from kafka import KafkaProducer

        check_config_style(label, config, NAME)
        self.label = label
        self.servers = servers
        self._init_trouble()
        extra: dict[str, Any] = {"max_block_ms": _BLOCK_MS}
        if transactional_id is not None:
            extra.update(transactional_id=transactional_id,
                         transaction_timeout_ms=transaction_timeout_ms)
        self.p = _connect(
            KafkaProducer, label, servers, connect_timeout, acks="all", enable_idempotence=True,
            linger_ms=linger_ms, batch_size=batch_size, compression_type=compression_type,
            max_in_flight_requests_per_connection=5, client_id=client_id,
            **{**extra, **config})
        self.futures: list = []
        self._pending: dict[str, Any] = {}  # transaction manager results being waited on
        self.closed = False

    def send(self, records: list[Record]) -> int:
        from kafka.errors import KafkaTimeoutError

        send = self.p.send
        futs = self.futures
        n = 0
        try:
            for topic, k, v, ts in records:
                futs.append(send(topic, value=v, key=k, timestamp_ms=ts))
                n += 1
        except KafkaTimeoutError:  # buffer full or no metadata within max_block_ms
            pass
        return n

    def flush(self, timeout: float) -> int:
        from kafka.errors import KafkaTimeoutError

        try:
            self.p.flush(timeout=timeout)
        except KafkaTimeoutError:
            pass
        return sum(1 for f in self.futures if not f.is_done)

    def failures(self) -> list[str]:
        futs = self.futures
        failed = [f for f in futs if f.is_done and f.failed()]
        self.futures = [f for f in futs if not f.is_done]
        return [f"{type(f.exception).__name__}: {f.exception}" for f in failed]

    def init_transactions(self, timeout: float) -> bool:
        from kafka.errors import KafkaTimeoutError

        saved = self.p.config["max_block_ms"]
        self.p.config["max_block_ms"] = int(timeout * 1000)
        try:
            self.p.init_transactions()  # called again after a timeout, it waits on the same
            return True
        except KafkaTimeoutError:
            return False
        finally:
            self.p.config["max_block_ms"] = saved

    def begin_transaction(self) -> None:
        self.p.begin_transaction()

    def _wait(self, what: str, start: Any, timeout: float) -> bool:
        """Start the transaction manager operation ``what`` once and wait on its result."""
        res = self._pending.get(what)
        if res is None:
            res = self._pending[what] = start()
            self.p._sender.wakeup()
        try:
            done = res.wait(timeout_ms=int(timeout * 1000))
        except BaseException:
            self._pending.pop(what, None)
            raise
        if done:
            self._pending.pop(what, None)
        return bool(done)

    def send_offsets(self, offsets: dict[TP, int], group_id: str, timeout: float) -> bool:
        from kafka.structs import OffsetAndMetadata

        tm = self.p._transaction_manager
        offs = {_tp(tp): OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()}
        return self._wait("offsets", lambda: tm.send_offsets_to_transaction(offs, group_id),
                          timeout)

    def commit_transaction(self, timeout: float) -> bool:
        return self._wait("commit", self.p._transaction_manager.begin_commit, timeout)

    def abort_transaction(self, timeout: float) -> bool:
        return self._wait("abort", self.p._transaction_manager.begin_abort, timeout)

    def close(self, timeout: float) -> None:
        from kafka.errors import KafkaTimeoutError

        if self.closed:
            return
        self.closed = True
        try:
            self.p.flush(timeout=timeout)
        except KafkaTimeoutError:
            pass
        # KafkaProducer.close flushes again and raises when records are still pending, leaving
        # the producer half closed (its __del__ then raises): the flush was just done above
        self.p.flush = lambda timeout=None: None
        self.p.close(timeout=max(timeout, 0))


class KafkaPythonBackend(Backend):
    name = NAME

    def consumer(self, label: str, servers: Any, connect_timeout: float, **kw: Any) -> ConsumerClient:
        return KafkaPythonConsumer(label, servers, connect_timeout, **kw)

    def producer(self, label: str, servers: Any, connect_timeout: float, **kw: Any) -> ProducerClient:
        return KafkaPythonProducer(label, servers, connect_timeout, **kw)

    def create_topics(self, label: str, servers: Any, topics: Sequence[str], partitions: int,
                      connect_timeout: float, client_id: str, config: dict[str, Any]) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import TopicAlreadyExistsError

        check_config_style(label, config, NAME)
        admin = _connect(KafkaAdminClient, label, servers, connect_timeout, client_id=client_id,
                         **config)
        try:
            for t in topics:  # one by one: an existing topic must not stop the others
                try:
                    admin.create_topics([NewTopic(t, num_partitions=partitions,
                                                  replication_factor=1)])
                except TopicAlreadyExistsError:
                    pass
            deadline = time.monotonic() + connect_timeout
            while time.monotonic() < deadline:  # wait until the metadata shows them
                names = set(admin.list_topics())
                if all(t in names for t in topics):
                    return
                time.sleep(0.05)
        finally:
            admin.close()


BACKEND = KafkaPythonBackend()
