"""A standalone Flink cluster on loopback started with ``fluvial flink start`` (cli/flink_cluster.py
through the ``fluvial`` command), shared by every test of this module: a pipeline submitted with
--flink-master runs there with parallelism 2 (values, metrics and a user error come back), a
checkpointed run commits its exactly-once file and Kafka output there, examples/fraud_detection.py
finds its alerts with parallelism 2, ``fluvial flink status`` reports the cluster, only 127.0.0.1
is listened on, and ``fluvial flink stop`` ends exactly the recorded daemons."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pathlib
import subprocess
import sys

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


def fluvial_cmd(*args: str) -> subprocess.CompletedProcess:
    """The ``fluvial`` command, run as a user would."""
    return subprocess.run([sys.executable, "-m", "fluvial.cli", *args], capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    fc = _launcher()
    state = str(tmp_path_factory.mktemp("flink-cluster"))
    port = fc.free_port()
    started = fluvial_cmd("flink", "start", "--port", str(port), "--taskmanagers", "1",
                          "--slots", "2", "--state-dir", state)
    recorded = fc.read_state(state)
    try:
        assert started.returncode == 0, started.stderr
        assert f"REST 127.0.0.1:{port}" in started.stdout
        st = fc.status(state)
        yield fc, state, st
    finally:
        stopped = fluvial_cmd("flink", "stop", "--state-dir", state)
        assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped
        for p in (recorded or {}).get("processes", []):  # every daemon it started is gone
            assert fc._start_time(p["pid"]) != p["start_time"], p
        assert fluvial_cmd("flink", "status", "--state-dir", state).returncode == 3


def test_status_reports_the_running_cluster(cluster):
    fc, state, st = cluster
    out = fluvial_cmd("flink", "status", "--state-dir", state)
    assert out.returncode == 0, out.stderr
    assert f"running: REST {st['rest']}, 1 TaskManager(s)" in out.stdout
    for p in st["processes"]:
        assert str(p["pid"]) in out.stdout


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


def test_checkpointed_exactly_once_outputs_on_the_cluster(cluster, tmp_path, kafka_broker,
                                                         kafka_topic):
    """--checkpoint-dir on the cluster: the file sink's end is committed by the runner after the
    job finished, and Flink's KafkaSink (its jars shipped with the job) commits its
    transactions; both hold every element once."""
    from committed_view import committed_view

    from fluvial.transforms.io import WriteToText
    from fluvial.transforms.kafka import WriteToKafka

    from .kafka_jars import kafka_jars

    fc, state, st = cluster
    s, t = kafka_broker.bootstrap_servers, kafka_topic(partitions=1)
    p = pipeline("--flink-master", st["rest"], "--parallelism", "2", "--flink-jars",
                 ",".join(kafka_jars()), "--checkpoint-dir", str(tmp_path / "ck"),
                 "--checkpoint-interval", "0.5")
    nums = p | fl.Create(list(range(40)))
    _ = nums | Map(str) | WriteToText(str(tmp_path / "out" / "n"))
    _ = (nums | "Pair" >> Map(lambda i: (str(i), i))
         | WriteToKafka(s, topic=t, key_serializer="str", value_serializer="json",
                        delivery="exactly_once"))
    result = p.run()
    lines = (tmp_path / "out" / "n-00000-of-00001.txt").read_text().splitlines()
    assert sorted(lines, key=int) == [str(i) for i in range(40)]
    assert sorted(committed_view(s, t).values(), key=int) == [str(i).encode() for i in range(40)]
    assert result.info["sinks_committed_at_end"] == 1


def _fraud():
    spec = importlib.util.spec_from_file_location("fraud_detection_example",
                                                  ROOT / "examples" / "fraud_detection.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fraud_detection_with_parallelism_2(cluster, tmp_path):
    """examples/fraud_detection.py (sliding 10 min / 1 min sums per account, alerts over
    10,000) on the cluster with parallelism 2: the alerts equal those computed by hand."""
    from collections import defaultdict

    fc, state, st = cluster
    fraud = _fraud()
    args = fraud.parse_args(["--events", "6000", "--accounts", "40", "--seed", "3", "--quiet"])
    totals: dict = defaultdict(int)
    for tx in fraud.transactions(6000, 40, 3):
        start = tx["ts"] - tx["ts"] % 60_000
        while start > tx["ts"] - 600_000:
            totals[(tx["account"], start)] += tx["amount"]
            start -= 60_000
    expected = sorted((a, w, w + 600_000, n) for (a, w), n in totals.items() if n > 10_000)
    assert expected
    p = pipeline("--flink-master", st["rest"], "--parallelism", "2")
    alerts = fraud.build(p, args)
    record(alerts | "Tuple" >> Map(lambda a: (a["account"], a["window_start_ms"],
                                              a["window_end_ms"], a["total"])), str(tmp_path),
           "RecordAlerts")
    result = p.run()
    assert sorted(values(str(tmp_path))) == expected
    assert result.info["parallelism"] == 2
    counters = result.metrics().query(namespace=fraud.NAMESPACE)
    assert counters.counter("alerts") == len(expected)
    assert counters.counter("transactions") == 6000


def test_fluvial_run_submits_to_the_cluster(cluster, tmp_path):
    """``fluvial run examples/large_payments.py --runner flink --flink-master ... --parallelism
    2``, as the README shows: the functions of the file travel with the job."""
    from large_payments_check import SCRIPT, expected, written

    fc, state, st = cluster
    prefix = str(tmp_path / "large")
    out = fluvial_cmd("run", str(SCRIPT), "--runner", "flink", "--flink-master", st["rest"],
                      "--parallelism", "2", "--payments", "150", "--output", prefix)
    assert out.returncode == 0, out.stderr[-3000:]
    assert written(prefix) == expected(150, 4000)
