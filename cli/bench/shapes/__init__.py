"""The shapes benchmark: seven pipeline shapes written in fluvial's public API, each against a
plain-Python loop written for the same job, over the same events, outputs checked equal.

    fluvial bench shapes [--events N] [--shape NAME ...] [--repeat R] [--pipeline-only] [--json]

For each shape it reports the CPU-time ratio (hand loop ÷ pipeline, same process; above 1 the
pipeline is faster), the target of issue 10, whether the outputs match, and the peak RSS of the
pipeline run. The measurement rules are in :mod:`fluvial.cli.bench.shapes.harness`; the shapes
are the modules of this package. docs/performance.md has the table.
"""

from __future__ import annotations

import importlib
import statistics
from types import ModuleType
from typing import Any

from ..shape_names import SHAPE_NAMES
from .harness import measure

SHAPES = {
    "fraud": "fraud",
    "sessions": "sessions",
    "stateful": "stateful",
    "early-trigger": "early_trigger",
    "stateless": "stateless",
    "gbk-fixed": "gbk_fixed",
    "sliding-1m-keys": "sliding_1m",
}
assert tuple(SHAPES) == SHAPE_NAMES


def shape_module(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{SHAPES[name]}")


def run(events: int, names: list[str] | None = None, repeat: int = 1,
        argv: list[str] | None = None, hand_loop: bool = True) -> list[dict[str, Any]]:
    """Measure the shapes ``names`` (all by default) ``repeat`` times each; one result per
    shape, with the median ratio and every run's ratio. Without ``hand_loop`` only the
    pipelines run (peak RSS at large sizes; no ratio, outputs unchecked)."""
    if events < 1 or repeat < 1:
        raise ValueError("--events and --repeat must be positive")
    results = []
    for name in names or list(SHAPES):
        shape = shape_module(name)
        runs = [measure(shape, events, list(argv or []), hand_loop) for _ in range(repeat)]
        ratios = sorted(r["ratio"] for r in runs if r["ratio"] is not None)
        best = dict(runs[0])
        best.update(
            ratio=round(statistics.median(ratios), 3) if ratios else None,
            ratios=ratios,
            outputs_match=all(r["outputs_match"] for r in runs) if hand_loop else None,
            cpu_s=round(statistics.median(r["cpu_s"] for r in runs), 3),
            peak_rss_mb=max(r["peak_rss_mb"] for r in runs),
            description=shape.DESCRIPTION,
        )
        if hand_loop:
            best.update(
                hand_loop_cpu_s=round(statistics.median(r["hand_loop_cpu_s"] for r in runs), 3),
                peak_rss_mb_with_hand_loop=max(r["peak_rss_mb_with_hand_loop"] for r in runs))
        results.append(best)
    return results


def table(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    lines = ["| shape | target | ratio | outputs match | outputs | pipeline CPU s | "
             "hand loop CPU s | peak RSS MB |", "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in results:
        match = {True: "yes", False: "NO", None: "not checked"}[r["outputs_match"]]
        lines.append(f"| {r['shape']} | ≥ {r['target']} | {r['ratio'] or '—'} | {match} | "
                     f"{r['outputs']:,} | {r['cpu_s']} | {r['hand_loop_cpu_s'] or '—'} | "
                     f"{r['peak_rss_mb']} |")
    return "\n".join(lines)
