"""fraud: dict events → Map → key by account → SlidingWindows(10 min, 1 min) →
CombinePerKey(user CombineFn: sum and count) → Filter(sum > threshold).

The hand loop calls the same parse function and updates the ten windows of each event in a
dict by hand; at the end it keeps the (account, window) totals over the threshold."""

from __future__ import annotations

from typing import Any

from fluvial import CombineFn, CombinePerKey, Filter, Map, Read, SlidingWindows, WindowInto, Write
from fluvial.transforms import KeyBy

from .events import mix, names, stamp
from .harness import Folder

NAME = "fraud"
TARGET = 2.0
DESCRIPTION = ("dict events → Map → key by account → SlidingWindows(10 min, 1 min) → "
               "CombinePerKey(user CombineFn: sum and count) → Filter(sum > threshold)")
ACCOUNTS = 10_000
ACCOUNT = names("acct", ACCOUNTS)
BOUND_MS = 100
SIZE_MS, PERIOD_MS = 600_000, 60_000
THRESHOLD = 1_000_000  # cents in one window
LARGE = 1_000_000  # cents: one payment in 1,000 is this large


def make_chunk(lo: int, hi: int) -> list:
    out = []
    for i in range(lo, hi):
        h = mix(i)
        ts = stamp(i, h, BOUND_MS)
        amount = LARGE if (h >> 13) % 1000 == 0 else (h >> 13) % 10_000 + 1
        out.append(({"account": ACCOUNT[h % ACCOUNTS], "amount": amount, "ts": ts}, ts))
    return out


def parse_txn(e: dict) -> tuple:
    """(account, amount in cents, timestamp ms)."""
    return (e["account"], e["amount"], e["ts"])


def account_of(txn: tuple) -> str:
    return txn[0]


class SumAndCount(CombineFn):
    """Total amount and number of transactions."""

    def create_accumulator(self) -> tuple:
        return (0, 0)

    def add_input(self, acc: tuple, txn: tuple) -> tuple:
        return (acc[0] + txn[1], acc[1] + 1)

    def merge_accumulators(self, accs: Any) -> tuple:
        s = n = 0
        for a, c in accs:
            s += a
            n += c
        return (s, n)


def over_threshold(kv: tuple) -> bool:
    return kv[1][0] > THRESHOLD


def build(p: Any, source: Any, sink: Any) -> None:
    (p
     | "Transactions" >> Read(source)
     | "Parse" >> Map(parse_txn)
     | "KeyByAccount" >> KeyBy(account_of)
     | "Slide" >> WindowInto(SlidingWindows(SIZE_MS // 1000, PERIOD_MS // 1000))
     | "SumAndCount" >> CombinePerKey(SumAndCount())
     | "OverThreshold" >> Filter(over_threshold)
     | "Out" >> Write(sink))


def row(wv: Any) -> tuple:
    key, (total, n) = wv.value
    w = wv.windows[0]
    return (key, w.start_ms, w.end_ms, total, n)


def hand_loop(chunks: Any) -> tuple[int, int]:
    d: dict[tuple, list] = {}
    get = d.get
    for chunk in chunks:
        for e, _ in chunk:
            acct, amount, ts = parse_txn(e)
            last = ts - ts % PERIOD_MS
            for start in range(last - SIZE_MS + PERIOD_MS, last + 1, PERIOD_MS):
                k = (acct, start)
                acc = get(k)
                if acc is None:
                    d[k] = [amount, 1]
                else:
                    acc[0] += amount
                    acc[1] += 1
    folder = Folder()
    folder.add([(acct, start, start + SIZE_MS, total, count)
                for (acct, start), (total, count) in d.items() if total > THRESHOLD])
    return folder.result
