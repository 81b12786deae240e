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
        "12,346 ev/s | sink wm 2025-11-24T16:00:00.123Z | lag 42 (orders/0=30, orders/1=12) | "
        "dead letters 2 | skipped 5 | checkpoint #3 4s ago | read 1,234,567"
    )


def test_render_status_before_data_and_without_checkpoints():
    line = render_status(snap(events_per_s=0.0, records_read=0, sink_watermark_ms=MIN_TIMESTAMP_MS))
    assert line == "0 ev/s | sink wm -inf | dead letters 0 | skipped 0 | checkpoint - | read 0"


# Every field, with the watermark held back by partition orders/1 for 12 s. Widths of the full
# forms: 11 (ev/s) + 32 (sink wm) + 23 (held) + 33 (lag) + 14 (dead letters) + 9 (skipped)
# + 20 (checkpoint) + 14 (read) + 7 separators of 3 = 177 columns.
STALLED = dict(lag={"orders/0": 30, "orders/1": 12}, checkpoint_id=3, checkpoint_age_s=4.4,
               dead_letters=2, skipped=5, held_by=("orders/1",), stalled_s=12.4)


@pytest.mark.parametrize("width, expected", [
    # fits: the whole line
    (200, "12,346 ev/s | sink wm 2025-11-24T16:00:00.123Z | wm held 12s by orders/1 | "
          "lag 42 (orders/0=30, orders/1=12) | dead letters 2 | skipped 5 | checkpoint #3 4s ago | "
          "read 1,234,567"),
    # shortened from the least important up: checkpoint (-11), skipped (-3), dead letters
    # (-10), lag (-27), held (-7): 119 columns
    (120, "12,346 ev/s | sink wm 2025-11-24T16:00:00.123Z | held by orders/1 | lag 42 | dl 2 | "
          "skip 5 | chk #3 4s | read 1,234,567"),
    # the watermark shortened too (98), then read (81) and the checkpoint (69) dropped
    (80, "12,346 ev/s | wm 16:00:00 | held by orders/1 | lag 42 | dl 2 | skip 5"),
    # dropped: skipped (60), dead letters (53), lag (44), held (25)
    (40, "12,346 ev/s | wm 16:00:00"),
    # only the first field is left, and cut
    (10, "12,346 ev/"),
])
def test_render_status_fits_the_width_most_important_first(width, expected):
    line = render_status(snap(**STALLED), width=width)
    assert line == expected
    assert len(line) <= width


def test_render_status_at_80_columns_keeps_checkpoint_and_dead_letters():
    # no lag, no stall: 11 + 32 + 14 + 9 + 20 + 14 + 15 = 115; shortened: checkpoint (104),
    # skipped (101), dead letters (91), the watermark to its time (70)
    line = render_status(snap(checkpoint_id=7, checkpoint_age_s=2.0, dead_letters=1), width=80)
    assert line == "12,346 ev/s | wm 16:00:00 | dl 1 | skip 0 | chk #7 2s | read 1,234,567"


def test_render_status_held_by_several():
    # full: 11 + 32 + 23 ("wm held 10s by t/1, t/2") + 14 + 9 + 12 + 14 + 18 = 133; shortened:
    # checkpoint (126), skipped (123), dead letters (113), held ("held by t/1 +1": 104), the
    # watermark (95, 83): fits 83 columns; at 82, read is dropped (66)
    s = snap(held_by=("t/1", "t/2"), stalled_s=10.0)
    assert render_status(s, width=83) == (
        "12,346 ev/s | wm 16:00:00 | held by t/1 +1 | dl 0 | skip 0 | chk - | read 1,234,567")
    assert render_status(s, width=82) == (
        "12,346 ev/s | wm 16:00:00 | held by t/1 +1 | dl 0 | skip 0 | chk -")


def test_render_status_many_partitions_shows_the_largest_lags():
    lag = {"t/0": 5, "t/1": 50, "t/2": 7, "t/3": 50, "t/4": 1}
    line = render_status(snap(lag=lag))
    assert "lag 113 (t/1=50, t/3=50, t/2=7, +2 more)" in line


def test_render_status_broker_down_comes_right_after_the_rate():
    s = snap(events_per_s=0.0, broker_down=("127.0.0.1:9092", 12.4, 3, 1.6),
             sink_watermark_ms=MIN_TIMESTAMP_MS)
    assert render_status(s) == (
        "0 ev/s | broker 127.0.0.1:9092 down 12s, retry #4 in 2s | sink wm -inf | "
        "dead letters 0 | skipped 0 | checkpoint - | read 1,234,567")
    assert render_status(s, width=41) == "0 ev/s | broker down 12s | wm -inf | dl 0"


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
    assert all(" ev/s | sink wm " in line for line in lines)
    final = lines[-1]
    n = result.info["checkpoints_taken"]
    assert n > 0
    assert final.endswith("| read 2")  # decoded records; the two others are dead letters
    assert "| sink wm +inf |" in final
    assert "| lag 0 (orders/0=0) | dead letters 2 | skipped 1 |" in final
    assert f"| checkpoint #{n} " in final


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
    assert frames[-1].endswith("| sink wm +inf | lag 0 (orders/0=0) | dead letters 2 | skipped 1 | "
                               "checkpoint - | read 2")


def test_display_fits_the_width_it_is_given(tmp_path):
    from fluvial.runners.direct.executor import Executor

    p = pipeline("--progress", "off")
    build(p, tmp_path)
    ex = Executor(p, p.options)  # before the run: nothing read yet
    display = ProgressDisplay(io.StringIO(), width=50)
    assert display.line_width() == 50
    display.tick(ex)
    line = display.stream.getvalue().rstrip("\n")
    # "0 ev/s | sink wm -inf | dead letters 0 | skipped 0 | checkpoint - | read 0" is 75
    # columns; shortened: checkpoint (68), skipped (65), dead letters (55), watermark (50)
    assert line == "0 ev/s | wm -inf | dl 0 | skip 0 | chk - | read 0"
    assert ProgressDisplay(io.StringIO()).line_width() is None  # not a terminal: whole line


def test_run_on_a_narrow_terminal_fits_its_width(tmp_path, monkeypatch, pty_pair):
    master, slave = pty_pair
    monkeypatch.setattr(sys, "stderr", slave)
    monkeypatch.setenv("COLUMNS", "60")
    p = pipeline("--progress", "on")
    build(p, tmp_path)
    p.run()
    frames = [f.removesuffix("\x1b[K").strip() for f in read_all(master).split("\r") if f.strip()]
    assert frames and all(len(f) <= 59 for f in frames)  # the terminal's width less one
    # every field shortened: "<rate> | wm +inf | lag 0 | dl 2 | skip 1 | chk - | read 2" is the
    # rate's width + 51 columns; with a rate wider than 8 columns ("1,000 ev/s") read is dropped
    rate, rest = frames[-1].split(" | ", 1)
    if len(rate) <= 8:
        assert rest == "wm +inf | lag 0 | dl 2 | skip 1 | chk - | read 2"
    else:
        assert rest == "wm +inf | lag 0 | dl 2 | skip 1 | chk -"
