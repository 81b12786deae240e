"""A Kafka read planned up front, for runners that split a read themselves (Beam's ranges,
Flink's KafkaSource): its partitions, each one's start offset and, for a bounded read, each
one's stop offset, resolved once against the brokers before the job starts.

Rules: ``stop="end"`` takes each partition's end at planning time (records produced later are
not read); explicit stop offsets must name every partition the read covers (a bounded read on
such a runner cannot leave one open), else the error names the missing partitions and the
runner; ``stop=None`` plans an unbounded read (no stop offsets). The consumer opened for
planning is closed before this returns."""

from __future__ import annotations

from typing import Any

from .clients.base import TP
from .errors import KafkaIOError
from .offsets import end_offsets, start_offsets
from .reader import open_consumer, read_partitions


def plan_offsets(cfg: dict[str, Any], label: str, options: Any, runner: str
                 ) -> tuple[list[TP], dict[TP, int], dict[TP, int] | None]:
    """(partitions, start offset per partition, stop offset per partition or None)."""
    timeout = cfg["connect_timeout"]
    consumer = open_consumer(cfg, label, options)
    try:
        tps = read_partitions(cfg, label, consumer)
        stop = cfg["stop"]
        if stop is None:
            ends = None
        elif stop == "end":
            ends = end_offsets(consumer, tps, timeout=timeout, label=label)
        else:
            missing = [f"{t}/{p}" for t, p in tps if (t, p) not in stop]
            if missing:
                raise KafkaIOError(
                    f"transform '{label}': stop gives no offset for partition(s) "
                    f"{', '.join(missing)}; on {runner} a bounded read needs a stop offset for "
                    "every partition it reads (or stop='end')")
            ends = {tp: int(stop[tp]) for tp in tps}
        starts = start_offsets(consumer, tps, cfg["start"], ends, timeout)
    finally:
        consumer.close()
    return tps, starts, ends
