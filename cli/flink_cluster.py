"""A standalone Flink cluster on this machine, started from the scripts pyflink ships
(``pyflink/bin/jobmanager.sh`` and ``taskmanager.sh``), bound to 127.0.0.1 only:

    fluvial flink start [--port P] [--taskmanagers N] [--slots S] [--state-dir D]
    fluvial flink status [--state-dir D]
    fluvial flink stop [--state-dir D]

(also ``python -m fluvial.cli.flink_cluster start ...``). Submit pipelines to it with
``--runner flink --flink-master 127.0.0.1:P``.

The state directory (default ``$XDG_RUNTIME_DIR/fluvial/flink`` or ``~/.fluvial/flink``) holds
the cluster's ``conf/config.yaml`` (Flink 2.x reads ``config.yaml``; every address and bind host
is 127.0.0.1, every port fixed: REST ``P``, the others free ports picked at start), its logs, its
temp directories, and ``cluster.json``: the pid and start time of every daemon. ``stop`` ends
exactly those processes, by pid, and only while each pid still is the process that was started
(same start time, command line naming this state directory); it never kills by name.

The TaskManagers run Python in this Python environment: ``python.executable`` is this
interpreter, and their ``PYTHONPATH`` holds its site-packages (thread mode embeds CPython in the
TaskManager's JVM).

Rules: standard library and fluvial's errors only (no pyflink import: the scripts are found
through the installed package's files).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import site
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

from fluvial.errors import FluvialError

HOST = "127.0.0.1"
DAEMONS = {"jobmanager": "standalonesession", "taskmanager": "taskexecutor"}


class ClusterError(FluvialError):
    """The cluster could not be started, found or stopped."""


def default_state_dir() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "fluvial", "flink")
    return os.path.join(os.path.expanduser("~"), ".fluvial", "flink")


def flink_home() -> str:
    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise ClusterError(
            "a Flink cluster needs the Python package 'pyflink' (it ships Flink's scripts and "
            "jars); install it with: pip install 'fluvial[flink]'"
        )
    return os.path.dirname(spec.origin)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _java_opts(home: str) -> str:
    """The JVM options of pyflink's own config.yaml (``env.java.opts.all``: the --add-opens
    Flink needs on Java 17)."""
    try:
        with open(os.path.join(home, "conf", "config.yaml"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return ""
    m = re.search(r"^\s*all:\s*(--add-\S.*)$", text, flags=re.M)
    return m.group(1).strip() if m else ""


def config_yaml(state_dir: str, port: int, slots: int, ports: dict[str, int], home: str) -> str:
    """The cluster's config.yaml: loopback only, fixed ports, this Python, private temp dirs."""
    tmp = os.path.join(state_dir, "tmp")
    pythonpath = os.pathsep.join(site.getsitepackages())
    entries = {
        "jobmanager.rpc.address": HOST,
        "jobmanager.rpc.port": ports["rpc"],
        "jobmanager.bind-host": HOST,
        "jobmanager.memory.process.size": "1024m",
        "taskmanager.host": HOST,
        "taskmanager.bind-host": HOST,
        "taskmanager.rpc.port": f"{ports['tm_rpc']}-{ports['tm_rpc'] + 15}",
        "taskmanager.data.port": 0,
        "taskmanager.numberOfTaskSlots": slots,
        "taskmanager.memory.process.size": "1536m",
        "rest.address": HOST,
        "rest.bind-address": HOST,
        "rest.port": port,
        "blob.server.port": ports["blob"],
        "io.tmp.dirs": tmp,
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "python.pythonpath": pythonpath,
        "restart-strategy.type": "none",
        "env.java.opts.all": f"{_java_opts(home)} -Djava.io.tmpdir={tmp}".strip(),
    }
    lines = ["# written by fluvial flink start: a standalone cluster on 127.0.0.1"]
    for k, v in entries.items():
        lines.append(f"{k}: {json.dumps(v) if isinstance(v, str) else v}")
    return "\n".join(lines) + "\n"


