"""``fluvial broker start|status|stop`` in a temporary state directory, and ``stop``'s refusal to
trust its state file: a malformed file is a clear error, and only the broker binary fluvial
starts is ever signalled (processes started here are stopped by pid in teardown)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fluvial.cli import broker_daemon as daemon
from fluvial.cli import localbroker as lb


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fluvial.cli", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def state_dir(tmp_path):
    d = str(tmp_path / "state")
    yield d
    try:
        daemon.daemon_stop(d)  # teardown: stops exactly the recorded broker if one is left
    except lb.BrokerError:
        pass  # a test left a malformed file on purpose: nothing was started


@pytest.fixture
def bystander():
    """``start(argv0, *args)``: a harmless process (Python sleeping) whose argv[0] and arguments
    are chosen by the test; stopped by pid at teardown."""
    procs: list[subprocess.Popen] = []

    def start(argv0: str, *args: str) -> subprocess.Popen:
        code = "import time; time.sleep(300)"
        proc = subprocess.Popen([argv0, "-c", code, *args], executable=sys.executable)
        procs.append(proc)
        deadline = time.monotonic() + 10
        while daemon._proc_cmdline(proc.pid)[:1] != [argv0] and time.monotonic() < deadline:
            time.sleep(0.01)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _write_state(state_dir: str, text: str) -> None:
    os.makedirs(state_dir, exist_ok=True)
    with open(os.path.join(state_dir, "broker.json"), "w", encoding="utf-8") as f:
        f.write(text)


def test_start_status_stop(state_dir):
    port = lb.free_port()
    r = _cli("broker", "start", "--port", str(port), "--state-dir", state_dir)
    assert r.returncode == 0, r.stderr
    assert f"bootstrap servers 127.0.0.1:{port}" in r.stdout
    path = os.path.join(state_dir, "broker.json")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(state_dir).st_mode & 0o777 == 0o700
    with open(path, encoding="utf-8") as f:
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
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"broker stopped (pid {st['pid']}, 127.0.0.1:{port})"
    assert not lb.port_open("127.0.0.1", port)
    assert not os.path.exists(path)

    r = _cli("broker", "status", "--state-dir", state_dir)
    assert r.returncode == 3 and "not running" in r.stdout


def test_stop_refuses_a_forged_binary_and_spares_the_process(state_dir, bystander):
    """A state file naming a live process that looks like the broker in every recorded way
    (argv[0] is the broker binary's path, it listens on the recorded port, same start time)
    but whose executable is something else: ``stop`` signals nothing, says why, exits 1."""
    port = 45678
    proc = bystander(lb.tansu_binary(), "--listener-url", f"tcp://127.0.0.1:{port}")
    _write_state(state_dir, json.dumps({
        "pid": proc.pid, "port": port, "log": "x", "storage": "memory://tansu/",
        "bootstrap_servers": f"127.0.0.1:{port}", "binary": lb.tansu_binary(),
        "start_time": daemon._proc_start_time(proc.pid)}))
    r = _cli("broker", "stop", "--state-dir", state_dir)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"not stopped: pid {proc.pid} in the state file is not the broker fluvial started "
        f"(its executable is {os.path.realpath(sys.executable)}, not the broker "
        f"{os.path.realpath(lb.tansu_binary())}); nothing was signalled, the stale state file "
        "is removed")
    assert "Traceback" not in r.stderr
    time.sleep(0.2)
    assert proc.poll() is None  # still running
    assert not os.path.exists(os.path.join(state_dir, "broker.json"))


def test_status_does_not_report_a_forged_process_as_running(state_dir, bystander):
    proc = bystander("sleeper")
    _write_state(state_dir, json.dumps({
        "pid": proc.pid, "port": 1, "log": "x", "storage": "memory://tansu/",
        "bootstrap_servers": "127.0.0.1:1", "start_time": daemon._proc_start_time(proc.pid)}))
    assert daemon.daemon_status(state_dir)["running"] is False
    r = _cli("broker", "status", "--state-dir", state_dir)
    assert r.returncode == 3 and "not running" in r.stdout
    assert proc.poll() is None


def test_stop_of_an_exited_pid_removes_the_stale_file(state_dir):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    _write_state(state_dir, json.dumps({
        "pid": proc.pid, "port": 1, "log": "x", "storage": "memory://tansu/",
        "bootstrap_servers": "127.0.0.1:1", "start_time": 12345}))
    r = _cli("broker", "stop", "--state-dir", state_dir)
    assert r.returncode == 0
    assert r.stdout.strip() == (f"no broker running (the recorded pid {proc.pid} has exited; "
                                "removed the stale state file)")
    assert not os.path.exists(os.path.join(state_dir, "broker.json"))


@pytest.mark.parametrize("text,problem", [
    ("{not json", "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 "
                  "(char 1)"),
    ("[1, 2]", "a JSON list, not an object"),
    ('{"pid": "1; rm -rf /", "port": 1}', "field 'pid' must be an integer, got '1; rm -rf /'"),
    ('{"pid": true, "port": 1}', "field 'pid' must be an integer, got True"),
    ('{"pid": 12, "port": 99999, "log": "x", "start_time": 1, "storage": "m", '
     '"bootstrap_servers": "b"}', "port must be in 1..65535, got 99999"),
    ('{"pid": 0, "port": 9092, "log": "x", "start_time": 1, "storage": "m", '
     '"bootstrap_servers": "b"}', "pid must be positive, got 0"),
    ('{"pid": 12}', "field 'port' must be an integer, got None"),
])
def test_malformed_state_file_is_a_clear_error(state_dir, text, problem):
    _write_state(state_dir, text)
    path = os.path.join(state_dir, "broker.json")
    for action in ("stop", "status", "start"):
        port = ["--port", "1"] if action == "start" else []
        r = _cli("broker", action, "--state-dir", state_dir, *port)
        assert r.returncode == 1, (action, r.stderr)
        assert "Traceback" not in r.stderr
        assert r.stderr.strip() == (
            f"fluvial broker: the broker state file {path} is malformed ({problem}); it was not "
            "written by `fluvial broker start`. No process was signalled; if no broker is "
            "running, remove it")
    assert os.path.exists(path)  # left for the user to inspect


def test_stop_without_state_is_no_error(state_dir):
    r = _cli("broker", "stop", "--state-dir", state_dir)
    assert r.returncode == 0 and r.stdout.strip() == f"no broker running (state dir {state_dir})"
