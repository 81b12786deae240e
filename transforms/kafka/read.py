"""ReadFromKafka: a PTransform reading Kafka topics into a PCollection (see docs/kafka.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fluvial.deadletter import check_policy
from fluvial.errors import PipelineConstructionError
from fluvial.ptransform import PTransform
from fluvial.source import Read
from fluvial.timeutil import to_millis

from .clients import check_client
from .offsets import start_kind
from .reader import KafkaSource
from .record import KafkaRecord
from .serde import deserializer

DEFAULT_IDLE_TIMEOUT_S = 30.0
"""ReadFromKafka's default ``idle_timeout`` in seconds: longer than a Kafka leader failover
usually takes, short enough that an empty partition delays results by half a minute, not
forever."""


class ReadFromKafka(PTransform):
    """Read Kafka records as ``(key, value)`` elements (or :class:`KafkaRecord` with
    ``with_metadata=True``) timestamped with the record timestamp (or ``timestamp_fn(record)``,
    epoch milliseconds, given a KafkaRecord).

    - ``topics=[...]`` (all their partitions) or ``partitions=[("t", 0), ...]``; the reader
      assigns them itself (no group rebalancing); ``group_id`` is used only to commit offsets
      (after each completed checkpoint, or at the end of a successful bounded run without
      checkpoints) and for ``start="committed"``.
    - ``start``: ``"earliest"`` (default), ``"latest"``, ``"committed"``, ``{("t", 0): offset}``,
      or a time (epoch ms, :class:`fluvial.Timestamp`, aware datetime) to replay from.
    - ``stop="end"``: bounded, stops at the end offsets found when the read starts (or a dict
      ``{("t", 0): offset}``, exclusive); None (default): unbounded.
    - ``key_deserializer`` / ``value_deserializer``: ``"bytes"`` (default), ``"str"``,
      ``"json"`` or a callable; failures go to ``on_error`` ("fail", "skip", "dead_letter";
      None: the pipeline's ``--on-error``).
    - watermark: per partition, highest timestamp − ``max_out_of_orderness`` seconds; the
      minimum over the partitions that are not idle (the rules of :mod:`fluvial.watermarks`).
      ``idle_timeout`` (default :data:`DEFAULT_IDLE_TIMEOUT_S`, 30 s): a partition without
      records for that long (counted from the start of the read for a partition that never
      had any) stops holding the watermark back until it produces again, so an empty or quiet
      partition cannot stall windows forever. Shorter means results sooner after a partition
      goes quiet, but a partition that is merely slow (a broker failing over, a producer
      pausing) is left out sooner, and its records then arriving behind the watermark are
      late. ``idle_timeout=None``: partitions never count as idle (a partition without records
      holds the watermark until it produces).
    - ``max_buffered_records``: the buffer bound, shared equally by the partitions; a partition
      holding its share is paused (the others keep fetching) until it drains to half of it.
    - ``connect_timeout`` seconds of retries before a clear error; a missing topic is an error
      unless ``create_topic=True`` (``create_partitions`` partitions, default 1).
    - ``broker_timeout``: seconds the brokers may stay unreachable during the run (the reader
      retries with backoff meanwhile) before the read fails naming the transform, the servers
      and the last error; None (default): the pipeline's ``--kafka-broker-timeout`` (60 s).
    - ``client``: ``"confluent"`` (librdkafka), ``"kafka-python"`` or ``"auto"`` (confluent when
      installed); None (default): the pipeline's ``--kafka-client``. ``consumer_config`` is
      passed to that client as it is (librdkafka properties or kafka-python arguments).

    Against a broker at 127.0.0.1:9092 (docs/kafka.md has examples that run)::

        import fluvial as fl
        with fl.Pipeline() as p:
            orders = p | ReadFromKafka("127.0.0.1:9092", topics=["orders"],
                                       value_deserializer="json", stop="end")
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        topics: Sequence[str] | None = None,
        *,
        partitions: Sequence[tuple[str, int]] | None = None,
        group_id: str | None = None,
        start: Any = "earliest",
        stop: str | dict | None = None,
        key_deserializer: str | Callable[[bytes], Any] = "bytes",
        value_deserializer: str | Callable[[bytes], Any] = "bytes",
        with_metadata: bool = False,
        timestamp_fn: Callable[[KafkaRecord], int] | None = None,
        max_out_of_orderness: float = 0,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT_S,
        on_error: str | None = None,
        connect_timeout: float = 30.0,
        create_topic: bool = False,
        create_partitions: int | None = None,
        isolation_level: str = "read_committed",
        max_buffered_records: int = 50_000,
        max_poll_records: int = 10_000,
        fetch_max_bytes: int = 16 * 1024 * 1024,
        max_partition_fetch_bytes: int = 2 * 1024 * 1024,
        poll_timeout_ms: int = 100,
        client_id: str = "fluvial",
        consumer_config: dict[str, Any] | None = None,
        client: str | None = None,
        broker_timeout: float | None = None,
    ) -> None:
        where = "ReadFromKafka"
        if bool(topics) == bool(partitions):
            raise PipelineConstructionError(
                f"{where}: give exactly one of topics=[...] or partitions=[(topic, p), ...]")
        if isinstance(topics, str):
            topics = [topics]
        start_kind(start)
        if start == "committed" and not group_id:
            raise PipelineConstructionError(f"{where}: start='committed' needs a group_id")
        if not (stop is None or stop == "end" or isinstance(stop, dict)):
            raise PipelineConstructionError(
                f"{where}: stop must be None (unbounded), 'end' or {{(topic, p): offset}}, "
                f"got {stop!r}")
        deserializer(key_deserializer, where)
        deserializer(value_deserializer, where)
        check_policy(on_error, where)
        if isolation_level not in ("read_committed", "read_uncommitted"):
            raise PipelineConstructionError(
                f"{where}: isolation_level must be 'read_committed' or 'read_uncommitted'")
        if idle_timeout is not None and to_millis(idle_timeout) <= 0:
            raise PipelineConstructionError(
                f"{where}: idle_timeout must be positive seconds (or None: never idle), "
                f"got {idle_timeout!r}")
        if max_buffered_records < 1:
            raise PipelineConstructionError(f"{where}: max_buffered_records must be >= 1")
        check_client(client, where)
        if broker_timeout is not None and not broker_timeout > 0:
            raise PipelineConstructionError(
                f"{where}: broker_timeout must be positive seconds (or None: the pipeline's "
                f"--kafka-broker-timeout), got {broker_timeout!r}")
        self.cfg = dict(
            bootstrap_servers=bootstrap_servers, topics=list(topics or []),
            partitions=[(t, int(p)) for t, p in (partitions or [])], group_id=group_id,
            start=start, stop=stop, key_deserializer=key_deserializer,
            value_deserializer=value_deserializer, with_metadata=with_metadata,
            timestamp_fn=timestamp_fn, delay_ms=to_millis(max_out_of_orderness),
            idle_ms=None if idle_timeout is None else to_millis(idle_timeout),
            on_error=on_error, connect_timeout=connect_timeout,
            create_partitions=(create_partitions or 1) if (create_topic or create_partitions)
            else None,
            isolation_level=isolation_level, max_buffered_records=max_buffered_records,
            max_poll_records=max_poll_records, fetch_max_bytes=fetch_max_bytes,
            max_partition_fetch_bytes=max_partition_fetch_bytes, poll_timeout_ms=poll_timeout_ms,
            client_id=client_id, consumer_config=dict(consumer_config or {}), client=client,
            broker_timeout=broker_timeout,
        )

    def expand(self, pbegin: Any) -> Any:
        return pbegin | "Read" >> Read(KafkaSource(composite=True, **self.cfg))
