"""Checkpoints and restarts on the Flink runner (local mini-cluster): --checkpoint-dir and
--restart-attempts as Flink's checkpoints and restart strategy, fluvial's file sink committed
exactly once across a restart inside Flink, failures a restart cannot heal raised at once, and
the sources that cannot resume refused ahead of an exactly-once sink. A restart in a new process
after SIGKILL: test_flink_crash.py."""

from __future__ import annotations

import os

import pytest

import fluvial as fl
from fluvial.errors import BadRecordError, UnsupportedFeatureError, UserCodeError
from fluvial.transforms import Map
from fluvial.transforms.io import WriteToText

from .support import pipeline


def _lines(directory) -> list[str]:
    out = []
    for name in sorted(os.listdir(directory)):
        if not name.startswith("."):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                out += f.read().splitlines()
    return out


class FailOnce(fl.DoFn):
    """Raises at element ``at`` the first time only (a marker file remembers it across the
    restarted operator, which is a new instance)."""

    def __init__(self, marker: str, at: int) -> None:
        self.marker = marker
        self.at = at

    def process(self, x):
        if x == self.at and not os.path.exists(self.marker):
            with open(self.marker, "w"):
                pass
            raise RuntimeError(f"boom at {x}")
        yield x


class Slow(fl.DoFn):
    def process(self, x):
        import time

        time.sleep(0.01)
        yield x


def test_restart_strategy_resumes_and_the_file_sink_stays_exactly_once(tmp_path):
    ck, out = tmp_path / "ck", tmp_path / "out"
    p = pipeline("--checkpoint-dir", str(ck), "--checkpoint-interval", "0.2",
                 "--restart-attempts", "2", "--restart-delay", "0.5")
    (p | fl.Create(list(range(120))) | fl.ParDo(Slow())
       | "Flaky" >> fl.ParDo(FailOnce(str(tmp_path / "failed"), 70))
       | Map(str) | WriteToText(str(out / "n")))
    result = p.run()
    assert sorted(_lines(out), key=int) == [str(i) for i in range(120)]
    assert result.info["restarts"] == 1
    assert any("boom at 70" in c for c in result.info["restart_causes"])
    assert result.info["restored_from"] is None and result.info["sinks_committed_at_end"] == 1
    # the run ended by itself: its checkpoints and the sink's saved states are gone
    assert sorted(os.listdir(ck / "flink")) in (["pipeline.json"], ["pipeline.json", "sinks"])
    assert not os.path.exists(ck / "flink" / "sinks") or os.listdir(ck / "flink" / "sinks") == []


class FailAfterACheckpoint(fl.DoFn):
    """Raises once, at the first element from ``at`` on that follows a completed checkpoint
    (a ``_metadata`` file under ``ck``) taken after element ``after`` had passed: the restart
    then restores the state the operators behind it had at that checkpoint."""

    def __init__(self, marker: str, ck: str, after: int, at: int) -> None:
        self.marker, self.ck, self.after, self.at = marker, ck, after, at

    def process(self, kv):
        import glob
        import time

        i = kv[1]
        seen = self.marker + ".seen"
        if i == self.after and not os.path.exists(seen):
            with open(seen, "w") as f:
                f.write(repr(time.time()))
        if i >= self.at and not os.path.exists(self.marker) and os.path.exists(seen):
            with open(seen) as f:
                since = float(f.read())
            done = glob.glob(os.path.join(self.ck, "flink", "*", "chk-*", "_metadata"))
            if any(os.path.getmtime(m) > since for m in done):
                with open(self.marker, "w"):
                    pass
                raise RuntimeError(f"boom at {i}")
        yield kv


