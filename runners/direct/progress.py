"""The direct runner's live progress display: one status line on stderr, refreshed in place a
few times per second while the pipeline runs.

``--progress auto`` (the default) shows it when stderr is a terminal, once the run has lasted a
second; ``on`` always (on a stream that is not a terminal, one line per refresh); ``off`` never.
When off the executor holds no display at all, so it costs one ``is None`` check per loop.

**Fields, most important first** (the order on the line):

1. events per second (is it moving?), and while a source's brokers do not answer, for how
   long and when it retries (``broker 127.0.0.1:9092 down 12s, retry #4 in 2s``; from the
   reader's ``progress()["broker"]``, see :mod:`fluvial.transforms.kafka.liveness`);
2. the sinks' watermark (is event time moving?) and, while the sources' watermark has not moved
   for a while, who holds it back (``wm held 12s by orders/1``, see
   :mod:`fluvial.runners.direct.watermark_stall`);
3. Kafka lag (keeping up?), total and the largest partitions;
4. dead letters and 5. skipped records (is data failing?);
6. the latest checkpoint (is progress durable?);
7. records read.

**Fitting the terminal.** On a terminal the line fits its width (``shutil.get_terminal_size``,
less one column; a ``width`` given to the display wins). Too wide, the fields are shortened
from the least important up (``dead letters 2`` -> ``dl 2``, the watermark without
milliseconds, then without its date, lag without its partitions, ...); still too wide, fields
are dropped from the least important up; the first field is never dropped (only cut). A stream
that is not a terminal gets the whole line.

>>> snap = ProgressSnapshot(events_per_s=1500.0, records_read=12345, sink_watermark_ms=0,
...                         lag={"orders/0": 7}, checkpoint_id=3, checkpoint_age_s=4.2,
...                         dead_letters=2, skipped=1)
>>> render_status(snap)
'1,500 ev/s | sink wm 1970-01-01T00:00:00.000Z | lag 7 (orders/0=7) | dead letters 2 | skipped 1 | checkpoint #3 4s ago | read 12,345'
>>> render_status(snap, width=60)
'1,500 ev/s | wm 00:00:00 | lag 7 | dl 2 | skip 1 | chk #3 4s'
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
    held_by: tuple[str, ...] = ()  # who holds the watermark back, while it is stalled
    stalled_s: float | None = None  # for how long it has not moved
    # a source's brokers not answering: (servers, seconds down, failed attempts, next retry in s)
    broker_down: tuple[str, float, int, float] | None = None


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


def _watermark_forms(ms: int | None) -> list[str]:
    full = format_watermark(ms)
    if ms is None or ms <= MIN_TIMESTAMP_MS or ms >= MAX_TIMESTAMP_MS:
        return [f"sink wm {full}", f"wm {full}"]
    return [f"sink wm {full}", f"wm {full[:19]}Z", f"wm {full[11:19]}"]


def _held_forms(held: tuple[str, ...], stalled_s: float | None) -> list[str]:
    secs = f" {stalled_s:.0f}s" if stalled_s is not None else ""
    first = held[0] + (f" +{len(held) - 1}" if len(held) > 1 else "")
    return [f"wm held{secs} by {', '.join(held)}", f"held by {first}"]


def status_fields(s: ProgressSnapshot) -> list[list[str]]:
    """Each field of the line, most important first, as its forms from longest to shortest."""
    fields = [[f"{s.events_per_s:,.0f} ev/s"]]
    if s.broker_down is not None:
        servers, down, attempts, retry = s.broker_down
        fields.append([f"broker {servers} down {down:.0f}s, retry #{attempts + 1} in "
                       f"{retry:.0f}s", f"broker down {down:.0f}s"])
    fields.append(_watermark_forms(s.sink_watermark_ms))
    if s.held_by:
        fields.append(_held_forms(s.held_by, s.stalled_s))
    if s.lag:
        fields.append([_lag_text(s.lag), f"lag {sum(s.lag.values()):,}"])
    fields.append([f"dead letters {s.dead_letters:,}", f"dl {s.dead_letters:,}"])
    fields.append([f"skipped {s.skipped:,}", f"skip {s.skipped:,}"])
    if s.checkpoint_id is None:
        fields.append(["checkpoint -", "chk -"])
    elif s.checkpoint_age_s is None:
        fields.append([f"checkpoint #{s.checkpoint_id}", f"chk #{s.checkpoint_id}"])
    else:
        age = f"{s.checkpoint_age_s:.0f}s"
        fields.append([f"checkpoint #{s.checkpoint_id} {age} ago", f"chk #{s.checkpoint_id} {age}"])
    fields.append([f"read {s.records_read:,}"])
    return fields


SEP = " | "


def render_status(s: ProgressSnapshot, width: int | None = None) -> str:
    """The status line for ``s`` (a pure function of the snapshot), fitted into ``width``
    columns when given (see the module docstring)."""
    fields = status_fields(s)
    form = [0] * len(fields)
    kept = list(range(len(fields)))

    def line() -> str:
        return SEP.join(fields[i][form[i]] for i in kept)

    text = line()
    if width is None or len(text) <= width:
        return text
    for i in reversed(range(len(fields))):  # shorten, least important first
        while form[i] < len(fields[i]) - 1 and len(text) > width:
            form[i] += 1
            text = line()
        if len(text) <= width:
            return text
    for i in reversed(range(1, len(fields))):  # then drop, least important first
        kept.remove(i)
        text = line()
        if len(text) <= width:
            return text
    return text[:width]


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
    broker = None
    for s in executor.sources:
        if isinstance(s, ReadSource) and s.reader is not None:
            try:
                prog = s.reader.progress()
                lag.update(prog.get("lag", {}))
                b = prog.get("broker")
                if b is not None and (broker is None or b["down_s"] > broker[1]):
                    broker = (b["servers"], b["down_s"], b["attempts"], b["retry_in_s"])
            except Exception:  # noqa: BLE001 - the display never fails a run
                pass
    last = executor.last_checkpoint_at
    q = executor.metrics.query(namespace="fluvial", name="errors_skipped")
    stall = getattr(executor, "stall", None)
    return ProgressSnapshot(
        events_per_s=rate.update(now, read),
        records_read=read,
        sink_watermark_ms=min((op.watermark for op in sinks), default=None),
        lag=lag,
        checkpoint_id=executor.checkpoint_id if last is not None else None,
        checkpoint_age_s=now - last if last is not None else None,
        dead_letters=sum(s.records for s in executor.sources if isinstance(s, DeadLetterSource)),
        skipped=q.counter("errors_skipped"),
        held_by=stall.held_by if stall is not None else (),
        stalled_s=stall.stalled_s if stall is not None else None,
        broker_down=broker,
    )


class ProgressDisplay:
    """Writes the status line to ``stream`` at most every ``interval_s`` seconds, starting
    ``delay_s`` after the run began; in place (carriage return) on a terminal, fitted to
    ``width`` columns (default: the terminal's width less one)."""

    def __init__(self, stream: IO[str], interval_s: float = 0.25, delay_s: float = 0.0,
                 width: int | None = None) -> None:
        self.stream = stream
        self.interval_s = interval_s
        self.width = width
        self.tty = _isatty(stream)
        self.rate = RecentRate()
        self.started = time.monotonic()
        self.next_at = self.started + delay_s
        self.shown = False

    def tick(self, executor: Any) -> None:
        now = time.monotonic()
        if now >= self.next_at:
            self.next_at = now + self.interval_s
            self._write(snapshot_of(executor, now, self.rate))

    def finish(self, executor: Any) -> None:
        """The final figures (if anything was shown, or when always on) and a newline."""
        if self.shown or not self.tty:
            now = time.monotonic()
            self._write(snapshot_of(executor, now, self.rate))
        self.close()

    def close(self) -> None:
        """End the in-place line so later output starts on a fresh line."""
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()
        self.shown = False

    def line_width(self) -> int | None:
        """The columns the line may use: the given width, else the terminal's less one (so
        the cursor never wraps) on a terminal; None (the whole line) elsewhere."""
        if self.width is not None:
            return self.width
        if self.tty:
            return max(shutil.get_terminal_size().columns - 1, 1)
        return None

    def _write(self, snap: ProgressSnapshot) -> None:
        line = render_status(snap, self.line_width())
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
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
