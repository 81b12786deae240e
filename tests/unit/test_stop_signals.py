"""SIGTERM stops a run like SIGINT: the run is cancelled, its exactly-once file sink commits
nothing, no traceback, for ``fluvial run`` (exit status 143 / 130) and for a plain
``python job.py`` on the direct runner (``run`` returns CANCELLED). Processes started here are
stopped by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

JOB = '''
import sys
import time

import fluvial as fl
from fluvial.transforms.io import WriteToText


def add_arguments(parser):
    parser.add_argument("--marker", help="created when the first element is processed")
    parser.add_argument("--out", help="output prefix")


def build(p):
    marker = p.options.args.marker

    def slow(x):
        if x == 0:
            open(marker, "w").close()
        time.sleep(0.01)
        return x

    _ = p | fl.Create(list(range(100_000))) | fl.Map(slow) | WriteToText(p.options.args.out)


if __name__ == "__main__":
    p = fl.Pipeline(add_arguments=add_arguments)
    build(p)
    state = p.run().wait_until_finish()
    print(f"state {state.value}", flush=True)
'''


@pytest.fixture
def job(tmp_path):
    path = tmp_path / "job.py"
    path.write_text(textwrap.dedent(JOB))
    return path


def _run_and_signal(cmd: list[str], marker: Path, sig: int) -> subprocess.CompletedProcess:
    """Start ``cmd``, send ``sig`` to it once ``marker`` exists, and collect its output (the
    process is killed by pid if it does not end within 60 s)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), proc.communicate(timeout=10)
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _committed(out_dir: Path) -> list[str]:
    return sorted(p.name for p in out_dir.iterdir()) if out_dir.exists() else []


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_fluvial_run_stops_cleanly_on_a_signal(job, tmp_path, sig, status):
    marker, out_dir = tmp_path / "started", tmp_path / "out"
    out_dir.mkdir()
    r = _run_and_signal(
        [sys.executable, "-m", "fluvial.cli", "run", str(job), "--marker", str(marker),
         "--out", str(out_dir / "part")], marker, sig)
    assert r.returncode == status, r.stderr
    assert r.stderr.strip().splitlines()[-1] == f"fluvial run: {job} finished: CANCELLED"
    assert "Traceback" not in r.stderr
    assert _committed(out_dir) == []  # the exactly-once sink committed nothing, left nothing


def test_plain_script_on_the_direct_runner_stops_cleanly_on_sigterm(job, tmp_path):
    marker, out_dir = tmp_path / "started", tmp_path / "out"
    out_dir.mkdir()
    r = _run_and_signal(
        [sys.executable, str(job), "--marker", str(marker), "--out", str(out_dir / "part")],
        marker, signal.SIGTERM)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "state CANCELLED"
    assert "Traceback" not in r.stderr
    assert _committed(out_dir) == []


def test_a_finished_run_commits_its_output(job, tmp_path):
    """The counterpart: the same job, not interrupted, commits its one file (few elements)."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    small = job.read_text().replace("range(100_000)", "range(3)")
    job.write_text(small)
    r = subprocess.run([sys.executable, str(job), "--marker", str(tmp_path / "m"),
                        "--out", str(out_dir / "part")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "state DONE"
    assert _committed(out_dir) == ["part-00000-of-00001.txt"]
    assert (out_dir / "part-00000-of-00001.txt").read_text().split() == ["0", "1", "2"]