def test_a_grouping_with_held_windows_restarts_from_its_checkpoint(tmp_path):
    """A grouping on the window driver (a CombineFn that is no built-in: not the Java path)
    holds each key's window at its end while it waits; the job fails after a checkpoint that has
    those holds in the grouping's keyed state and in GroupHolds' (which rebuilds its minimum from
    it when it opens again) and restarts from it. Every sum is exact, and a second grouping
    behind the first gets its pane: the restored holds were released when the restored windows
    fired (a hold restored but never released would keep the watermark from reaching the end of
    input there). Sums by hand: i = 0..99 in [0, 10 s) (i * 100 ms), 100..119 in [10, 20 s),
    key i % 3; the total is 0 + ... + 119 = 7140, in [0, 20 s)."""
    ck, out, totals = tmp_path / "ck", tmp_path / "out", tmp_path / "totals"
    p = pipeline("--checkpoint-dir", str(ck), "--checkpoint-interval", "0.2",
                 "--restart-attempts", "2", "--restart-delay", "0.5")
    data = [fl.TimestampedValue((f"k{i % 3}", i), i / 10) for i in range(120)]  # i * 100 ms
    sums = (p | fl.Create(data) | fl.ParDo(Slow())
            | "Flaky" >> fl.ParDo(FailAfterACheckpoint(str(tmp_path / "failed"), str(ck), 10, 70))
            | fl.WindowInto(fl.FixedWindows(10))
            | "Sum" >> fl.CombinePerKey(lambda vs: sum(vs)))
    sums | Map(lambda kv: f"{kv[0]} {kv[1]}") | "WriteSums" >> WriteToText(str(out / "n"))
    (sums | "All" >> Map(lambda kv: ("all", kv[1]))
     | "Rewindow" >> fl.WindowInto(fl.FixedWindows(20))
     | "Total" >> fl.CombinePerKey(lambda vs: sum(vs))
     | "Line" >> Map(lambda kv: f"{kv[0]} {kv[1]}") | "WriteTotals" >> WriteToText(str(totals / "n")))
    result = p.run()
    assert sorted(_lines(out)) == sorted(["k0 1683", "k1 1617", "k2 1650",
                                          "k0 657", "k1 763", "k2 770"])
    assert _lines(totals) == ["all 7140"]
    assert result.info["restarts"] == 1 and result.info["java_combines"] == []
    assert any("boom at" in c for c in result.info["restart_causes"])


def test_without_restart_attempts_the_failure_is_raised(tmp_path):
    p = pipeline("--checkpoint-dir", str(tmp_path / "ck"))
    (p | fl.Create(list(range(5))) | "Flaky" >> fl.ParDo(FailOnce(str(tmp_path / "m"), 3))
       | Map(str) | WriteToText(str(tmp_path / "out" / "n")))
    with pytest.raises(UserCodeError) as ei:
        p.run()
    assert (ei.value.label, ei.value.element) == ("Flaky", 3)
    assert not (tmp_path / "out").exists() or _lines(tmp_path / "out") == []


class BadRecord(fl.DoFn):
    """Raises a BadRecordError (which no restart heals) and counts its attempts in a file."""

    def __init__(self, tally: str) -> None:
        self.tally = tally

    def process(self, x):
        with open(self.tally, "a") as f:
            f.write("attempt\n")
        raise BadRecordError("Bad", x, "not a row")


def test_a_failure_no_restart_can_heal_is_raised_without_restarting(tmp_path):
    """The runner cancels the job as soon as the error is recorded; with a 3 s restart delay
    Flink never gets to run the function a second time."""
    tally = tmp_path / "tally"
    p = pipeline("--checkpoint-dir", str(tmp_path / "ck"), "--restart-attempts", "5",
                 "--restart-delay", "3")
    _ = p | fl.Create([1]) | "Bad" >> fl.ParDo(BadRecord(str(tally)))
    with pytest.raises(BadRecordError, match="'Bad' cannot write element 1"):
        p.run()
    assert tally.read_text().splitlines() == ["attempt"]


class Numbers(fl.Source):
    def __init__(self, n: int) -> None:
        self.n = n

    def open(self, ctx):
        from fluvial.source import ListReader

        return ListReader([(i, i * 1000) for i in range(self.n)])


def test_a_source_that_cannot_resume_is_refused_ahead_of_an_exactly_once_sink(tmp_path):
    p = pipeline("--checkpoint-dir", str(tmp_path / "ck"))
    _ = p | fl.Read(Numbers(3)) | Map(str) | "Out" >> WriteToText(str(tmp_path / "o"))
    with pytest.raises(UnsupportedFeatureError, match="'Out/Write'.*'Read\\(Numbers\\)' cannot"):
        p.run()
    # accepted at-least-once: it runs (a restore would replay the source)
    p = pipeline("--checkpoint-dir", str(tmp_path / "ck2"), "--flink-sink-guarantee",
                 "at_least_once")
    _ = p | fl.Read(Numbers(3)) | Map(str) | "Out" >> WriteToText(str(tmp_path / "o2" / "n"))
    p.run()
    assert sorted(_lines(tmp_path / "o2")) == ["0", "1", "2"]
