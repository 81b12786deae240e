"""stateful: events → Map → stateful DoFn (ValueState count per key, emit every 100th).

The hand loop counts per key in a dict and emits every 100th."""

from __future__ import annotations

from typing import Any

from fluvial import DoFn, Map, ParDo, Read, ValueStateSpec, Write

from .events import mix, names, stamp
from .harness import Folder

NAME = "stateful"
TARGET = 0.33
DESCRIPTION = "events → Map → stateful DoFn: ValueState count per key, emit every 100th"
KEYS = 1_000
KEY = names("device", KEYS)
BOUND_MS = 100
EVERY = 100


def make_chunk(lo: int, hi: int) -> list:
    out = []
    for i in range(lo, hi):
        h = mix(i)
        ts = stamp(i, h, BOUND_MS)
        out.append(({"device": KEY[h % KEYS], "ts": ts}, ts))
    return out


def parse_event(e: dict) -> tuple:
    """(device, timestamp ms)."""
    return (e["device"], e["ts"])


class EveryHundredth(DoFn):
    COUNT = ValueStateSpec("count")

    def process(self, kv: tuple, count: Any = DoFn.StateParam(COUNT)) -> Any:
        n = (count.read() or 0) + 1
        count.write(n)
        if n % EVERY == 0:
            yield (kv[0], n)


def build(p: Any, source: Any, sink: Any) -> None:
    (p
     | "Events" >> Read(source)
     | "Parse" >> Map(parse_event)
     | "EveryHundredth" >> ParDo(EveryHundredth())
     | "Out" >> Write(sink))


def row(wv: Any) -> tuple:
    return wv.value


def hand_loop(chunks: Any) -> tuple[int, int]:
    counts: dict[str, int] = {}
    get = counts.get
    folder = Folder()
    for chunk in chunks:
        out: list = []
        for e, _ in chunk:
            key, _ts = parse_event(e)
            c = get(key, 0) + 1
            counts[key] = c
            if c % EVERY == 0:
                out.append((key, c))
        folder.add(out)
    return folder.result
