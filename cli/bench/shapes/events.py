"""Deterministic synthetic events for the shapes: multiplicative hashing of the event index,
so event ``i`` is the same for the pipeline and the hand loop, in any chunking.

Timestamps are milliseconds from ``T0``, one event per millisecond; shapes that allow
out-of-order data move event ``i`` back by up to ``jitter - 1`` ms (the source's watermark
bound is ``jitter``, so no event is late).
"""

from __future__ import annotations

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z in ms


def mix(i: int) -> int:
    """A 32-bit hash of the event index."""
    return ((i * 2654435761) ^ (i >> 7) * 40503) & 0xFFFFFFFF


def names(prefix: str, n: int) -> list[str]:
    """``n`` distinct key strings, e.g. ``acct-00042``."""
    return [f"{prefix}-{j:05d}" for j in range(n)]


def stamp(i: int, h: int, jitter: int) -> int:
    """Event ``i``'s timestamp: ``T0 + i`` moved back by up to ``jitter - 1`` ms."""
    return T0 + i - (h >> 5) % jitter if jitter > 1 else T0 + i
