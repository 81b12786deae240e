"""Topic checks and creation for Kafka IO, over either client backend.

Against a broker at 127.0.0.1:9092::

    create_topics("Demo", "127.0.0.1:9092", ["in", "out"], 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .clients import backend
from .clients.base import ConsumerClient
from .errors import KafkaIOError


def ensure_topics(label: str, consumer: ConsumerClient, topics: list[str],
                  create_partitions: int | None, servers: Any, connect_timeout: float,
                  config: dict[str, Any] | None = None) -> dict[str, list[int]]:
    """Each topic's partitions; a missing topic is an error naming it, or is created with
    ``create_partitions`` partitions (replication factor 1: meant for development brokers)."""
    found = {t: consumer.partitions_for(t, connect_timeout) for t in topics}
    missing = [t for t, parts in found.items() if not parts]
    if not missing:
        return found  # type: ignore[return-value]
    if not create_partitions:
        raise KafkaIOError(
            f"transform '{label}': topic(s) {', '.join(map(repr, missing))} do not exist on "
            f"{servers!r}; create them, or pass create_topic=True / create_partitions=N")
    security = {k: v for k, v in (config or {}).items()
                if k.startswith(("security", "sasl", "ssl"))}  # the admin client's share
    _backend(consumer).create_topics(label, servers, missing, create_partitions,
                                     connect_timeout, "fluvial-admin", security)
    for t in missing:
        parts = consumer.partitions_for(t, connect_timeout)
        if not parts:  # pragma: no cover - broker-specific lag
            raise KafkaIOError(f"transform '{label}': topic {t!r} was created but has no "
                               "partitions")
        found[t] = parts
    return found  # type: ignore[return-value]


def _backend(client: ConsumerClient) -> Any:
    return backend(client.name, "create_topics")


def create_topics(label: str, bootstrap_servers: Any, topics: Sequence[str], partitions: int,
                  connect_timeout: float = 30.0, client_id: str = "fluvial-admin",
                  client: str | None = None, config: dict[str, Any] | None = None) -> None:
    """Create ``topics`` with ``partitions`` partitions each (replication factor 1: meant for
    development brokers); topics that already exist are left as they are. ``client``: the
    Kafka client (None: "auto")."""
    backend(client, label).create_topics(label, bootstrap_servers, list(topics), partitions,
                                         connect_timeout, client_id, dict(config or {}))


__all__ = ["ensure_topics", "create_topics"]
