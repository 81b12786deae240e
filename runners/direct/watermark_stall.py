"""Who holds the watermark back: the direct runner notices when the sources' watermark has not
moved for a while and names the partition (or source) holding it back, in the status line and in
one log line (logger ``fluvial.watermark``, level WARNING).

Rules:

* the watermark watched is the minimum over the *live* sources: not finished, not idle (the sdk's
  idle rule, :mod:`fluvial.watermarks`), not the dead-letter source;
* "a while" is :data:`STALL_AFTER_S` (10 s) of processing time during which that minimum has not
  changed;
* who holds it back, among the sources at the minimum: the splits a source reports in
  ``reader.progress()["watermark_held_by"]`` (e.g. Kafka partitions that are behind the others
  or have no records yet); a source reporting none is named itself when another live source
  is ahead of it. When every live source is level and names no split (the input is quiet,
  nothing is behind anything) nobody is named and nothing is logged;
* one log line per stall (again only if the culprits change); the status line shows
  ``wm held Ns by ...`` while the stall lasts. TestStream runs are not watched (their watermark
  is scripted).

The clock is injected (``clock``, seconds), so tests drive a stall without sleeping.

>>> w = WatermarkStall(after_s=10, clock=lambda: 0.0)
>>> srcs = [SourceWatermark("Read", 5_000, {"orders/1": -9223372036854775})]
>>> w.check(srcs, now=0.0), w.check(srcs, now=9.9), w.check(srcs, now=10.0)
(None, None, ('orders/1',))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import attrs

from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS

from .progress import format_watermark
from .sources import DeadLetterSource, ReadSource

STALL_AFTER_S = 10.0
CHECK_EVERY_S = 0.5
logger = logging.getLogger("fluvial.watermark")


@attrs.frozen
class SourceWatermark:
    """One live source: its label, its watermark, and the splits holding it back (name ->
    that split's watermark)."""

    name: str
    watermark: int
    held_by: dict[str, int] = attrs.field(factory=dict)


def live_sources(sources: list[Any]) -> list[SourceWatermark]:
    """The direct runner's live sources (not done, not idle, not the dead-letter source)."""
    out = []
    for s in sources:
        if s.done or s.out_idle or isinstance(s, DeadLetterSource) or s.is_test_stream:
            continue
        held: dict[str, int] = {}
        if isinstance(s, ReadSource) and s.reader is not None:
            try:
                held = dict(s.reader.progress().get("watermark_held_by") or {})
            except Exception:  # noqa: BLE001 - reporting never fails a run
                held = {}
        out.append(SourceWatermark(s.label, s.out_wm, held))
    return out


def culprits(sources: list[SourceWatermark]) -> list[tuple[str, str | None, int]]:
    """``(source, split or None, watermark)`` of whoever holds the minimum back (module rules)."""
    if not sources:
        return []
    lo = min(s.watermark for s in sources)
    at_min = [s for s in sources if s.watermark == lo]
    ahead = any(s.watermark > lo for s in sources)
    out: list[tuple[str, str | None, int]] = []
    for s in at_min:
        if s.held_by:
            out.extend((s.name, split, wm) for split, wm in sorted(s.held_by.items()))
        elif ahead:
            out.append((s.name, None, s.watermark))
    return out


def _when(ms: int) -> str:
    return "no records yet" if ms <= MIN_TIMESTAMP_MS else f"at {format_watermark(ms)}"


def describe(found: list[tuple[str, str | None, int]]) -> str:
    """``partition orders/1 of 'Read' (no records yet), source 'Other' (at ...)``."""
    parts = []
    for source, split, wm in found:
        who = f"partition {split} of '{source}'" if split else f"source '{source}'"
        parts.append(f"{who} ({_when(wm)})")
    return ", ".join(parts)


class WatermarkStall:
    """Watches the live sources' watermark (see the module rules). :meth:`tick` reads the
    executor's sources at most every ``CHECK_EVERY_S``; :meth:`check` is the rule itself."""

    def __init__(self, after_s: float = STALL_AFTER_S, clock: Callable[[], float] = time.monotonic,
                 before_log: Callable[[], None] | None = None) -> None:
        self.after_s = after_s
        self.clock = clock
        self.before_log = before_log
        self.wm: int | None = None
        self.since = 0.0
        self.reported: tuple[str, ...] | None = None
        self.next_at = 0.0
        self.held_by: tuple[str, ...] = ()  # for the status line while a stall lasts
        self.stalled_s: float | None = None

    def tick(self, sources: list[Any]) -> None:
        now = self.clock()
        if now >= self.next_at:
            self.next_at = now + CHECK_EVERY_S
            self.check(live_sources(sources), now)

    def check(self, sources: list[SourceWatermark], now: float) -> tuple[str, ...] | None:
        """Returns the names of the splits or sources holding the watermark back once it has
        not moved for ``after_s``, else None; logs once per stall."""
        wm = min((s.watermark for s in sources), default=None)
        if wm != self.wm or wm is None or wm >= MAX_TIMESTAMP_MS:
            self.wm, self.since, self.reported = wm, now, None
            self.held_by, self.stalled_s = (), None
            return None
        stalled = now - self.since
        if stalled < self.after_s:
            return None
        found = culprits(sources)
        names = tuple(split or source for source, split, _ in found)
        self.held_by, self.stalled_s = names, (stalled if names else None)
        if not names:
            return None
        if names != self.reported:
            self.reported = names
            if self.before_log is not None:
                self.before_log()
            logger.warning(
                "the watermark has stayed at %s for %.0f s, held back by %s; an input without "
                "records for its idle_timeout stops holding it back (docs/concepts.md, "
                "Watermarks)", format_watermark(wm), stalled, describe(found))
        return names
