"""The read_committed view of a Kafka topic, reconstructed from the log itself.

A ``read_committed`` consumer must not return records of aborted transactions; Tansu, the broker
of the tests, returns them anyway (it reports no aborted-transaction index in its fetch
responses). It does write the transaction control markers into the log, like Kafka: a control
batch of the producer after the transaction's records, whose single record's type is COMMIT (1)
or ABORT (0); fencing a producer writes an ABORT marker for its open transaction.

:func:`committed_view` fetches the raw record batches of every partition (FetchRequest with
isolation level read_uncommitted, parsed with kafka-python's record classes, so producer id,
the transactional flag and control batches are visible) and replays them: a non-transactional
record is committed when written; a transactional record is held per producer id until that
producer's next control marker, which commits (COMMIT) or drops (ABORT) every record it holds.
Records still held at the end of the log belong to open transactions and are not committed.
This is the read_committed semantics of Kafka (KIP-98), so the view is correct on real Kafka
as well.

    view = committed_view("127.0.0.1:9092", "out")
    view.values()        # committed values, per partition in offset order
    view.aborted         # records of aborted transactions (what Tansu would still return)
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.protocol.consumer import FetchRequest
from kafka.protocol.parser import KafkaProtocol
from kafka.record import MemoryRecords

COMMIT, ABORT = 1, 0


@dataclass(frozen=True)
class LogRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    producer_id: int
    producer_epoch: int
    transactional: bool


@dataclass
class CommittedView:
    topic: str
    committed: list[LogRecord] = field(default_factory=list)
    aborted: list[LogRecord] = field(default_factory=list)
    open: list[LogRecord] = field(default_factory=list)
    commit_markers: int = 0
    abort_markers: int = 0

    def values(self) -> list[bytes | None]:
        return [r.value for r in self.committed]

    def pairs(self) -> list[tuple[bytes | None, bytes | None]]:
        return [(r.key, r.value) for r in self.committed]


class _Connection:
    """One blocking connection to a broker speaking kafka-python's protocol classes."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.proto = KafkaProtocol(client_id="fluvial-committed-view")

    def request(self, req: Any) -> Any:
        self.proto.send_request(req)
        self.sock.sendall(self.proto.send_bytes())
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("the broker closed the connection")
            responses = self.proto.receive_bytes(data)
            if responses:
                return responses[0][1]

    def close(self) -> None:
        self.sock.close()


def _fetch(conn: _Connection, topic: str, partition: int, offset: int) -> tuple[int, bytes]:
    part = FetchRequest.FetchTopic.FetchPartition(
        partition=partition, fetch_offset=offset, partition_max_bytes=8 << 20
    )
    req = FetchRequest[4](
        replica_id=-1, max_wait_ms=100, min_bytes=1, max_bytes=8 << 20, isolation_level=0,
        topics=[FetchRequest.FetchTopic(topic=topic, partitions=[part])],
    )
    resp = conn.request(req)
    pd = resp.responses[0].partitions[0]
    if pd.error_code:
        raise RuntimeError(f"fetch {topic}/{partition}@{offset} failed: error {pd.error_code}")
    return pd.high_watermark, pd.records


def _replay(view: CommittedView, partition: int, batches: list[Any]) -> None:
    held: dict[int, list[LogRecord]] = {}
    for b in batches:
        if b.is_control_batch:
            markers = list(b)
            kind = markers[0].type if markers else None
            recs = held.pop(b.producer_id, [])
            if kind == COMMIT:
                view.commit_markers += 1
                view.committed.extend(recs)
            elif kind == ABORT:
                view.abort_markers += 1
                view.aborted.extend(recs)
            else:
                raise ValueError(f"unknown control record type {kind!r} at {b.base_offset}")
            continue
        for r in b:
            rec = LogRecord(partition, r.offset, r.key, r.value, r.timestamp, b.producer_id,
                            b.producer_epoch, b.is_transactional)
            if b.is_transactional:
                held.setdefault(b.producer_id, []).append(rec)
            else:
                view.committed.append(rec)
    for recs in held.values():
        view.open.extend(recs)


def committed_view(bootstrap_servers: str, topic: str, timeout: float = 10.0) -> CommittedView:
    """Every partition of ``topic`` read from offset 0 to its high watermark and replayed as
    described in the module docstring; ``committed`` is sorted by (partition, offset)."""
    meta = KafkaConsumer(bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout * 1000))
    try:
        parts = meta.partitions_for_topic(topic)
        if not parts:
            raise ValueError(f"topic {topic!r} does not exist on {bootstrap_servers}")
        cluster = meta._client.cluster
        leaders = {}
        for p in sorted(parts):
            node = cluster.leader_for_partition(TopicPartition(topic, p))
            bm = cluster.broker_metadata(node)
            leaders[p] = (bm.host, bm.port)
    finally:
        meta.close()
    view = CommittedView(topic)
    for p, (host, port) in leaders.items():
        conn = _Connection(host, port, timeout)
        try:
            batches: list[Any] = []
            offset, hw = 0, None
            while hw is None or offset < hw:
                hw, raw = _fetch(conn, topic, p, offset)
                records = MemoryRecords(raw)
                got = False
                while (b := records.next_batch()) is not None:
                    if b.next_offset <= offset:
                        continue
                    batches.append(b)
                    offset = b.next_offset
                    got = True
                if not got and offset < hw:
                    raise RuntimeError(f"no progress reading {topic}/{p} at offset {offset}")
        finally:
            conn.close()
        _replay(view, p, batches)
    view.committed.sort(key=lambda r: (r.partition, r.offset))
    return view
