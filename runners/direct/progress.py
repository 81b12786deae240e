"""The direct runner's live progress display: one status line on stderr, refreshed in place a
few times per second while the pipeline runs.

``--progress auto`` (the default) shows it when stderr is a terminal, once the run has lasted a
second; ``on`` always (on a stream that is not a terminal, one line per refresh); ``off`` never.
When off the executor holds no display at all, so it costs one ``is None`` check per loop.

>>> snap = ProgressSnapshot(events_per_s=1500.0, records_read=12345, sink_watermark_ms=0,
...                         lag={"orders/0": 7}, checkpoint_id=3, checkpoint_age_s=4.2,
...                         dead_letters=2, skipped=1)
>>> render_status(snap)
'1,500 ev/s | read 12,345 | sink wm 1970-01-01T00:00:00.000Z | lag 7 (orders/0=7) | checkpoint #3 4s ago | dead letters 2 | skipped 1'
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import time
from collections import deque
from typing import IO, Any

import attrs

from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS

from .operators.simple import WriteOperator
from .sources import DeadLetterSource, ReadSource

MAX_PARTITIONS_SHOWN = 3


@attrs.frozen
class ProgressSnapshot:
    """The figures of one status line."""

    events_per_s: float
    records_read: int
    sink_watermark_ms: int | None
    lag: dict[str, int]
    checkpoint_id: int | None
    checkpoint_age_s: float | None
    dead_letters: int
    skipped: int


def format_watermark(ms: int | None) -> str:
    """ISO-8601 UTC with milliseconds; ``-inf`` before any data, ``+inf`` at the end."""
    if ms is None:
        return "-"
    if ms <= MIN_TIMESTAMP_MS:
        return "-inf"
    if ms >= MAX_TIMESTAMP_MS:
        return "+inf"
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _lag_text(lag: dict[str, int]) -> str:
    ranked = sorted(lag.items(), key=lambda kv: (-kv[1], kv[0]))
    parts = [f"{p}={n:,}" for p, n in ranked[:MAX_PARTITIONS_SHOWN]]
    if len(ranked) > MAX_PARTITIONS_SHOWN:
        parts.append(f"+{len(ranked) - MAX_PARTITIONS_SHOWN} more")
    return f"lag {sum(lag.values()):,} ({', '.join(parts)})"


def render_status(s: ProgressSnapshot) -> str:
    """The status line for ``s`` (a pure function of the snapshot)."""
    fields = [
        f"{s.events_per_s:,.0f} ev/s",
        f"read {s.records_read:,}",
        f"sink wm {format_watermark(s.sink_watermark_ms)}",
    ]
    if s.lag:
        fields.append(_lag_text(s.lag))
    if s.checkpoint_id is None:
        fields.append("checkpoint -")
    else:
        age = "" if s.checkpoint_age_s is None else f" {s.checkpoint_age_s:.0f}s ago"
        fields.append(f"checkpoint #{s.checkpoint_id}{age}")
    fields.append(f"dead letters {s.dead_letters:,}")
    fields.append(f"skipped {s.skipped:,}")
    return " | ".join(fields)


class RecentRate:
    """Events per second over the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[float, int]] = deque()

    def update(self, now: float, total: int) -> float:
        self.samples.append((now, total))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window_s:
            self.samples.popleft()
        t0, n0 = self.samples[0]
        return (total - n0) / (now - t0) if now > t0 else 0.0


def snapshot_of(executor: Any, now: float, rate: RecentRate) -> ProgressSnapshot:
    """Read the figures off a running executor."""
    read = sum(s.records_read for s in executor.sources)
    sinks = [op for op in executor.ops if isinstance(op, WriteOperator)]
    if not sinks:
        sinks = [op for op in executor.ops if not op.consumers]
    lag: dict[str, int] = {}
    for s in executor.sources:
        if isinstance(s, ReadSource) and s.reader is not None:
            try:
                lag.update(s.reader.progress().get("lag", {}))
            except Exception:  # noqa: BLE001 - the display never fails a run
                pass
    last = executor.last_checkpoint_at
    q = executor.metrics.query(namespace="fluvial", name="errors_skipped")
    return ProgressSnapshot(
        events_per_s=rate.update(now, read),
        records_read=read,
        sink_watermark_ms=min((op.watermark for op in sinks), default=None),
        lag=lag,
        checkpoint_id=executor.checkpoint_id if last is not None else None,
        checkpoint_age_s=now - last if last is not None else None,
        dead_letters=sum(s.records for s in executor.sources if isinstance(s, DeadLetterSource)),
        skipped=q.counter("errors_skipped"),
    )


class ProgressDisplay:
    """Writes the status line to ``stream`` at most every ``interval_s`` seconds, starting
    ``delay_s`` after the run began; in place (carriage return) on a terminal."""

    def __init__(self, stream: IO[str], interval_s: float = 0.25, delay_s: float = 0.0) -> None:
        self.stream = stream
        self.interval_s = interval_s
        self.tty = _isatty(stream)
        self.rate = RecentRate()
        self.started = time.monotonic()
        self.next_at = self.started + delay_s
        self.shown = False

    def tick(self, executor: Any) -> None:
        now = time.monotonic()
        if now >= self.next_at:
            self.next_at = now + self.interval_s
            self._write(render_status(snapshot_of(executor, now, self.rate)))

    def finish(self, executor: Any) -> None:
        """The final figures (if anything was shown, or when always on) and a newline."""
        if self.shown or not self.tty:
            now = time.monotonic()
            self._write(render_status(snapshot_of(executor, now, self.rate)))
        self.close()

    def close(self) -> None:
        """End the in-place line so later output starts on a fresh line."""
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()
        self.shown = False

    def _write(self, line: str) -> None:
        if self.tty:
            width = shutil.get_terminal_size().columns - 1
            self.stream.write("\r" + line[:width] + "\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.shown = True


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def make_display(mode: str, stream: IO[str] | None = None) -> ProgressDisplay | None:
    """The display for ``--progress mode`` on ``stream`` (default: stderr), or None when off."""
    stream = sys.stderr if stream is None else stream
    if mode == "on":
        return ProgressDisplay(stream)
    if mode == "auto" and _isatty(stream):
        return ProgressDisplay(stream, delay_s=1.0)
    return None
