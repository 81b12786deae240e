"""A standalone Flink cluster on loopback started by fluvial's launcher (cli/flink_cluster.py):
a pipeline submitted with --flink-master runs there with parallelism 2 (values, metrics and a
user error come back), only 127.0.0.1 is listened on, and stop ends exactly the recorded
daemons."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pathlib

import pytest

import fluvial as fl
from fluvial.errors import UserCodeError
from fluvial.metrics import MetricKey
from fluvial.transforms import Map

from .support import pipeline, record, values
from .test_flink_stateless import Count

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _launcher():
    """The launcher module: fluvial.cli.flink_cluster once the cli package is installed, else
    the file in the repository."""
    try:
        return importlib.import_module("fluvial.cli.flink_cluster")
    except ImportError:
        spec = importlib.util.spec_from_file_location("flink_cluster", ROOT / "cli" / "flink_cluster.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    fc = _launcher()
    state = str(tmp_path_factory.mktemp("flink-cluster"))
    st = fc.start(state, port=fc.free_port(), taskmanagers=1, slots=2)
    try:
        yield fc, state, st
    finally:
        recorded = fc.read_state(state)
        fc.stop(state)
        for p in recorded["processes"]:  # every daemon it started is gone
            assert fc._start_time(p["pid"]) != p["start_time"], p


def _listening_ports(pid: int) -> list[tuple[str, int]]:
    """(address, port) of the TCP sockets ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}", encoding="ascii") as f:
            for line in list(f)[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                    addr, port = cols[1].split(":")
                    out.append((addr, int(port, 16)))
    return out


def test_cluster_listens_on_loopback_only(cluster):
    fc, state, st = cluster
    assert st["running"] and st["overview"]["slots-total"] == 2
    loopback = {"0100007F", "0000000000000000FFFF00000100007F"}  # 127.0.0.1 in IPv4 / IPv6 form
    for p in st["processes"]:
        ports = _listening_ports(p["pid"])
        assert ports, p
        assert {a for a, _ in ports} <= loopback, (p["role"], ports)


def test_pipeline_runs_on_the_cluster(cluster, tmp_path):
    fc, state, st = cluster
    p = pipeline("--flink-master", st["rest"], "--parallelism", "2")
    words = [str(i) for i in range(10)]
    out = p | fl.Create(words) | "Counted" >> fl.ParDo(Count()) | Map(lambda s: s + "!")
    record(out, str(tmp_path))
    result = p.run()
    assert sorted(values(str(tmp_path))) == sorted(w + "!" for w in words)
    assert result.info["parallelism"] == 2
    assert result.metrics().counters[MetricKey("Counted", "test", "seen")] == 10


def test_user_error_on_the_cluster(cluster):
    fc, state, st = cluster
    p = pipeline("--flink-master", st["rest"])
    _ = p | fl.Create([1, 2, 3]) | "Divide" >> Map(lambda x: 10 // (x - 3))
    with pytest.raises(UserCodeError) as ei:
        p.run()
    assert (ei.value.label, ei.value.element) == ("Divide/ParDo", 3)
