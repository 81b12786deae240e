"""sessions: click events → Map → Sessions(30 s gap) per user → Count.PerKey.

Events arrive in timestamp order. The hand loop keeps each user's open session (start, last
click, count), closes it when a click comes 30 s or more after the last one, and flushes the
open sessions at the end."""

from __future__ import annotations

from typing import Any

from fluvial import Map, Read, Sessions, WindowInto, Write
from fluvial.transforms import Count

from .events import mix, names, stamp
from .harness import Folder

NAME = "sessions"
TARGET = 0.33
DESCRIPTION = "click events → Map → Sessions(30 s) per user → Count.PerKey"
USERS = 10_000
USER = names("user", USERS)
PAGES = ["/", "/search", "/item", "/cart", "/checkout", "/help", "/login", "/account"]
BOUND_MS = 0
GAP_MS = 30_000


def make_chunk(lo: int, hi: int) -> list:
    out = []
    for i in range(lo, hi):
        h = mix(i)
        ts = stamp(i, h, 0)
        out.append(({"user": USER[h % USERS], "page": PAGES[(h >> 16) & 7], "ts": ts}, ts))
    return out


def parse_click(e: dict) -> tuple:
    """(user, page)."""
    return (e["user"], e["page"])


def build(p: Any, source: Any, sink: Any) -> None:
    (p
     | "Clicks" >> Read(source)
     | "Parse" >> Map(parse_click)
     | "Sessions" >> WindowInto(Sessions(GAP_MS // 1000))
     | "CountPerSession" >> Count.PerKey()
     | "Out" >> Write(sink))


def row(wv: Any) -> tuple:
    user, n = wv.value
    w = wv.windows[0]
    return (user, w.start_ms, w.end_ms, n)


def hand_loop(chunks: Any) -> tuple[int, int]:
    open_: dict[str, list] = {}
    get = open_.get
    folder = Folder()
    for chunk in chunks:
        out: list = []
        for e, t in chunk:
            user, _page = parse_click(e)
            cur = get(user)
            if cur is None:
                open_[user] = [t, t, 1]
            elif t < cur[1] + GAP_MS:
                cur[1] = t
                cur[2] += 1
            else:
                out.append((user, cur[0], cur[1] + GAP_MS, cur[2]))
                open_[user] = [t, t, 1]
        folder.add(out)
    folder.add([(user, start, last + GAP_MS, count)
                for user, (start, last, count) in open_.items()])
    return folder.result
