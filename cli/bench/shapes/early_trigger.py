"""early-trigger: readings → Map → FixedWindows(60 s) with AfterWatermark(early=AfterCount(100)),
accumulating → Sum per key.

The hand loop keeps (sum, elements since the last pane) per key and window: an EARLY pane
every 100th element, an ON_TIME pane per key and window at the end (no element is late)."""

from __future__ import annotations

from typing import Any

from fluvial import (
    AccumulationMode,
    AfterCount,
    AfterWatermark,
    FixedWindows,
    Map,
    Read,
    WindowInto,
    Write,
)
from fluvial.transforms import Sum

from .events import mix, names, stamp
from .harness import Folder

NAME = "early-trigger"
TARGET = 0.5
DESCRIPTION = ("readings → Map → FixedWindows(60 s) + AfterWatermark(early=AfterCount(100)), "
               "accumulating → Sum.PerKey")
KEYS = 100
KEY = names("sensor", KEYS)
BOUND_MS = 100
SIZE_MS = 60_000
EARLY = 100


def make_chunk(lo: int, hi: int) -> list:
    out = []
    for i in range(lo, hi):
        h = mix(i)
        ts = stamp(i, h, BOUND_MS)
        out.append(({"sensor": KEY[h % KEYS], "reading": (h >> 11) % 1000, "ts": ts}, ts))
    return out


def parse_reading(e: dict) -> tuple:
    return (e["sensor"], e["reading"])


def build(p: Any, source: Any, sink: Any) -> None:
    (p
     | "Readings" >> Read(source)
     | "Parse" >> Map(parse_reading)
     | "Window" >> WindowInto(FixedWindows(SIZE_MS // 1000),
                              trigger=AfterWatermark(early=AfterCount(EARLY)),
                              accumulation_mode=AccumulationMode.ACCUMULATING)
     | "Sum" >> Sum.PerKey()
     | "Out" >> Write(sink))


def row(wv: Any) -> tuple:
    key, total = wv.value
    return (key, wv.windows[0].start_ms, total, wv.pane.timing.value)


def hand_loop(chunks: Any) -> tuple[int, int]:
    d: dict[tuple, list] = {}
    get = d.get
    folder = Folder()
    for chunk in chunks:
        out: list = []
        for e, t in chunk:
            key, v = parse_reading(e)
            k = (key, t - t % SIZE_MS)
            acc = get(k)
            if acc is None:
                acc = d[k] = [0, 0]
            acc[0] += v
            acc[1] += 1
            if acc[1] == EARLY:
                acc[1] = 0
                out.append((key, k[1], acc[0], "EARLY"))
        folder.add(out)
    folder.add([(key, start, total, "ON_TIME") for (key, start), (total, _) in d.items()])
    return folder.result
