"""Makes ``tests/support`` importable for the Kafka tests (``from committed_view import ...``);
the ``kafka_client`` fixture runs a test once per client backend."""

import os
import sys

import pytest

SUPPORT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)


@pytest.fixture(params=["confluent", "kafka-python"])
def kafka_client(request: pytest.FixtureRequest):
    """Runs the test once per Kafka client backend (kafka_support.CLIENT is the one now)."""
    import kafka_support

    kafka_support.CLIENT = request.param
    try:
        yield request.param
    finally:
        kafka_support.CLIENT = None
