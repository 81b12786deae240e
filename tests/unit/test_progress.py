"""The live progress display: the status line from a snapshot (pure), when it is on, and a run
writing to a StringIO and to a pseudo-terminal."""

from __future__ import annotations

import io
import os
import sys

import pytest
from test_dead_letter_output import RECORDS, LogSource
from unit_support import collect, pipeline

import fluvial as fl
from fluvial.runners.direct.progress import (
    ProgressDisplay,
    ProgressSnapshot,
    RecentRate,
    format_watermark,
    make_display,
    render_status,
)
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.transforms import Map


def snap(**changes):
    base = dict(
        events_per_s=12345.6, records_read=1_234_567, sink_watermark_ms=1_764_000_000_123,
        lag={}, checkpoint_id=None, checkpoint_age_s=None, dead_letters=0, skipped=0,
    )
    base.update(changes)
    return ProgressSnapshot(**base)


def test_render_status_all_fields():
    line = render_status(snap(lag={"orders/0": 30, "orders/1": 12}, checkpoint_id=3,
                              checkpoint_age_s=4.4, dead_letters=2, skipped=5))
    assert line == (
        "12,346 ev/s | read 1,234,567 | sink wm 2025-11-24T16:00:00.123Z | "
        "lag 42 (orders/0=30, orders/1=12) | checkpoint #3 4s ago | dead letters 2 | skipped 5"
    )


def test_render_status_before_data_and_without_checkpoints():
    line = render_status(snap(events_per_s=0.0, records_read=0, sink_watermark_ms=MIN_TIMESTAMP_MS))
    assert line == "0 ev/s | read 0 | sink wm -inf | checkpoint - | dead letters 0 | skipped 0"


def test_render_status_many_partitions_shows_the_largest_lags():
    lag = {"t/0": 5, "t/1": 50, "t/2": 7, "t/3": 50, "t/4": 1}
    line = render_status(snap(lag=lag))
    assert "lag 113 (t/1=50, t/3=50, t/2=7, +2 more)" in line


def test_format_watermark_ends():
    assert format_watermark(MAX_TIMESTAMP_MS) == "+inf"
    assert format_watermark(None) == "-"
    assert format_watermark(0) == "1970-01-01T00:00:00.000Z"


def test_recent_rate_uses_the_last_seconds_only():
    r = RecentRate(window_s=2.0)
    assert r.update(10.0, 0) == 0.0
    assert r.update(11.0, 1000) == 1000.0
    assert r.update(12.0, 1500) == 750.0
    # the sample at 10 s falls out of the window: rate over 11 s .. 13.5 s
    assert r.update(13.5, 1600) == pytest.approx((1600 - 1000) / 2.5)


def test_make_display_modes(pty_pair):
    master, slave = pty_pair
    assert make_display("off", slave) is None
    assert make_display("auto", io.StringIO()) is None  # not a terminal
    auto = make_display("auto", slave)
    assert isinstance(auto, ProgressDisplay) and auto.tty
    assert auto.next_at - auto.started == pytest.approx(1.0)  # only on runs longer than 1 s
    on = make_display("on", io.StringIO())
    assert isinstance(on, ProgressDisplay) and not on.tty


def to_int(s):
    return int(s)


def build(p, tmp_path):
    """Four source records (two undecodable: dead letters), then a Map skipping one element."""
    rows = p | "Orders" >> fl.Read(LogSource(RECORDS, on_error="dead_letter"))
    ids = rows | "Id" >> Map(lambda r: r["id"]) | "Check" >> Map(
        lambda i: to_int("x") if i == 3 else i, on_error="skip"
    )
    collect(ids, "Main")
    collect(p.dead_letters(), "Dead")


def test_run_with_progress_on_writes_status_lines(tmp_path, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    p = pipeline("--progress", "on", "--checkpoint-dir", str(tmp_path / "ck"),
                 "--checkpoint-interval", "0", "--batch-size", "1")
    build(p, tmp_path)
    result = p.run()
    lines = err.getvalue().splitlines()
    assert len(lines) >= 2  # at least one refresh during the run, and the final figures
    assert all(" ev/s | read " in line for line in lines)
    final = lines[-1]
    n = result.info["checkpoints_taken"]
    assert n > 0
    assert "| read 2 |" in final  # decoded records; the two others are dead letters
    assert "| sink wm +inf |" in final
    assert "| lag 0 (orders/0=0) |" in final
    assert f"| checkpoint #{n} " in final
    assert final.endswith("| dead letters 2 | skipped 1")


def test_progress_off_and_auto_write_nothing_when_not_a_terminal(tmp_path, monkeypatch):
    for mode in ("off", "auto"):
        err = io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        p = pipeline("--progress", mode)
        build(p, tmp_path)
        p.run()
        assert err.getvalue() == ""


@pytest.fixture
def pty_pair():
    """A pseudo-terminal: (master fd, slave as a text stream); both closed afterwards."""
    master, slave_fd = os.openpty()
    slave = os.fdopen(slave_fd, "w", encoding="utf-8")
    yield master, slave
    slave.close()
    os.close(master)


def read_all(fd):
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_run_on_a_terminal_refreshes_in_place(tmp_path, monkeypatch, pty_pair):
    master, slave = pty_pair
    monkeypatch.setattr(sys, "stderr", slave)
    monkeypatch.setenv("COLUMNS", "400")
    p = pipeline("--progress", "on")
    build(p, tmp_path)
    p.run()
    out = read_all(master)
    assert out.startswith("\r") and out.endswith("\r\n")  # the terminal maps \n to \r\n
    frames = [f.removesuffix("\x1b[K").strip() for f in out.split("\r") if f.strip()]
    assert frames and "\n" not in "".join(frames)
    assert frames[-1].endswith("| read 2 | sink wm +inf | lag 0 (orders/0=0) | checkpoint - | "
                               "dead letters 2 | skipped 1")
