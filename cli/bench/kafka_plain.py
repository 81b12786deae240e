"""Plain confluent-kafka loops: the baselines of the Kafka benchmarks, written the way a careful
user writes them by hand (batch consume, linger, idempotent producer, offsets every second).

- :func:`passthrough`: consume -> produce the same key, value and timestamp; at-least-once
  (flush, then commit the consumed offsets, every second and at the end) or transactional
  (one transaction per second carrying the consumed offsets, ``send_offsets_to_transaction``).
- :func:`windowed`: consume -> parse JSON -> sum ``amount`` per user in 10 s event-time
  windows -> produce ``{"user", "window_start", "sum"}`` when the watermark (the minimum over
  partitions of the highest timestamp seen) passes a window's end, and the rest at the end;
  at-least-once like the passthrough.

Each reads ``n`` records from ``partitions`` partitions of ``src`` from offset 0 and stops.

>>> window_start(1_700_000_012_345)
1700000010000
"""

from __future__ import annotations

import json
import time
from typing import Any

WINDOW_MS = 10_000


def window_start(ts: int) -> int:
    return ts - ts % WINDOW_MS


def _consumer(servers: str, src: str, partitions: int, group: str) -> Any:
    from confluent_kafka import Consumer, TopicPartition

    # the fetch settings fluvial's reader uses (a fetch waits at most 100 ms at the broker;
    # fetching resumes 10 ms after the prefetch queue drained), so both fetch alike
    c = Consumer({"bootstrap.servers": servers, "group.id": group, "enable.auto.commit": False,
                  "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                  "fetch.wait.max.ms": 100, "fetch.queue.backoff.ms": 10})
    c.assign([TopicPartition(src, p, 0) for p in range(partitions)])
    return c


def _producer(servers: str, transactional_id: str | None = None) -> Any:
    from confluent_kafka import Producer

    conf = {"bootstrap.servers": servers, "enable.idempotence": True, "linger.ms": 5,
            "batch.size": 256 * 1024, "delivery.report.only.error": True,
            "on_delivery": _fail_on_error}
    if transactional_id:
        conf["transactional.id"] = transactional_id
    return Producer(conf)


def _fail_on_error(err: Any, msg: Any) -> None:
    if err is not None:
        raise RuntimeError(f"delivery failed: {err}")


def _produce(p: Any, topic: str, value: bytes, key: bytes | None, ts: int) -> None:
    while True:
        try:
            p.produce(topic, value, key, timestamp=ts)
            return
        except BufferError:
            p.poll(0.01)


def passthrough(servers: str, src: str, dst: str, n: int, partitions: int,
                transactional: bool) -> None:
    c = _consumer(servers, src, partitions, f"plain-{dst}")
    p = _producer(servers, f"plain-{dst}" if transactional else None)
    if transactional:
        p.init_transactions(30)
        p.begin_transaction()
    seen = 0
    last = time.monotonic()
    produce = p.produce
    while seen < n:
        msgs = c.consume(10_000, 0.1)
        for m in msgs:
            if m.error() is not None:
                continue
            try:
                produce(dst, m.value(), m.key(), timestamp=m.timestamp()[1])
            except BufferError:
                p.poll(0.01)
                _produce(p, dst, m.value(), m.key(), m.timestamp()[1])
            seen += 1
        p.poll(0)
        if time.monotonic() - last >= 1.0 or seen >= n:
            _offsets(c, p, transactional, final=seen >= n)
            last = time.monotonic()
    c.close()


def _offsets(c: Any, p: Any, transactional: bool, final: bool) -> None:
    positions = c.position(c.assignment())
    if transactional:
        p.send_offsets_to_transaction(positions, c.consumer_group_metadata(), 30)
        p.commit_transaction(30)
        if not final:
            p.begin_transaction()
    else:
        if p.flush(30):
            raise RuntimeError("records not acknowledged")
        c.commit(offsets=positions, asynchronous=False)


def windowed(servers: str, src: str, dst: str, n: int, partitions: int) -> None:
    c = _consumer(servers, src, partitions, f"plain-{dst}")
    p = _producer(servers)
    sums: dict[tuple[int, str], int] = {}
    high = [-1] * partitions  # highest timestamp seen per partition
    seen = 0
    last = time.monotonic()
    loads = json.loads
    while seen < n:
        msgs = c.consume(10_000, 0.1)
        for m in msgs:
            if m.error() is not None:
                continue
            d = loads(m.value())
            ts = m.timestamp()[1]
            k = (ts - ts % WINDOW_MS, d["user"])
            sums[k] = sums.get(k, 0) + d["amount"]
            part = m.partition()
            if ts > high[part]:
                high[part] = ts
            seen += 1
        watermark = min(high)
        ready = [k for k in sums if k[0] + WINDOW_MS <= watermark + 1] if msgs else []
        for k in ready:
            _emit(p, dst, k, sums.pop(k))
        p.poll(0)
        if time.monotonic() - last >= 1.0:
            _offsets(c, p, False, final=False)
            last = time.monotonic()
    for k in sorted(sums):
        _emit(p, dst, k, sums[k])
    _offsets(c, p, False, final=True)
    c.close()


def _emit(p: Any, dst: str, k: tuple[int, str], total: int) -> None:
    start, user = k
    _produce(p, dst, json.dumps({"user": user, "window_start": start, "sum": total},
                                separators=(",", ":")).encode(), user.encode(),
             start + WINDOW_MS - 1)


__all__ = ["passthrough", "windowed", "window_start", "WINDOW_MS"]
