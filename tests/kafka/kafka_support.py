"""Helpers for the Kafka tests: produce records, read a topic back raw, run a pipeline.

``CLIENT`` is the Kafka client backend of the test running now (set by the ``kafka_client``
fixture of tests/kafka/conftest.py, which runs a test once per backend): :func:`pipeline` and
:func:`options` pass it as ``--kafka-client``. Producing input and reading output back use
kafka-python directly, the same reference client for both backends under test.
"""

from __future__ import annotations

import json
from typing import Any

import fluvial as fl
from fluvial.options import PipelineOptions

CLIENT: str | None = None


def produce(servers: str, topic: str, records: list[tuple[Any, Any, int, int]]) -> None:
    """``records``: (key, value, partition, timestamp_ms); str/bytes keys and values, dicts as
    JSON."""
    from kafka import KafkaProducer

    def enc(x: Any) -> bytes | None:
        if x is None or isinstance(x, bytes):
            return x
        if isinstance(x, str):
            return x.encode()
        return json.dumps(x).encode()

    prod = KafkaProducer(bootstrap_servers=servers, linger_ms=5)
    for k, v, part, ts in records:
        prod.send(topic, key=enc(k), value=enc(v), partition=part, timestamp_ms=ts)
    prod.flush()
    prod.close()


def read_raw(servers: str, topic: str, isolation: str = "read_uncommitted") -> list[Any]:
    """Every record of ``topic`` (all partitions), as kafka-python ConsumerRecords."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=servers, isolation_level=isolation,
                      enable_auto_commit=False, consumer_timeout_ms=1500)
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
    c.assign(tps)
    for tp in tps:
        c.seek(tp, 0)
    out = list(c)
    c.close()
    return out


def client_args() -> list[str]:
    return ["--kafka-client", CLIENT] if CLIENT else []


def pipeline(*extra: str) -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "direct", *client_args(), *extra])


def options(**kw: Any) -> PipelineOptions:
    """PipelineOptions with the backend under test."""
    if CLIENT:
        kw.setdefault("kafka_client", CLIENT)
    return PipelineOptions(**kw)


def collect() -> tuple[list, Any]:
    """A list and a sink-like Map appending to it (the direct runner runs in-process)."""
    from fluvial.transforms import Map

    got: list = []
    return got, Map(lambda x: got.append(x) or x)


def frame_local(excinfo: Any, name: str, cls: type | None = None) -> Any:
    """The local variable ``name`` (an instance of ``cls`` if given) of the innermost frame of
    ``excinfo``'s traceback that has one: how a test reaches an object whose constructor
    raised, e.g. to check that it closed its client."""
    tb = excinfo.tb
    found = None
    while tb is not None:
        v = tb.tb_frame.f_locals.get(name)
        if v is not None and (cls is None or isinstance(v, cls)):
            found = v
        tb = tb.tb_next
    assert found is not None, f"no local {name!r} in the traceback"
    return found


def committed_offsets(servers: str, group: str, topic: str, partitions: int) -> list:
    """The group's committed offset of each partition of ``topic`` (None: nothing committed)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
    try:
        return [c.committed(TopicPartition(topic, p)) for p in range(partitions)]
    finally:
        c.close(autocommit=False)