# -- processes ---------------------------------------------------------------------------------------
def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _is_ours(proc: dict[str, Any], state_dir: str) -> bool:
    """The recorded pid still is the daemon this state directory started."""
    pid = int(proc["pid"])
    return (_start_time(pid) == proc["start_time"]
            and os.path.join(state_dir, "conf") in _cmdline(pid))


def _link_lib(state_dir: str, home: str) -> None:
    """The cluster's lib/: pyflink's lib/ jars plus ``opt/flink-python-*.jar`` (Python functions
    need it on the cluster's own classpath: loaded per job, the embedded Python's native library
    cannot be loaded a second time), as symlinks."""
    lib = os.path.join(state_dir, "lib")
    shutil.rmtree(lib, ignore_errors=True)
    os.makedirs(lib)
    jars = [os.path.join(home, "lib", n) for n in sorted(os.listdir(os.path.join(home, "lib")))]
    opt = os.path.join(home, "opt")
    jars += [os.path.join(opt, n) for n in sorted(os.listdir(opt)) if n.startswith("flink-python")]
    for jar in jars:
        if jar.endswith(".jar"):
            os.symlink(jar, os.path.join(lib, os.path.basename(jar)))


def _env(state_dir: str, home: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "FLINK_HOME": home,
        "FLINK_CONF_DIR": os.path.join(state_dir, "conf"),
        "FLINK_LIB_DIR": os.path.join(state_dir, "lib"),
        "FLINK_LOG_DIR": os.path.join(state_dir, "log"),
        "FLINK_PID_DIR": os.path.join(state_dir, "pid"),
        "PYTHONPATH": os.pathsep.join([*site.getsitepackages(), *filter(None, [env.get("PYTHONPATH")])]),
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]),
    })
    return env


def _state_path(state_dir: str) -> str:
    return os.path.join(state_dir, "cluster.json")


