"""Where a Kafka read starts and (for bounded reads) stops.

``start``: ``"earliest"``, ``"latest"``, ``"committed"`` (the group's committed offset, else
earliest), a dict ``{("topic", partition): offset}`` (listed partitions start there, the others
at earliest), or a point in time: an int (epoch milliseconds), a :class:`fluvial.Timestamp` or
an aware ``datetime``; each partition then starts at the earliest offset whose record timestamp
is at or after that time (Kafka's ``ListOffsets`` by timestamp, ``offsets_for_times``), or at
its end when it has no such record.

The end of a partition (``stop="end"``) is taken once, when the read starts: Kafka's
``ListOffsets(latest)`` for the consumer's isolation level (the last stable offset under
``read_committed``, the high watermark under ``read_uncommitted``), moved past the records that a
fetch from just before that offset returns. A Kafka broker never returns records at or past that
offset (a ``read_committed`` fetch stops at the last stable offset, so a transaction still open
is not waited for), and the end is ``ListOffsets``' answer. Some Kafka-protocol brokers (Tansu)
answer ``ListOffsets(latest)`` with the base offset of the last record batch plus one: the fetch
then returns the rest of that batch, and the end is after its last record.

The probe waits for every partition's fetch to be answered, up to the read's
``connect_timeout``; a partition still unanswered then fails the read
(:class:`~fluvial.transforms.kafka.errors.KafkaIOError`, naming the partitions). It never falls
back to ``ListOffsets``' answer alone: on such a broker that answer is before the last batch's
other records, and a read ending there would finish successfully without them.

>>> start_kind("earliest"), start_kind(1_700_000_000_000), start_kind({("t", 0): 5})
('earliest', 'timestamp', 'offsets')
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

from fluvial.errors import PipelineConstructionError
from fluvial.timeutil import Timestamp

from .clients.base import TP, ConsumerClient
from .errors import KafkaIOError, servers_text

NAMED = ("earliest", "latest", "committed")


def start_kind(start: Any) -> str:
    if isinstance(start, str):
        if start in NAMED:
            return start
    elif isinstance(start, dict):
        return "offsets"
    elif isinstance(start, (int, Timestamp, _dt.datetime)) and not isinstance(start, bool):
        return "timestamp"
    raise PipelineConstructionError(
        f"ReadFromKafka: start must be 'earliest', 'latest', 'committed', a dict "
        f"{{(topic, partition): offset}}, or a time (epoch ms int, Timestamp, aware datetime); "
        f"got {start!r}"
    )


def start_timestamp_ms(start: Any) -> int:
    if isinstance(start, Timestamp):
        return start.millis
    if isinstance(start, _dt.datetime):
        if start.tzinfo is None:
            raise PipelineConstructionError(
                "ReadFromKafka: start datetime must be timezone-aware, e.g. "
                "datetime(2024, 1, 1, tzinfo=timezone.utc)"
            )
        return int(start.timestamp() * 1000)
    return int(start)


def start_offsets(consumer: ConsumerClient, tps: list[TP], start: Any,
                  ends: dict[TP, int] | None, timeout: float = 30.0,
                  begin: dict[TP, int] | None = None) -> dict[TP, int]:
    """The first offset to read of each partition in ``tps`` (``begin``: their beginning
    offsets, when the caller has them)."""
    kind = start_kind(start)
    if begin is None:
        begin = consumer.beginning_offsets(tps, timeout)
    if kind == "earliest":
        return dict(begin)
    if kind == "latest":
        return dict(ends) if ends is not None else end_offsets(consumer, tps, timeout=timeout)
    if kind == "committed":
        committed = consumer.committed(tps, timeout)
        return {tp: begin[tp] if committed.get(tp) is None else max(committed[tp], begin[tp])
                for tp in tps}
    if kind == "offsets":
        wanted = {(t, p): o for (t, p), o in start.items()}
        return {tp: max(wanted.get(tp, begin[tp]), begin[tp]) for tp in tps}
    found = consumer.offsets_for_times(tps, start_timestamp_ms(start), timeout)
    if any(found.get(tp) is None for tp in tps):
        ends = ends if ends is not None else end_offsets(consumer, tps, timeout=timeout)
    return {tp: (ends[tp] if found.get(tp) is None else found[tp]) for tp in tps}  # type: ignore


def end_offsets(consumer: ConsumerClient, tps: list[TP], timeout: float = 30.0,
                begin: dict[TP, int] | None = None, label: str | None = None) -> dict[TP, int]:
    """Each partition's end now: ``ListOffsets(latest)``, moved past the records a fetch from
    one offset before it returns (see the module docstring). ``begin``: the partitions'
    beginning offsets, when the caller has them. A partition whose fetch got no answer within
    ``timeout`` seconds raises KafkaIOError naming ``label`` (default: the consumer's).

    Assigns ``tps`` to the consumer (callers assign their own positions after)."""
    listed = consumer.listed_end_offsets(tps, timeout)
    out = dict(listed)
    probe = [tp for tp in tps if listed[tp] > 0]
    if not probe:
        return out
    if begin is None:
        begin = consumer.beginning_offsets(probe, timeout)
    consumer.assign({tp: max(listed[tp] - 1, begin[tp]) for tp in probe})
    deadline = time.monotonic() + timeout
    pending = set(probe)
    offset = consumer.access.offset
    while pending:
        if time.monotonic() >= deadline:
            raise _no_end(label or getattr(consumer, "label", "ReadFromKafka"), consumer,
                          sorted(pending), listed, timeout)
        got = consumer.fetch(1_000_000, 0.1)
        for chunk in got:
            tp = chunk.tp
            out[tp] = max(out[tp], offset(chunk.recs[-1]) + 1)
            pending.discard(tp)
        for tp in list(pending):
            # a fetch response for tp came back (its records, if any, are in ``got``): the
            # partition's data up to the broker's limit for this consumer has been seen
            if consumer.fetched_end(tp):
                pending.discard(tp)
    return out


def _no_end(label: str, consumer: ConsumerClient, pending: list[TP], listed: dict[TP, int],
            timeout: float) -> KafkaIOError:
    parts = ", ".join(f"{t}/{p} (fetch from offset {listed[(t, p)] - 1})" for t, p in pending)
    servers = getattr(consumer, "servers", None)
    at = f" at {servers_text(servers)}" if servers else ""
    return KafkaIOError(
        f"transform '{label}': stop='end' could not find where partition(s) {parts} end: the "
        f"broker{at} did not answer the fetch that shows the rest of the last record batch "
        f"within {timeout:g}s (connect_timeout); the read does not start with an end it has "
        "not seen. Retry when the broker answers, or raise ReadFromKafka's connect_timeout")
