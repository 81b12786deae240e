"""Shared pieces of the Kafka benchmarks: the input records, producing them, reading a topic
back as a read_committed consumer sees it, checking an output, and timing.

A read-back reads every partition to its end (``READ_BACK_S`` at most); one that does not get
there in time raises :class:`ReadBackIncomplete` instead of returning what it got, so a slow
broker makes a variant's output "unchecked", never "short". :func:`check_input` reads the input
back before any variant runs: a benchmark never times a job over an incomplete input.

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


READ_BACK_S = 300.0
"""How long a read-back may take to reach the end of every partition."""


class ReadBackIncomplete(RuntimeError):
    """A read-back did not reach the end of every partition in time: the records it got
    (``got``) are not the topic's, and the output cannot be judged from them."""

    def __init__(self, topic: str, not_at_end: list[int], seconds: float, got: Counter,
                 errors: list[str]) -> None:
        self.got = got
        errs = f"; consumer errors: {'; '.join(errors[:3])}" if errors else ""
        super().__init__(
            f"read back incomplete: partition(s) {', '.join(map(str, not_at_end))} of "
            f"{topic!r} not read to their end within {seconds:g} s ({sum(got.values())} "
            f"records so far): the output is unchecked, not short{errs}")


def read_back(servers: str, topic: str, partitions: int,
              deadline_s: float = READ_BACK_S) -> Counter:
    """(key, value) records of ``topic`` (read_committed, up to its end), with multiplicity.
    Raises :class:`ReadBackIncomplete` when some partition's end is not reached within
    ``deadline_s`` (a slow broker), rather than returning a partial read."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": servers, "group.id": "bench-read-back",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out: Counter = Counter()
    done: set[int] = set()
    errors: list[str] = []
    deadline = time.monotonic() + deadline_s
    try:
        while len(done) < partitions and time.monotonic() < deadline:
            for m in c.consume(10_000, 0.5):
                if m.error() is None:
                    out[(m.key(), m.value())] += 1
                elif m.error().code() == m.error()._PARTITION_EOF:
                    done.add(m.partition())
                else:
                    errors.append(str(m.error()))
    finally:
        c.close()
    if len(done) < partitions:
        raise ReadBackIncomplete(topic, sorted(set(range(partitions)) - done), deadline_s, out,
                                 errors)
    return out


def input_records(events: int) -> Counter:
    """The (key, value) records of the input, each once."""
    return Counter((key_of(i), value_of(i)) for i in range(events))


def check_input(servers: str, topic: str, events: int, partitions: int) -> None:
    """Read the input back (this also warms the broker up: the first read of a topic is
    slower) and raise RuntimeError unless it holds exactly the input's records."""
    wrong = difference(read_back(servers, topic, partitions), input_records(events))
    if wrong:
        raise RuntimeError(f"the benchmark input {topic!r} is not as produced: {wrong}")


def difference(got: Counter, want: Counter) -> str | None:
    """None when ``got`` holds exactly ``want`` (with multiplicity), else what differs.

    >>> difference(Counter("aab"), Counter("abc"))
    '1 of the expected records missing, 1 record(s) not expected (duplicates or foreign)'
    """
    missing = sum((want - got).values())
    extra = sum((got - want).values())
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append(f"{missing} of the expected records missing")
    if extra:
        parts.append(f"{extra} record(s) not expected (duplicates or foreign)")
    return ", ".join(parts)


def check_output(servers: str, topic: str, partitions: int,
                 want: Counter) -> tuple[int, str | None]:
    """(records read back from ``topic``, None when they are exactly ``want`` else why not):
    a read-back that did not reach the end says so instead of reporting a short output."""
    try:
        got = read_back(servers, topic, partitions)
    except ReadBackIncomplete as e:
        return sum(e.got.values()), str(e)
    return sum(got.values()), difference(got, want)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2]


__all__ = ["T0", "key_of", "value_of", "produce_input", "read_back", "ReadBackIncomplete",
           "input_records", "check_input",
           "difference", "check_output", "timed", "median"]
