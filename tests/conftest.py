"""Shared fixtures: one local Kafka-protocol broker (Tansu on 127.0.0.1) per test session, and a
unique topic per test.

    def test_x(kafka_broker, kafka_topic):
        topic = kafka_topic(partitions=3)
        ... bootstrap_servers=kafka_broker.bootstrap_servers ...
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A Tansu broker on a free loopback port, in memory, stopped at the end of the session.
    ``.bootstrap_servers`` is "127.0.0.1:PORT"."""
    from fluvial.cli.localbroker import LocalBroker

    log = os.path.join(str(tmp_path_factory.mktemp("broker")), "broker.log")
    broker = LocalBroker(log_path=log).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_topic(kafka_broker: object, request: pytest.FixtureRequest) -> Callable[..., str]:
    """``kafka_topic(partitions=1, name=None)`` creates a topic unique to this test and returns
    its name (the broker is in memory and discarded with the session)."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers,  # type: ignore[attr-defined]
                             client_id="fluvial-tests-admin")

    def make(partitions: int = 1, name: str | None = None) -> str:
        if name is None:
            base = request.node.name.replace("[", "-").replace("]", "")[:60]
            name = f"{base}-{uuid.uuid4().hex[:8]}"
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        return name

    try:
        yield make
    finally:
        admin.close()
