"""KafkaRecord: one consumed record with its metadata (``ReadFromKafka(with_metadata=True)``).

>>> r = KafkaRecord("orders", 0, 41, "k", {"amount": 3}, 1_700_000_000_000, ())
>>> (r.topic, r.partition, r.offset, r.value["amount"])
('orders', 0, 41, 3)
"""

from __future__ import annotations

from typing import Any, NamedTuple


class KafkaRecord(NamedTuple):
    """A consumed record: deserialized key and value, plus where it came from. ``headers`` is a
    tuple of ``(name, bytes)`` pairs."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    timestamp_ms: int
    headers: tuple = ()
