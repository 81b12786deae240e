"""Per-partition watermarks of a Kafka read: one :class:`fluvial.watermarks.WatermarkGenerator`
per partition (highest record timestamp − ``max_out_of_orderness``; idle after ``idle_timeout``
of processing time without records, counted from when the read started) and one
:class:`fluvial.watermarks.WatermarkCombinator` over them (minimum over active partitions;
finished partitions of a bounded read left out for good; all idle: hold). The rules are the
sdk's, stated in :mod:`fluvial.watermarks`.

>>> w = PartitionWatermarks(["a", "b"], delay_ms=1000, idle_ms=None, now_ms=0)
>>> w.on_records("a", 10_000, now_ms=1); w.current(now_ms=1)   # b has nothing yet: holds
-9223372036854775
>>> w.holding_back(now_ms=1)
['b']
>>> w.on_records("b", 5_000, now_ms=2); w.current(now_ms=2)
4000
"""

from __future__ import annotations

from typing import Any

from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.watermarks import WatermarkCombinator, WatermarkGenerator


class PartitionWatermarks:
    def __init__(self, partitions: list[Any], delay_ms: int, idle_ms: int | None, now_ms: int) -> None:
        self.gens: dict[Any, WatermarkGenerator] = {}
        for p in partitions:
            g = self.gens[p] = WatermarkGenerator(delay_ms, idle_ms)
            g.start(now_ms)
        self.comb = WatermarkCombinator(self.gens) if self.gens else None

    def on_records(self, partition: Any, max_ts: int, now_ms: int) -> None:
        self.gens[partition].on_event(max_ts, now_ms)

    def touch(self, partition: Any, now_ms: int) -> None:
        """The partition has data buffered: not idle."""
        self.gens[partition].on_activity(now_ms)

    def finish(self, partition: Any) -> None:
        if self.comb is not None:
            self.comb.finish(partition)

    def _update(self, now_ms: int) -> WatermarkCombinator | None:
        comb = self.comb
        if comb is not None:
            comb.follow(self.gens, now_ms)
        return comb

    def current(self, now_ms: int) -> int:
        comb = self._update(now_ms)
        return comb.current() if comb is not None else MIN_TIMESTAMP_MS

    def idle(self, now_ms: int) -> bool:
        """Every partition not finished is idle: the read holds its watermark and is left out
        downstream."""
        comb = self._update(now_ms)
        return comb is not None and comb.idle

    def holding_back(self, now_ms: int) -> list[Any]:
        """The active partitions at the minimum while another partition is ahead."""
        comb = self._update(now_ms)
        return comb.holding_back() if comb is not None else []

    def partition_watermark(self, partition: Any) -> int:
        return self.gens[partition].current()

    def snapshot(self) -> dict:
        comb = self.comb
        return {"max_ts": {p: g.snapshot() for p, g in self.gens.items()},
                "finished": set(comb.finished) if comb is not None else set(),
                "last": comb.current() if comb is not None else None}

    def restore(self, st: dict, now_ms: int) -> None:
        """Highest timestamps and the source watermark come back; finished partitions are found
        again by the reader; every partition is active and its idle clock restarts now."""
        for p, ts in st["max_ts"].items():
            if p in self.gens:
                self.gens[p].restore(ts)
                self.gens[p].start(now_ms)
        if self.comb is not None:
            self.comb.restore({"wms": {p: g.current() for p, g in self.gens.items()},
                               "finished": set(), "value": st["last"]})
