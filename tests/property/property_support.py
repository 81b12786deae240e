"""Shared pieces for the property tests: reference windowing and combining in plain Python
(floor division, no fluvial code), and the unit tests' helper sinks."""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit"))

from unit_support import Collected, CollectSink, Crash, CrashOnce, StagingSink  # noqa: E402,F401


def fixed_windows(t: int, size: int, offset: int = 0) -> list[tuple[int, int]]:
    offset %= size
    start = ((t - offset) // size) * size + offset
    return [(start, start + size)]


def sliding_windows(t: int, size: int, period: int, offset: int = 0) -> list[tuple[int, int]]:
    out = []
    offset %= period
    start = ((t - offset) // period) * period + offset
    while start > t - size:
        out.append((start, start + size))
        start -= period
    return out


def sessions(timestamps: list[int], gap: int) -> list[tuple[int, int, list[int]]]:
    """Merge [t, t + gap) intervals that overlap; returns (start, end, member indices)."""
    order = sorted(range(len(timestamps)), key=lambda i: timestamps[i])
    out: list[tuple[int, int, list[int]]] = []
    for i in order:
        t = timestamps[i]
        if out and t < out[-1][1]:
            s, e, members = out[-1]
            out[-1] = (s, max(e, t + gap), members + [i])
        else:
            out.append((t, t + gap, [i]))
    return out


def combine(kind: str, values: list[int]) -> Any:
    if kind == "sum":
        return sum(values)
    if kind == "count":
        return len(values)
    if kind == "min":
        return min(values)
    if kind == "max":
        return max(values)
    if kind == "mean":
        return sum(values) / len(values)
    if kind == "list":
        return sorted(values)
    raise ValueError(kind)


def reference(events: list[tuple[Any, int, int]], window: tuple, kind: str) -> list[tuple]:
    """events: (key, value, timestamp_ms); window: ("fixed", size, offset), ("sliding", size,
    period, offset) or ("sessions", gap), all in ms. Returns sorted (key, start, end, result)."""
    groups: dict[tuple[Any, int, int], list[int]] = defaultdict(list)
    if window[0] == "sessions":
        by_key: dict[Any, list[tuple[int, int]]] = defaultdict(list)
        for k, v, t in events:
            by_key[k].append((v, t))
        for k, items in by_key.items():
            for s, e, members in sessions([t for _, t in items], window[1]):
                groups[(k, s, e)].extend(items[i][0] for i in members)
    else:
        for k, v, t in events:
            if window[0] == "fixed":
                ws = fixed_windows(t, window[1], window[2])
            else:
                ws = sliding_windows(t, window[1], window[2], window[3])
            for s, e in ws:
                groups[(k, s, e)].append(v)
    return sorted(((k, s, e, combine(kind, vs)) for (k, s, e), vs in groups.items()), key=repr)
