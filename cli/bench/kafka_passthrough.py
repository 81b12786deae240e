"""``fluvial bench kafka-passthrough``: Kafka -> Map -> Kafka on a local broker, timed against a
plain kafka-python consume -> produce loop doing the same work in the same process.

>>> res = run(20_000, "both")                                        # doctest: +SKIP
>>> sorted(res)[:3]                                                 # doctest: +SKIP
['alo_over_plain', 'counts_ok', 'eos_over_alo']
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from typing import Any

N_PARTITIONS = 4


def _transform(kv: tuple) -> tuple:
    return (kv[0], kv[1].upper())


def _produce_input(servers: str, topic: str, n: int) -> None:
    from kafka import KafkaProducer

    prod = KafkaProducer(bootstrap_servers=servers, linger_ms=20, batch_size=512 * 1024)
    for i in range(n):
        prod.send(topic, key=b"user-%d" % (i % 1000),
                  value=b'{"id": %d, "amount": %d, "kind": "order"}' % (i, i % 97),
                  timestamp_ms=1_700_000_000_000 + i)
    prod.flush()
    prod.close()


def _expected(n: int) -> Counter:
    """The (key, value) records every pipeline must write: the input recipe, transformed."""
    return Counter(_transform((b"user-%d" % (i % 1000),
                               b'{"id": %d, "amount": %d, "kind": "order"}' % (i, i % 97)))
                   for i in range(n))


def _read_back(servers: str, topic: str) -> Counter:
    """The (key, value) records of ``topic`` as a read_committed consumer sees them."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False,
                      isolation_level="read_committed", consumer_timeout_ms=2000,
                      max_poll_records=10_000)
    tps = [TopicPartition(topic, p) for p in range(N_PARTITIONS)]
    c.assign(tps)
    for tp in tps:
        c.seek(tp, 0)
    out = Counter((r.key, r.value) for r in c)
    c.close()
    return out


def _plain(servers: str, src: str, dst: str, n: int) -> float:
    """A hand-written loop: assign, poll, transform, send, flush."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    t0 = time.perf_counter()
    c = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False,
                      max_poll_records=10_000, fetch_max_bytes=16 * 1024 * 1024,
                      max_partition_fetch_bytes=2 * 1024 * 1024)
    prod = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5,
                         batch_size=256 * 1024)
    tps = [TopicPartition(src, p) for p in range(N_PARTITIONS)]
    c.assign(tps)
    for tp in tps:
        c.seek(tp, 0)
    seen = 0
    send = prod.send
    while seen < n:
        for recs in c.poll(timeout_ms=100, max_records=10_000).values():
            for r in recs:
                k, v = _transform((r.key, r.value))
                send(dst, key=k, value=v, timestamp_ms=r.timestamp)
            seen += len(recs)
    prod.flush()
    elapsed = time.perf_counter() - t0
    prod.close()
    c.close()
    return elapsed


def _fluvial(servers: str, src: str, dst: str, delivery: str) -> float:
    import fluvial as fl
    from fluvial.transforms import Map
    from fluvial.transforms.kafka import ReadFromKafka, WriteToKafka

    with tempfile.TemporaryDirectory() as chk:
        p = fl.Pipeline(argv=["--runner", "direct", "--checkpoint-dir", chk,
                              "--checkpoint-interval", "1"])
        _ = (p | ReadFromKafka(servers, topics=[src], stop="end")
               | Map(_transform)
               | WriteToKafka(servers, dst, delivery=delivery,
                              transactional_id_prefix=f"bench-{dst}"))
        t0 = time.perf_counter()
        p.run().wait_until_finish()
        return time.perf_counter() - t0


def run(events: int, delivery: str = "both") -> dict[str, Any]:
    """Start a broker, produce ``events`` records, time the plain loop and fluvial's pipeline
    (at-least-once, and exactly-once with ``delivery`` "exactly_once" or "both")."""
    from fluvial.cli.localbroker import LocalBroker
    from fluvial.transforms.kafka.topics import create_topics

    modes = ["at_least_once", "exactly_once"] if delivery == "both" else [delivery]
    with LocalBroker() as b:
        s = b.bootstrap_servers
        topics = ["bench-in", "bench-plain"] + [f"bench-{m}" for m in modes]
        create_topics("bench", s, topics, N_PARTITIONS)
        _produce_input(s, "bench-in", events)
        res: dict[str, Any] = {"events": events, "partitions": N_PARTITIONS}
        t_plain = _plain(s, "bench-in", "bench-plain", events)
        res["plain_events_per_s"] = round(events / t_plain)
        expected = _expected(events)
        outputs = {"plain": _read_back(s, "bench-plain")}
        times = {}
        for mode in modes:
            times[mode] = _fluvial(s, "bench-in", f"bench-{mode}", mode)
            res[f"fluvial_{mode}_events_per_s"] = round(events / times[mode])
            outputs[mode] = _read_back(s, f"bench-{mode}")
        if "at_least_once" in times:
            res["alo_over_plain"] = round(t_plain / times["at_least_once"], 3)
        if "exactly_once" in times:
            res["eos_over_plain"] = round(t_plain / times["exactly_once"], 3)
        if len(times) == 2:
            res["eos_over_alo"] = round(times["at_least_once"] / times["exactly_once"], 3)
        res["output_counts"] = {k: sum(v.values()) for k, v in outputs.items()}
        res["counts_ok"] = all(n == events for n in res["output_counts"].values())
        # every output holds exactly the expected (key, value) records, each as often as expected
        res["values_ok"] = all(v == expected for v in outputs.values())
        return res
