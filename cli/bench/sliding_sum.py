"""The sliding-sum benchmark: a runner against a plain-Python dict-loop baseline, same events,
same process, with an output checksum so the two are proven equal.

Event i: key ``(i * 2654435761) mod K``, value ``i mod 10 + 1``, timestamp (ms)
``1,000,000 + i + ((i * 7919) mod 101) - 50``. Sliding windows of 10 minutes every minute, sum per
key per window. The baseline does the 10 dict updates per event by hand.

    fluvial bench sliding-sum --events 1000000 --keys 1000 [--runner direct] [--json]
"""

from __future__ import annotations

import resource
import threading
import time
import uuid
from typing import Any

import numpy as np

from fluvial.columnar import ColumnBatch
from fluvial.combine import CombinePerKey
from fluvial.combiners import SumCombineFn
from fluvial.options import PipelineOptions
from fluvial.pipeline import Pipeline
from fluvial.sink import Sink, SinkWriter, Write
from fluvial.source import Read, Source, SourceReader
from fluvial.timeutil import MAX_TIMESTAMP_MS
from fluvial.watermarks import BoundedOutOfOrderness
from fluvial.window import SlidingWindows
from fluvial.windowinto import WindowInto

SIZE_MS = 600_000
PERIOD_MS = 60_000
MASK = (1 << 64) - 1


def event(i: int, keys: int) -> tuple[int, int, int]:
    return (i * 2654435761) % keys, i % 10 + 1, 1_000_000 + i + ((i * 7919) % 101) - 50


def record_hash(key: int, start_ms: int, end_ms: int, total: int) -> int:
    return hash((key, start_ms, end_ms, total)) & MASK


class BenchReader(SourceReader):
    def __init__(self, n: int, keys: int) -> None:
        self.n, self.keys, self.pos = n, keys, 0
        self.wm = BoundedOutOfOrderness(0.1).create()

    def poll(self, max_records: int) -> Any:
        if self.pos >= self.n:
            return None
        hi = min(self.n, self.pos + max_records)
        i = np.arange(self.pos, hi, dtype=np.int64)
        self.pos = hi
        ts = 1_000_000 + i + (i * 7919) % 101 - 50
        self.wm.on_event(int(ts.max()))
        return ColumnBatch((i * 2654435761) % self.keys, i % 10 + 1, ts)

    def watermark(self) -> int:
        return MAX_TIMESTAMP_MS if self.pos >= self.n else self.wm.current()

    def snapshot(self) -> Any:
        return (self.pos, self.wm.snapshot())

    def restore(self, st: Any) -> None:
        self.pos = st[0]
        self.wm.restore(st[1])


class BenchSource(Source):
    is_bounded = True

    def __init__(self, n: int, keys: int) -> None:
        self.n, self.keys = n, keys

    def open(self, ctx: Any) -> SourceReader:
        return BenchReader(self.n, self.keys)


class _Tally:
    __slots__ = ("count", "checksum", "lock")

    def __init__(self) -> None:
        self.count = 0
        self.checksum = 0
        self.lock = threading.Lock()


# Runners that pickle the sink (Beam) hand each worker a copy; copies in this process report to
# the tally registered under the sink's token. The benchmark runs in-process.
_TALLIES: dict[str, _Tally] = {}


class ChecksumSink(Sink):
    """Folds (key, window, sum) outputs into an order-free checksum, readable from the sink
    object (also when the runner wrote through a pickled copy of it in this process)."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        _TALLIES[self.token] = _Tally()

    @property
    def count(self) -> int:
        return _TALLIES[self.token].count

    @property
    def checksum(self) -> int:
        return _TALLIES[self.token].checksum

    def open(self, ctx: Any) -> SinkWriter:
        return _ChecksumWriter(_TALLIES[self.token])


class _ChecksumWriter(SinkWriter):
    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    def write(self, batch: list) -> None:
        acc = 0
        for wv in batch:
            key, total = wv.value
            w = wv.windows[0]
            acc = (acc + record_hash(key, w.start_ms, w.end_ms, total)) & MASK
        t = self.tally
        with t.lock:
            t.checksum = (t.checksum + acc) & MASK
            t.count += len(batch)


def baseline(n: int, keys: int) -> tuple[int, int]:
    """The plain-Python dict loop: 10 dict updates per event."""
    d: dict[tuple[int, int], int] = {}
    get = d.get
    for i in range(n):
        k = (i * 2654435761) % keys
        v = i % 10 + 1
        t = 1_000_000 + i + ((i * 7919) % 101) - 50
        last = t - t % PERIOD_MS
        for j in range(10):
            kk = (k, last - j * PERIOD_MS)
            d[kk] = get(kk, 0) + v
    checksum = 0
    for (k, start), total in d.items():
        checksum = (checksum + record_hash(k, start, start + SIZE_MS, total)) & MASK
    return len(d), checksum


def run_pipeline(n: int, keys: int, runner: str, extra_argv: list[str]) -> ChecksumSink:
    argv = ["--runner", runner, "--batch-size", "65536", *extra_argv]
    p = Pipeline(options=PipelineOptions.from_argv(argv))
    sink = ChecksumSink()
    (
        p
        | "Events" >> Read(BenchSource(n, keys))
        | "Slide" >> WindowInto(SlidingWindows(SIZE_MS / 1000, PERIOD_MS / 1000))
        | "SumPerKey" >> CombinePerKey(SumCombineFn())
        | "Checksum" >> Write(sink)
    )
    p.run().wait_until_finish()
    return sink


def run(n: int, keys: int, runner: str = "direct", extra_argv: list[str] | None = None) -> dict[str, Any]:
    if n < 1 or keys < 1:
        raise ValueError("--events and --keys must be positive")
    t0 = time.perf_counter()
    sink = run_pipeline(n, keys, runner, list(extra_argv or []))
    t_runner = time.perf_counter() - t0
    count, checksum = sink.count, sink.checksum
    _TALLIES.pop(sink.token, None)
    t0 = time.perf_counter()
    b_count, b_checksum = baseline(n, keys)
    t_base = time.perf_counter() - t0
    eps = n / t_runner
    beps = n / t_base
    return {
        "benchmark": "sliding-sum",
        "runner": runner,
        "events": n,
        "keys": keys,
        "outputs": count,
        "events_per_s": round(eps, 1),
        "baseline_events_per_s": round(beps, 1),
        "ratio": round(eps / beps, 3),
        "checksum_match": count == b_count and checksum == b_checksum,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "runner_seconds": round(t_runner, 3),
        "baseline_seconds": round(t_base, 3),
    }
