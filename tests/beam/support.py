"""Helpers for tests that run the same pipeline on the direct and the Beam runner.

Beam pickles every DoFn (and sink) it runs, so an in-memory collecting sink would fill a copy:
:func:`collect` writes each element (value, timestamp ms, window bounds) as a pickle file into a
directory instead, and :class:`Collected` reads them back.
"""

from __future__ import annotations

import os
import pickle
import uuid
from typing import Any

import fluvial as fl
from fluvial.window import GlobalWindow


class _FileWriter(fl.SinkWriter):
    def __init__(self, directory: str) -> None:
        self.dir = directory

    def write(self, batch: list) -> None:
        rows = []
        for wv in batch:
            w = wv.windows[0] if wv.windows else None
            bounds = None if w is None or isinstance(w, GlobalWindow) else (w.start_ms, w.end_ms)
            rows.append((wv.value, wv.timestamp, bounds))
        path = os.path.join(self.dir, f"{uuid.uuid4().hex}.pkl")
        with open(path, "wb") as f:
            pickle.dump(rows, f)


class FileCollectSink(fl.Sink):
    """At-least-once test sink: one pickle file per written batch."""

    def __init__(self, directory: str) -> None:
        self.dir = directory

    def open(self, ctx: Any) -> fl.SinkWriter:
        return _FileWriter(self.dir)


class Collected:
    def __init__(self, directory: str) -> None:
        self.dir = directory

    def rows(self) -> list[tuple[Any, int, Any]]:
        out: list = []
        for name in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, name), "rb") as f:
                out.extend(pickle.load(f))
        return out

    def values(self) -> list[Any]:
        return [r[0] for r in self.rows()]

    def sorted_values(self) -> list[Any]:
        return sorted(self.values(), key=repr)


def collect(pcoll: Any, tmp_path: Any, label: str = "Collect") -> Collected:
    d = os.path.join(str(tmp_path), f"{label}-{uuid.uuid4().hex[:8]}")
    os.makedirs(d)
    pcoll | label >> fl.Write(FileCollectSink(d))
    return Collected(d)


def pipeline(runner: str, *extra: str) -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", runner, *extra])


def tv(value: Any, seconds: float) -> fl.TimestampedValue:
    return fl.TimestampedValue(value, seconds)


# -- Kafka ---------------------------------------------------------------------------------------
def produce(servers: str, topic: str, records: list[tuple[Any, Any, int, int]]) -> None:
    """``records``: (key, value, partition, timestamp_ms); str values encoded as UTF-8, bytes
    as they are."""
    from kafka import KafkaProducer

    def enc(x: Any) -> bytes | None:
        return x.encode() if isinstance(x, str) else x

    prod = KafkaProducer(bootstrap_servers=servers, linger_ms=5)
    for k, v, part, ts in records:
        prod.send(topic, key=enc(k), value=enc(v), partition=part, timestamp_ms=ts)
    prod.flush()
    prod.close()


def read_raw(servers: str, topic: str) -> list[Any]:
    """Every record of ``topic`` (all partitions) as kafka-python ConsumerRecords."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False,
                      consumer_timeout_ms=1500)
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
    c.assign(tps)
    for tp in tps:
        c.seek(tp, 0)
    out = list(c)
    c.close()
    return out
