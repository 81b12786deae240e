"""The sliding-sum benchmark: a runner against a plain-Python dict-loop baseline, same events,
same process, with an output checksum so the two are proven equal.

Event i: key ``(i * 2654435761) mod K``, value ``i mod 10 + 1``, timestamp (ms)
``1,000,000 + i + ((i * 7919) mod 101) - 50``. Sliding windows of 10 minutes every minute, sum per
key per window. The baseline does the 10 dict updates per event by hand.

With ``--runner flink`` a small untimed run goes first (the first job of a process starts the
JVM and the mini-cluster; a long-running deployment pays that once), and ``--pyflink`` also times the same
workload written directly against PyFlink (a Python AggregateFunction over
SlidingEventTimeWindows, :mod:`fluvial.cli.bench.pyflink_sliding`) in the same command, with
its own checksum.

    fluvial bench sliding-sum --events 1000000 --keys 1000 [--runner direct] [--json]
    fluvial bench sliding-sum --events 100000 --keys 1000 --runner flink --pyflink
"""

from __future__ import annotations

import glob
import os
import resource
import tempfile
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


class ChecksumSink(Sink):
    """Folds (key, window, sum) outputs into an order-free checksum. Each writer appends one
    ``count checksum`` line per batch to a file of its own in ``directory``, so the totals are
    readable wherever the runner ran the writers (this process, a copy pickled to a Beam worker,
    a Python worker inside Flink's JVM)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    @property
    def totals(self) -> tuple[int, int]:
        """(outputs, checksum) over every writer."""
        count = checksum = 0
        for path in glob.glob(os.path.join(self.directory, "tally-*.txt")):
            with open(path, encoding="ascii") as f:
                for line in f:
                    c, s = line.split()
                    count += int(c)
                    checksum = (checksum + int(s)) & MASK
        return count, checksum

    def open(self, ctx: Any) -> SinkWriter:
        return _ChecksumWriter(self.directory)


class _ChecksumWriter(SinkWriter):
    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, f"tally-{os.getpid()}-{uuid.uuid4().hex}.txt")

    def write(self, batch: list) -> None:
        acc = 0
        for wv in batch:
            key, total = wv.value
            w = wv.windows[0]
            acc = (acc + record_hash(key, w.start_ms, w.end_ms, total)) & MASK
        with open(self.path, "a", encoding="ascii") as f:
            f.write(f"{len(batch)} {acc}\n")


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


def run_pipeline(n: int, keys: int, runner: str, extra_argv: list[str], directory: str) -> ChecksumSink:
    argv = ["--runner", runner, "--batch-size", "65536", *extra_argv]
    p = Pipeline(options=PipelineOptions.from_argv(argv))
    sink = ChecksumSink(directory)
    (
        p
        | "Events" >> Read(BenchSource(n, keys))
        | "Slide" >> WindowInto(SlidingWindows(SIZE_MS / 1000, PERIOD_MS / 1000))
        | "SumPerKey" >> CombinePerKey(SumCombineFn())
        | "Checksum" >> Write(sink)
    )
    p.run().wait_until_finish()
    return sink


def _warm_up_flink(keys: int, extra_argv: list[str], tmp: str) -> None:
    """Start PyFlink's JVM and its mini-cluster with a small run of the same pipeline before
    anything is timed: the first job of a process pays JVM start, class loading and the
    compilation of fluvial's Java helpers; a long-running deployment pays them once."""
    warm = os.path.join(tmp, "warm-up")
    os.makedirs(warm)
    run_pipeline(10_000, keys, "flink", extra_argv, warm)


def run(n: int, keys: int, runner: str = "direct", extra_argv: list[str] | None = None,
        pyflink: bool = False) -> dict[str, Any]:
    if n < 1 or keys < 1:
        raise ValueError("--events and --keys must be positive")
    if pyflink and runner != "flink":
        raise ValueError("--pyflink compares with PyFlink's own Python path: use it with --runner flink")
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fluvial-bench-") as tmp:
        if runner == "flink":
            _warm_up_flink(keys, list(extra_argv or []), tmp)
        t0, c0 = time.perf_counter(), time.process_time()
        sink = run_pipeline(n, keys, runner, list(extra_argv or []), tmp)
        t_runner, c_runner = time.perf_counter() - t0, time.process_time() - c0
        count, checksum = sink.totals
        if pyflink:
            from fluvial.cli.bench.pyflink_sliding import run_pyflink

            p_count, p_checksum, t_pyflink = run_pyflink(n, keys, os.path.join(tmp, "pyflink"))
    t0, c0 = time.perf_counter(), time.process_time()
    b_count, b_checksum = baseline(n, keys)
    t_base, c_base = time.perf_counter() - t0, time.process_time() - c0
    eps = n / t_runner
    beps = n / t_base
    if pyflink:
        extra = {
            "pyflink_events_per_s": round(n / t_pyflink, 1),
            "pyflink_seconds": round(t_pyflink, 3),
            "pyflink_checksum_match": p_count == b_count and p_checksum == b_checksum,
            "ratio_vs_pyflink": round(t_pyflink / t_runner, 2),
        }
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
        **extra,
        # CPU time of this process (work in other processes, Beam's workers or Flink's JVM, is
        # not counted): steadier than wall-clock time on a busy machine
        "cpu_ratio": round(c_base / c_runner, 3) if c_runner > 0 else None,
        "runner_cpu_seconds": round(c_runner, 3),
        "baseline_cpu_seconds": round(c_base, 3),
    }
