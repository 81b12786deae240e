"""stateless: request events → Map → Filter → Map → FlatMap.

The hand loop calls the same four functions in one loop."""

from __future__ import annotations

from typing import Any

from fluvial import Filter, FlatMap, Map, Read, Write

from .events import mix, names, stamp
from .harness import Folder

NAME = "stateless"
TARGET = 0.5
DESCRIPTION = "request events → Map → Filter → Map → FlatMap"
USERS = 10_000
USER = names("user", USERS)
PATHS = ["/", "/api/items", "/api/items/42", "/static/app.js", "/api/cart/add", "/login",
         "/api/search/shoes/red", "/health"]
BOUND_MS = 100


def make_chunk(lo: int, hi: int) -> list:
    out = []
    for i in range(lo, hi):
        h = mix(i)
        ts = stamp(i, h, BOUND_MS)
        out.append(({"user": USER[h % USERS], "path": PATHS[(h >> 14) & 7],
                     "bytes": (h >> 9) % 20_000, "ts": ts}, ts))
    return out


def parse_request(e: dict) -> tuple:
    """(user, path, bytes)."""
    return (e["user"], e["path"], e["bytes"])


def is_large(r: tuple) -> bool:
    return r[2] >= 1_000


def to_kb(r: tuple) -> tuple:
    return (r[0], r[1], r[2] // 1024)


def path_segments(r: tuple) -> list:
    """One output per path segment: (user, segment, kb)."""
    return [(r[0], seg, r[2]) for seg in r[1].split("/") if seg]


def build(p: Any, source: Any, sink: Any) -> None:
    (p
     | "Requests" >> Read(source)
     | "Parse" >> Map(parse_request)
     | "Large" >> Filter(is_large)
     | "ToKb" >> Map(to_kb)
     | "Segments" >> FlatMap(path_segments)
     | "Out" >> Write(sink))


def row(wv: Any) -> tuple:
    return (wv.value, wv.timestamp)


def hand_loop(chunks: Any) -> tuple[int, int]:
    folder = Folder()
    for chunk in chunks:
        out: list = []
        append = out.append
        for e, t in chunk:
            r = parse_request(e)
            if is_large(r):
                for o in path_segments(to_kb(r)):
                    append((o, t))
        folder.add(out)
    return folder.result
