"""``fluvial flink start|status|stop`` wiring, without a JVM: the flags are described, a
directory with no cluster is reported as such (status exits 3, stop 0), and without pyflink
``start`` says what to install. Starting a real cluster: tests/flink/test_flink_cluster.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest


def fluvial(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fluvial.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_help_describes_every_flag():
    out = fluvial("flink", "-h")
    assert out.returncode == 0
    for flag in ("--port", "--taskmanagers", "--slots", "--state-dir", "start", "status", "stop"):
        assert flag in out.stdout


def test_no_cluster_recorded(tmp_path):
    st = fluvial("flink", "status", "--state-dir", str(tmp_path))
    assert (st.returncode, st.stdout.strip()) == (3, f"not running (state dir {tmp_path})")
    sp = fluvial("flink", "stop", "--state-dir", str(tmp_path))
    assert (sp.returncode, sp.stdout.strip()) == (0, f"no Flink cluster recorded in {tmp_path}")


def test_bad_values_are_one_line_errors():
    out = fluvial("flink", "start", "--slots", "0")
    assert out.returncode == 2 and "--slots" in out.stderr and "Traceback" not in out.stderr


def test_start_without_pyflink_says_what_to_install(tmp_path):
    if importlib.util.find_spec("pyflink") is not None:
        pytest.skip("pyflink is installed here: the message for its absence cannot be shown")
    out = fluvial("flink", "start", "--state-dir", str(tmp_path))
    assert out.returncode == 1
    assert "pip install 'fluvial[flink]'" in out.stderr
