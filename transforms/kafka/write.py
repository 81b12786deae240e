"""WriteToKafka: a PTransform writing a PCollection to a Kafka topic (see docs/kafka.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fluvial.deadletter import check_policy
from fluvial.errors import PipelineConstructionError
from fluvial.ptransform import PTransform
from fluvial.sink import Write

from .clients import check_client
from .serde import serializer
from .writer import KafkaSink

DELIVERY = ("at_least_once", "exactly_once")


class WriteToKafka(PTransform):
    """Write ``(key, value)`` elements (or plain values with ``key_fn``) to ``topic`` (or
    ``topic_fn(element)``), serialized with ``key_serializer`` / ``value_serializer``
    (``"bytes"``, ``"str"``, ``"json"`` or a callable). The record timestamp is the element's
    event timestamp (``with_timestamps=False``: the producer's clock).

    ``delivery="at_least_once"`` (default): idempotent producer, acks=all, flushed at every
    checkpoint. ``delivery="exactly_once"``: one Kafka transaction per checkpoint epoch,
    committed once the checkpoint is durable; the transactional id derives from
    ``transactional_id_prefix`` (default: a hash of the transform label, topic and checkpoint
    directory, stable across restarts). Consumers must read with ``isolation_level=
    "read_committed"``. Exactly-once needs ``--checkpoint-dir`` on an unbounded input (a bounded
    run without it commits one transaction at its end) and a ``--checkpoint-interval`` shorter
    than ``transaction_timeout_ms``; both are checked when the writer opens.

    Elements that cannot be written (not a pair, refused by the serializer, e.g. NaN for
    ``"json"``, event time before 1970) follow ``on_error``: ``"fail"`` (default) raises
    :class:`fluvial.errors.BadRecordError`, never retried by ``--restart-attempts``;
    ``"skip"`` drops them (counted); ``"dead_letter"`` sends them to ``p.dead_letters()``.

    ``broker_timeout``: seconds without an acknowledgement from the brokers (the client retries
    meanwhile) before the write fails naming the transform, the servers and the last error;
    None (default): the pipeline's ``--kafka-broker-timeout`` (60 s). ``client``:
    ``"confluent"``, ``"kafka-python"`` or ``"auto"``; None: the pipeline's ``--kafka-client``;
    ``producer_config`` goes to that client as it is. See docs/kafka.md.

    Against a broker at 127.0.0.1:9092 (docs/kafka.md has examples that run)::

        import fluvial as fl
        with fl.Pipeline() as p:
            _ = (p | fl.Create([("k", {"n": 1})])
                   | WriteToKafka("127.0.0.1:9092", "out", value_serializer="json",
                                  key_serializer="str", delivery="exactly_once"))
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        topic: str | None = None,
        *,
        topic_fn: Callable[[Any], str] | None = None,
        key_fn: Callable[[Any], Any] | None = None,
        key_serializer: str | Callable[[Any], bytes] = "bytes",
        value_serializer: str | Callable[[Any], bytes] = "bytes",
        delivery: str = "at_least_once",
        transactional_id_prefix: str | None = None,
        marker_topic: str | None = None,
        with_timestamps: bool = True,
        linger_ms: int = 5,
        batch_size: int = 256 * 1024,
        compression_type: str | None = None,
        transaction_timeout_ms: int = 60_000,
        connect_timeout: float = 30.0,
        client_id: str = "fluvial",
        producer_config: dict[str, Any] | None = None,
        on_error: str | None = None,
        client: str | None = None,
        broker_timeout: float | None = None,
    ) -> None:
        where = "WriteToKafka"
        if (topic is None) == (topic_fn is None):
            raise PipelineConstructionError(f"{where}: give exactly one of topic or topic_fn")
        if delivery not in DELIVERY:
            raise PipelineConstructionError(
                f"{where}: delivery must be 'at_least_once' or 'exactly_once', got {delivery!r}")
        if delivery == "exactly_once" and topic is None and marker_topic is None:
            raise PipelineConstructionError(
                f"{where}: exactly_once with topic_fn needs marker_topic=..., an existing topic "
                "whose partition 0 records which transactions committed")
        serializer(key_serializer, where)
        serializer(value_serializer, where)
        check_policy(on_error, where)
        check_client(client, where)
        if broker_timeout is not None and not broker_timeout > 0:
            raise PipelineConstructionError(
                f"{where}: broker_timeout must be positive seconds (or None: the pipeline's "
                f"--kafka-broker-timeout), got {broker_timeout!r}")
        self.cfg = dict(
            bootstrap_servers=bootstrap_servers, topic=topic, topic_fn=topic_fn, key_fn=key_fn,
            key_serializer=key_serializer, value_serializer=value_serializer, delivery=delivery,
            transactional_id_prefix=transactional_id_prefix, marker_topic=marker_topic,
            with_timestamps=with_timestamps, linger_ms=linger_ms, batch_size=batch_size,
            compression_type=compression_type, transaction_timeout_ms=transaction_timeout_ms,
            connect_timeout=connect_timeout, client_id=client_id,
            producer_config=dict(producer_config or {}), on_error=on_error, client=client,
            broker_timeout=broker_timeout,
            input_bounded=None,  # set by expand; None: unknown (a KafkaSink built directly)
        )

    def expand(self, pcoll: Any) -> Any:
        cfg = {**self.cfg, "input_bounded": pcoll.is_bounded}
        return pcoll | "Write" >> Write(KafkaSink(composite=True, **cfg))
