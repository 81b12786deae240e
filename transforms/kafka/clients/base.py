"""The small interface between fluvial's Kafka IO and a Kafka client library.

The reader, the writers, start and end offsets, watermarks, checkpoints, dead letters and the
broker watch are written once, above this interface; each backend
(:mod:`~fluvial.transforms.kafka.clients.confluent`,
:mod:`~fluvial.transforms.kafka.clients.kafka_python`) implements it over its library.

Rules every backend keeps:

* Partitions are plain ``(topic, partition)`` tuples (:data:`TP`) above the interface, offsets
  plain ints; nothing of a library leaks into checkpoints, so a checkpoint written with one
  backend restores with the other.
* Records come in :class:`Chunk` s: the records of one partition from one fetch, in offset
  order, as the library's own objects, read through the backend's :class:`RecordAccess`
  (column functions over a list of records). Nothing is copied per record on the way in beyond
  what the reader needs for its elements: batch all the way.
* Every library error is raised as a :class:`~fluvial.transforms.kafka.errors.KafkaIOError`
  naming the transform: :class:`BrokerUnreachableError` when no broker answers,
  :class:`KafkaAuthenticationError` when a broker refused the credentials. ``connect`` waits
  up to ``connect_timeout`` for a first answer; calls made later wait at most the timeout they
  are given.
* :meth:`ConsumerClient.trouble` / :meth:`ProducerClient.trouble` return the newest
  connectivity error the library reported since the last call (None: none), so the broker
  watch (:mod:`~fluvial.transforms.kafka.liveness`) probes at once instead of waiting for a
  quiet period.
* Producers report delivery failures, never raise them from ``send``: :meth:`ProducerClient.
  failures` collects them and the writer raises at its next flush.

>>> isinstance(("orders", 0), tuple)
True
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

TP = tuple[str, int]
"""A partition: (topic, partition number)."""

Record = tuple[str, Any, Any, Any]
"""A record to produce: (topic, key bytes or None, value bytes or None, timestamp ms or None)."""


class RecordAccess:
    """Column functions over a list of one library's consumed records (all of one partition):
    ``keys``, ``values``, ``timestamps`` (ms), ``offsets``, ``headers`` (tuples of (name, bytes)
    pairs), ``offset`` (of one record) and ``pairs`` (``[((key, value), timestamp), ...]``, the
    reader's elements when there is nothing to deserialize)."""

    def __init__(self, keys: Callable[[list], list], values: Callable[[list], list],
                 timestamps: Callable[[list], list], offsets: Callable[[list], list],
                 headers: Callable[[list], list], offset: Callable[[Any], int],
                 pairs: Callable[[list], list]) -> None:
        self.keys = keys
        self.values = values
        self.timestamps = timestamps
        self.offsets = offsets
        self.headers = headers
        self.offset = offset
        self.pairs = pairs


class Chunk:
    """The records of partition ``tp`` from one fetch, in offset order (library objects)."""

    __slots__ = ("tp", "recs")

    def __init__(self, tp: TP, recs: list) -> None:
        self.tp = tp
        self.recs = recs


class ConsumerClient(ABC):
    """A consumer with partitions assigned by fluvial (no group membership). ``group_id`` (may
    be None) is used only for :meth:`committed` and :meth:`commit`."""

    access: RecordAccess
    name: str  # the backend's name

    @abstractmethod
    def partitions_for(self, topic: str, timeout: float) -> list[int] | None:
        """The topic's partition numbers, sorted (None: no such topic)."""

    @abstractmethod
    def assign(self, positions: dict[TP, int]) -> None:
        """Assign exactly these partitions (none paused), each to start at its offset."""

    @abstractmethod
    def seek(self, tp: TP, offset: int) -> None: ...

    @abstractmethod
    def pause(self, tps: Sequence[TP]) -> None: ...

    @abstractmethod
    def resume(self, tps: Sequence[TP]) -> None: ...

    @abstractmethod
    def fetch(self, max_records: int, timeout: float) -> list[Chunk]:
        """Records fetched for the assigned, unpaused partitions (at most ``max_records``),
        waiting up to ``timeout`` seconds when none is ready."""

    @abstractmethod
    def beginning_offsets(self, tps: Sequence[TP], timeout: float) -> dict[TP, int]: ...

    @abstractmethod
    def listed_end_offsets(self, tps: Sequence[TP], timeout: float) -> dict[TP, int]:
        """``ListOffsets(latest)`` for the consumer's isolation level."""

    @abstractmethod
    def offsets_for_times(self, tps: Sequence[TP], ts_ms: int,
                          timeout: float) -> dict[TP, int | None]:
        """The earliest offset whose timestamp is >= ``ts_ms`` (None: no such record)."""

    @abstractmethod
    def committed(self, tps: Sequence[TP], timeout: float) -> dict[TP, int | None]: ...

    @abstractmethod
    def commit(self, offsets: dict[TP, int], timeout: float) -> None: ...

    @abstractmethod
    def position(self, tp: TP) -> int | None:
        """The offset after the last record this consumer fetched or skipped (markers)."""

    @abstractmethod
    def fetched_end(self, tp: TP) -> bool:
        """Since ``tp`` was last assigned or sought, a fetch response for it came back that
        held everything up to the broker's limit for this consumer (its records, if any,
        were returned by :meth:`fetch`)."""

    @abstractmethod
    def highwater(self, tp: TP) -> int | None:
        """The partition's high watermark from the latest fetch response (None: unknown)."""

    @abstractmethod
    def probe(self, topics: Sequence[str], timeout: float) -> None:
        """Ask a broker for the topics' metadata now: raises BrokerUnreachableError (or
        KafkaIOError when a topic is gone) if that fails within ``timeout``."""

    @abstractmethod
    def trouble(self) -> str | None: ...

    @abstractmethod
    def close(self) -> None: ...


class ProducerClient(ABC):
    """A producer: idempotent (acks=all); transactional when opened with a transactional id."""

    name: str

    @abstractmethod
    def send(self, records: list[Record]) -> int:
        """Queue records in order; returns how many were queued (fewer when the client's
        buffer is full: call :meth:`flush` and send the rest)."""

    @abstractmethod
    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for queued records; returns how many are still
        unacknowledged."""

    @abstractmethod
    def failures(self) -> list[str]:
        """Delivery failures since the last call (each a description)."""

    @abstractmethod
    def init_transactions(self, timeout: float) -> bool:
        """Fence older producers with this transactional id; False: not done within
        ``timeout`` (call again)."""

    @abstractmethod
    def begin_transaction(self) -> None: ...

    @abstractmethod
    def send_offsets(self, offsets: dict[TP, int], group_id: str, timeout: float) -> bool:
        """Add an offset commit for ``group_id`` to the open transaction; False: not done
        within ``timeout`` (call again)."""

    @abstractmethod
    def commit_transaction(self, timeout: float) -> bool:
        """False: not done within ``timeout`` (call again to keep waiting)."""

    @abstractmethod
    def abort_transaction(self, timeout: float) -> bool: ...

    @abstractmethod
    def trouble(self) -> str | None: ...

    @abstractmethod
    def close(self, timeout: float) -> None: ...


class Backend(ABC):
    """Opens clients of one library. ``config`` is passed to the library as it is."""

    name: str

    @abstractmethod
    def consumer(self, label: str, servers: Any, connect_timeout: float, *, group_id: str | None,
                 isolation_level: str, max_poll_records: int, fetch_max_bytes: int,
                 max_partition_fetch_bytes: int, client_id: str,
                 config: dict[str, Any]) -> ConsumerClient: ...

    @abstractmethod
    def producer(self, label: str, servers: Any, connect_timeout: float, *, linger_ms: int,
                 batch_size: int, compression_type: str | None, client_id: str,
                 transactional_id: str | None, transaction_timeout_ms: int | None,
                 config: dict[str, Any]) -> ProducerClient: ...

    @abstractmethod
    def create_topics(self, label: str, servers: Any, topics: Sequence[str], partitions: int,
                      connect_timeout: float, client_id: str,
                      config: dict[str, Any]) -> None:
        """Create the topics (replication factor 1); existing ones are left as they are."""


__all__ = ["TP", "Record", "RecordAccess", "Chunk", "ConsumerClient", "ProducerClient",
           "Backend"]
