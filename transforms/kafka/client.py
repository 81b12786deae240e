"""Connecting to Kafka: clients created with a bounded connect timeout, clear errors naming the
transform and the bootstrap servers, topic checks and creation.

>>> KafkaIOError("x").__class__.__mro__[1].__name__
'FluvialError'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fluvial.errors import FluvialError


class KafkaIOError(FluvialError):
    """Kafka IO could not connect, found no topic, or the broker refused an operation."""


def connect(factory: Callable[..., Any], label: str, bootstrap_servers: str | list[str],
            connect_timeout: float, **config: Any) -> Any:
    """``factory(**config)`` (a KafkaConsumer, KafkaProducer or KafkaAdminClient) with bootstrap
    retries (kafka-python backs off between attempts) bounded by ``connect_timeout`` seconds."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    try:
        return factory(bootstrap_servers=bootstrap_servers,
                       bootstrap_timeout_ms=int(connect_timeout * 1000), **config)
    except (KafkaTimeoutError, KafkaConnectionError) as e:
        raise KafkaIOError(
            f"transform '{label}': cannot reach the Kafka broker at {bootstrap_servers!r} within "
            f"{connect_timeout:g}s ({e}); check bootstrap_servers and that the broker runs (a local "
            "one: fluvial broker start), or raise connect_timeout"
        ) from e


def missing_topics(consumer: Any, topics: list[str]) -> list[str]:
    return [t for t in topics if not consumer.partitions_for_topic(t)]


def ensure_topics(label: str, consumer: Any, topics: list[str], create_partitions: int | None,
                  bootstrap_servers: Any, connect_timeout: float) -> None:
    """Fail naming the missing topics, or create them with ``create_partitions`` partitions
    (replication factor 1: meant for development brokers)."""
    missing = missing_topics(consumer, topics)
    if not missing:
        return
    if not create_partitions:
        raise KafkaIOError(
            f"transform '{label}': topic(s) {', '.join(map(repr, missing))} do not exist on "
            f"{bootstrap_servers!r}; create them, or pass create_topic=True / "
            "create_partitions=N"
        )
    create_topics(label, bootstrap_servers, missing, create_partitions, connect_timeout)
    for t in missing:
        if not consumer.partitions_for_topic(t):  # pragma: no cover - broker-specific lag
            raise KafkaIOError(f"transform '{label}': topic {t!r} was created but has no partitions")


def create_topics(label: str, bootstrap_servers: Any, topics: Sequence[str], partitions: int,
                  connect_timeout: float = 30.0, client_id: str = "fluvial-admin") -> None:
    """Create ``topics`` with ``partitions`` partitions each (replication factor 1: meant for
    development brokers); topics that already exist are left as they are.

    >>> create_topics("Demo", "127.0.0.1:9092", ["in", "out"], 3)   # doctest: +SKIP
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = connect(KafkaAdminClient, label, bootstrap_servers, connect_timeout,
                    client_id=client_id)
    try:
        for t in topics:  # one by one: an existing topic must not stop the others
            try:
                admin.create_topics([NewTopic(t, num_partitions=partitions,
                                              replication_factor=1)])
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
