"""Per-partition watermarks of a Kafka read: each partition's watermark is the highest record
timestamp seen in it minus the bounded out-of-orderness; the source's watermark is the minimum
over the active partitions. A partition that produced nothing for ``idle_timeout`` (processing
time) is left out of that minimum until it produces again; a finished partition (bounded read)
is left out for good. When every partition is idle the watermark holds its last value.

>>> w = PartitionWatermarks(["a", "b"], delay_ms=1000, idle_ms=None, now_ms=0)
>>> w.on_records("a", 10_000, now_ms=1); w.current(now_ms=1)   # b has nothing yet: holds
-9223372036854775808
>>> w.on_records("b", 5_000, now_ms=2); w.current(now_ms=2)
4000
"""

from __future__ import annotations

from typing import Any

from fluvial.timeutil import MIN_TIMESTAMP_MS


class PartitionWatermarks:
    def __init__(self, partitions: list[Any], delay_ms: int, idle_ms: int | None, now_ms: int) -> None:
        self.delay_ms = delay_ms
        self.idle_ms = idle_ms
        self.max_ts: dict[Any, int] = {p: MIN_TIMESTAMP_MS for p in partitions}
        self.last_active: dict[Any, int] = {p: now_ms for p in partitions}
        self.finished: set[Any] = set()
        self.last = MIN_TIMESTAMP_MS

    def on_records(self, partition: Any, max_ts: int, now_ms: int) -> None:
        if max_ts > self.max_ts[partition]:
            self.max_ts[partition] = max_ts
        self.last_active[partition] = now_ms

    def touch(self, partition: Any, now_ms: int) -> None:
        """The partition has data buffered: not idle."""
        self.last_active[partition] = now_ms

    def finish(self, partition: Any) -> None:
        self.finished.add(partition)

    def idle(self, partition: Any, now_ms: int) -> bool:
        return self.idle_ms is not None and now_ms - self.last_active[partition] >= self.idle_ms

    def current(self, now_ms: int) -> int:
        lo = None
        for p, ts in self.max_ts.items():
            if p in self.finished or self.idle(p, now_ms):
                continue
            wm = ts - self.delay_ms if ts != MIN_TIMESTAMP_MS else MIN_TIMESTAMP_MS
            if lo is None or wm < lo:
                lo = wm
        if lo is not None and lo > self.last:
            self.last = lo
        return self.last

    def snapshot(self) -> dict:
        return {"max_ts": dict(self.max_ts), "finished": set(self.finished), "last": self.last}

    def restore(self, st: dict, now_ms: int) -> None:
        for p, ts in st["max_ts"].items():
            if p in self.max_ts:
                self.max_ts[p] = ts
                self.last_active[p] = now_ms
        self.finished = {p for p in st["finished"] if p in self.max_ts}
        self.last = st["last"]
