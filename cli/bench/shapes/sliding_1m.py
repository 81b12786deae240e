"""sliding-1m-keys: the sliding-sum benchmark (:mod:`fluvial.cli.bench.sliding_sum`) with
1,000,000 keys instead of 1,000: columnar source, SlidingWindows(10 min, 1 min), built-in Sum,
against its dict loop (ten updates per event)."""

from __future__ import annotations

import tempfile
import time
from typing import Any

from fluvial.cli.bench import sliding_sum

NAME = "sliding-1m-keys"
TARGET = 1.0
DESCRIPTION = "sliding-sum (columnar source, SlidingWindows(10 min, 1 min), Sum) with 1M keys"
KEYS = 1_000_000


def pipeline_run(n: int, argv: list[str]) -> tuple[tuple[int, int], float]:
    with tempfile.TemporaryDirectory(prefix="fluvial-shape-") as tmp:
        t0 = time.process_time()
        sink = sliding_sum.run_pipeline(n, KEYS, "direct", argv, tmp)
        cpu = time.process_time() - t0
        return sink.totals, cpu


def hand_loop_run(n: int) -> tuple[tuple[int, int], float]:
    t0 = time.process_time()
    result = sliding_sum.baseline(n, KEYS)
    return result, time.process_time() - t0


def build(p: Any, source: Any, sink: Any) -> None:  # pragma: no cover - pipeline_run instead
    raise NotImplementedError
