"""gbk-fixed: events → Map → FixedWindows(60 s) → GroupByKey → Map(sum of values).

The hand loop appends each value to its (key, window) list and sums the lists at the end
with the same function."""

from __future__ import annotations

from typing import Any

from fluvial import FixedWindows, GroupByKey, Map, Read, WindowInto, Write

from .events import mix, names, stamp
from .harness import Folder

NAME = "gbk-fixed"
TARGET = 0.5
DESCRIPTION = "events → Map → FixedWindows(60 s) → GroupByKey → Map(sum of values)"
KEYS = 1_000
KEY = names("key", KEYS)
BOUND_MS = 100
SIZE_MS = 60_000


def make_chunk(lo: int, hi: int) -> list:
    out = []
    for i in range(lo, hi):
        h = mix(i)
        ts = stamp(i, h, BOUND_MS)
        out.append(({"key": KEY[h % KEYS], "value": (h >> 12) % 100, "ts": ts}, ts))
    return out


def parse_kv(e: dict) -> tuple:
    return (e["key"], e["value"])


def sum_values(kv: tuple) -> tuple:
    return (kv[0], sum(kv[1]))


def build(p: Any, source: Any, sink: Any) -> None:
    (p
     | "Events" >> Read(source)
     | "Parse" >> Map(parse_kv)
     | "Window" >> WindowInto(FixedWindows(SIZE_MS // 1000))
     | "Group" >> GroupByKey()
     | "Sum" >> Map(sum_values)
     | "Out" >> Write(sink))


def row(wv: Any) -> tuple:
    key, total = wv.value
    return (key, wv.windows[0].start_ms, total)


def hand_loop(chunks: Any) -> tuple[int, int]:
    groups: dict[tuple, list] = {}
    get = groups.get
    for chunk in chunks:
        for e, t in chunk:
            key, v = parse_kv(e)
            k = (key, t - t % SIZE_MS)
            lst = get(k)
            if lst is None:
                groups[k] = [v]
            else:
                lst.append(v)
    out = []
    for (key, start), values in groups.items():
        key, total = sum_values((key, values))
        out.append((key, start, total))
    folder = Folder()
    folder.add(out)
    return folder.result