def read_state(state_dir: str) -> dict[str, Any] | None:
    try:
        with open(_state_path(state_dir), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _overview(port: int, timeout: float = 2.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/overview", timeout=timeout) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


def status(state_dir: str | None = None) -> dict[str, Any]:
    """Whether the cluster recorded in ``state_dir`` runs: its REST address, daemons and the
    JobManager's overview (task managers, slots, jobs)."""
    state_dir = os.path.abspath(state_dir or default_state_dir())
    st = read_state(state_dir)
    if st is None:
        return {"running": False, "state_dir": state_dir}
    alive = [p for p in st["processes"] if _is_ours(p, state_dir)]
    ov = _overview(st["port"]) if alive else None
    return {"running": bool(alive) and ov is not None, "state_dir": state_dir,
            "rest": f"{HOST}:{st['port']}", "processes": alive, "overview": ov}


def start(state_dir: str | None = None, port: int = 8081, taskmanagers: int = 1, slots: int = 2,
          timeout: float = 300.0) -> dict[str, Any]:
    """Start a JobManager and ``taskmanagers`` TaskManagers with ``slots`` slots each; return
    when every slot is registered (or raise ClusterError naming the log directory)."""
    state_dir = os.path.abspath(state_dir or default_state_dir())
    cur = status(state_dir)
    if cur.get("processes"):
        raise ClusterError(
            f"a Flink cluster recorded in {state_dir} is already running (REST {cur['rest']}); "
            f"stop it with: fluvial flink stop --state-dir {state_dir}"
        )
    home = flink_home()
    for sub in ("conf", "log", "pid", "tmp"):
        os.makedirs(os.path.join(state_dir, sub), exist_ok=True)
    for stale in os.listdir(os.path.join(state_dir, "pid")):
        os.remove(os.path.join(state_dir, "pid", stale))
    ports = {"rpc": free_port(), "tm_rpc": free_port(), "blob": free_port()}
    with open(os.path.join(state_dir, "conf", "config.yaml"), "w", encoding="utf-8") as f:
        f.write(config_yaml(state_dir, port, slots, ports, home))
    for name in ("log4j.properties", "log4j-console.properties", "logback.xml"):
        src = os.path.join(home, "conf", name)
        if os.path.isfile(src):
            shutil.copy(src, os.path.join(state_dir, "conf", name))
    _link_lib(state_dir, home)
    env = _env(state_dir, home)
    procs: list[dict[str, Any]] = []
    try:
        for script, n in (("jobmanager", 1), ("taskmanager", taskmanagers)):
            for _ in range(n):
                subprocess.run(["bash", os.path.join(home, "bin", f"{script}.sh"), "start"],
                               env=env, check=True, capture_output=True, text=True, timeout=120)
            procs += _daemon_pids(state_dir, script)
        st = {"port": port, "taskmanagers": taskmanagers, "slots": slots, "processes": procs,
              "ports": ports, "flink_home": home}
        tmp = _state_path(state_dir) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(st, f)
        os.replace(tmp, _state_path(state_dir))
        _wait_ready(port, taskmanagers * slots, timeout, state_dir)
    except BaseException:
        _terminate([p for p in procs if _is_ours(p, state_dir)])
        raise
    return status(state_dir)


def _daemon_pids(state_dir: str, script: str) -> list[dict[str, Any]]:
    pid_dir = os.path.join(state_dir, "pid")
    out = []
    for name in sorted(os.listdir(pid_dir)):
        if name.endswith(f"-{DAEMONS[script]}.pid"):
            with open(os.path.join(pid_dir, name), encoding="ascii") as f:
                for line in f:
                    if line.strip().isdigit():
                        pid = int(line)
                        out.append({"role": script, "pid": pid, "start_time": _start_time(pid)})
    return out


def _wait_ready(port: int, slots: int, timeout: float, state_dir: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ov = _overview(port)
        if ov is not None and ov.get("slots-total", 0) >= slots:
            return
        time.sleep(0.5)
    raise ClusterError(
        f"the Flink cluster did not register {slots} slot(s) on {HOST}:{port} within {timeout:.0f}s; "
        f"see the logs in {os.path.join(state_dir, 'log')}"
    )


def _terminate(procs: list[dict[str, Any]], timeout: float = 30.0) -> None:
    """SIGTERM each process by pid, then SIGKILL what is left after ``timeout`` seconds."""
    for p in procs:
        try:
            os.kill(int(p["pid"]), signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    left = list(procs)
    while left and time.monotonic() < deadline:
        left = [p for p in left if _start_time(int(p["pid"])) == p["start_time"]]
        time.sleep(0.2)
    for p in left:
        try:
            os.kill(int(p["pid"]), signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop(state_dir: str | None = None) -> dict[str, Any] | None:
    """Stop the daemons recorded in ``state_dir`` (only those whose pid still is the daemon
    started there) and forget them; None when nothing was recorded."""
    state_dir = os.path.abspath(state_dir or default_state_dir())
    st = read_state(state_dir)
    if st is None:
        return None
    _terminate([p for p in st["processes"] if _is_ours(p, state_dir)])
    os.remove(_state_path(state_dir))
    return st


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="fluvial flink", description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("start", "status", "stop"))
    ap.add_argument("--port", type=int, default=8081, help="REST port on 127.0.0.1 (start)")
    ap.add_argument("--taskmanagers", type=int, default=1, help="TaskManagers to start")
    ap.add_argument("--slots", type=int, default=2, help="task slots per TaskManager")
    ap.add_argument("--state-dir", default=None, help=f"default: {default_state_dir()}")
    args = ap.parse_args(argv)
    try:
        if args.action == "start":
            st = start(args.state_dir, args.port, args.taskmanagers, args.slots)
            print(f"Flink cluster up: REST {st['rest']} ({args.taskmanagers} TaskManager(s) x "
                  f"{args.slots} slots); submit with --runner flink --flink-master {st['rest']}")
        elif args.action == "status":
            print(json.dumps(status(args.state_dir), indent=2))
        else:
            st = stop(args.state_dir)
            print("stopped" if st is not None else "no cluster recorded")
    except ClusterError as e:
        print(f"fluvial flink {args.action}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
