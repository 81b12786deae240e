"""Shared pieces of the Kafka benchmarks: the input records, producing them, reading a topic
back as a read_committed consumer sees it, and timing.

The input: ``events`` JSON records of about 110 bytes (109 for six-digit ids), keyed ``user-<i % 1000>``, over
``partitions`` partitions, record ``i`` with timestamp ``T0 + i`` ms (100 records per 100 ms
of event time) and value ``{"id": i, "user": "user-<i % 1000>", "amount": i % 97, "kind":
"order", "note": "passthrough-benchmark-record-of-110-bytes"}`` (compact JSON).

>>> len(value_of(123_456))
109
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

T0 = 1_700_000_000_000
USERS = 1000


def key_of(i: int) -> bytes:
    return b"user-%d" % (i % USERS)


def value_of(i: int) -> bytes:
    return (b'{"id":%d,"user":"user-%d","amount":%d,"kind":"order","note":"passthrough-benchmark'
            b'-record-of-110-bytes"}' % (i, i % USERS, i % 97))


def produce_input(servers: str, topic: str, n: int, partitions: int) -> None:
    """The input records, round robin over the partitions."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": servers, "linger.ms": 20, "batch.size": 1 << 20,
                  "enable.idempotence": True})
    for i in range(n):
        while True:
            try:
                p.produce(topic, value_of(i), key_of(i), partition=i % partitions,
                          timestamp=T0 + i)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10_000 == 0:
            p.poll(0)
    if p.flush(60):
        raise RuntimeError("the benchmark input was not acknowledged")


def read_back(servers: str, topic: str, partitions: int) -> Counter:
    """(key, value) records of ``topic`` (read_committed, up to its end), with multiplicity."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": servers, "group.id": "bench-read-back",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out: Counter = Counter()
    done: set[int] = set()
    deadline = time.monotonic() + 120
    while len(done) < partitions and time.monotonic() < deadline:
        for m in c.consume(10_000, 0.5):
            if m.error() is None:
                out[(m.key(), m.value())] += 1
            elif m.error().code() == m.error()._PARTITION_EOF:
                done.add(m.partition())
    c.close()
    return out


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2]


__all__ = ["T0", "key_of", "value_of", "produce_input", "read_back", "timed", "median"]
