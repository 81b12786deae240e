"""``fluvial broker start|status|stop`` in a temporary state directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fluvial import localbroker as lb


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fluvial.cli", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def state_dir(tmp_path):
    d = str(tmp_path / "state")
    yield d
    lb.daemon_stop(d)  # teardown: stops exactly the recorded broker if a test left it running


def test_start_status_stop(state_dir):
    port = lb.free_port()
    r = _cli("broker", "start", "--port", str(port), "--state-dir", state_dir)
    assert r.returncode == 0, r.stderr
    assert f"bootstrap servers 127.0.0.1:{port}" in r.stdout
    with open(os.path.join(state_dir, "broker.json"), encoding="utf-8") as f:
        st = json.load(f)
    assert st["port"] == port and lb.port_open("127.0.0.1", port)
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        cmd = f.read().split(b"\0")
    assert b"--listener-url" in cmd and f"tcp://127.0.0.1:{port}".encode() in cmd

    r = _cli("broker", "status", "--state-dir", state_dir)
    assert r.returncode == 0 and f"pid {st['pid']}" in r.stdout

    r = _cli("broker", "start", "--port", str(port), "--state-dir", state_dir)
    assert r.returncode == 1 and "already running" in r.stderr

    r = _cli("broker", "stop", "--state-dir", state_dir)
    assert r.returncode == 0 and "broker stopped" in r.stdout
    assert not lb.port_open("127.0.0.1", port)
    assert not os.path.exists(os.path.join(state_dir, "broker.json"))

    r = _cli("broker", "status", "--state-dir", state_dir)
    assert r.returncode == 3 and "not running" in r.stdout


def test_stop_leaves_a_recycled_pid_alone(state_dir):
    """A state file whose pid is not the broker it recorded (here: this test process) is
    removed without signalling that process."""
    os.makedirs(state_dir)
    with open(os.path.join(state_dir, "broker.json"), "w", encoding="utf-8") as f:
        json.dump({"pid": os.getpid(), "port": 1, "log": "x", "binary": lb.tansu_binary(),
                   "start_time": lb._proc_start_time(os.getpid())}, f)
    assert lb.daemon_status(state_dir)["running"] is False
    assert lb.daemon_stop(state_dir) is None
