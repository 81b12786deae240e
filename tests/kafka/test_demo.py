"""The Kafka fraud demo (examples/fraud_demo.py, ``fluvial demo fraud``) and the example's
``--source kafka`` path: the alerts committed to the alerts topic equal the alerts of the bounded
synthetic example on the same transactions (same seed, same events), value for value.

The session broker is Tansu; in these runs no transaction aborts, so its read_committed deviation
(it would return aborted records) cannot show. ``committed_view`` replays the log's control
markers to check that independently: every alert is in a committed transaction, none aborted or
left open."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from committed_view import committed_view

import fluvial as fl
from fluvial.cli import fraud_demo
from fluvial.cli.localbroker import port_open
from fluvial.examples import fraud_detection as fraud
from fluvial.transforms import Map

ROOT = Path(__file__).resolve().parents[2]


def reference_alerts(events: int, accounts: int, seed: int, threshold: int = 10_000) -> list[dict]:
    """The alerts of the bounded synthetic example (the reference path), sorted like the demo's."""
    args = fraud.parse_args(["--events", str(events), "--accounts", str(accounts),
                             "--seed", str(seed), "--threshold", str(threshold), "--quiet"])
    got: list[dict] = []
    p = fl.Pipeline(options=fl.PipelineOptions(progress="off"))
    _ = fraud.build(p, args) | Map(got.append)
    p.run().wait_until_finish()
    return sorted(got, key=lambda a: (a["window_start_ms"], a["account"], a["total"]))


def _committed_alerts(servers: str, topic: str) -> list[tuple[str, dict]]:
    view = committed_view(servers, topic)
    assert view.aborted == [] and view.open == [] and view.abort_markers == 0
    assert view.commit_markers >= 1
    return sorted(((r.key.decode(), json.loads(r.value)) for r in view.committed),
                  key=lambda kv: (kv[1]["window_start_ms"], kv[0]))


def test_demo_alerts_equal_the_synthetic_reference(kafka_broker, kafka_topic):
    servers = kafka_broker.bootstrap_servers
    txs, alerts = kafka_topic(partitions=3), kafka_topic(partitions=3)
    result = fraud_demo.run_demo(3000, 20, seed=3, bootstrap_servers=servers, topic=txs,
                                 alerts_topic=alerts, progress="off", out=None)
    expected = reference_alerts(3000, 20, 3)
    assert len(expected) > 5  # the data has compromised accounts over the threshold
    assert result.alerts == expected
    assert result.transactions == 3000
    assert result.alerts_counted == len(expected)
    # every alert is committed exactly once, keyed by its account
    committed = _committed_alerts(servers, alerts)
    assert [v for _, v in committed] == sorted(expected, key=lambda a: (a["window_start_ms"],
                                                                         a["account"]))
    assert all(k == v["account"] for k, v in committed)


def test_demo_prints_every_alert_and_the_summary(kafka_broker, kafka_topic):
    servers = kafka_broker.bootstrap_servers
    txs, alerts = kafka_topic(), kafka_topic()
    out = io.StringIO()
    result = fraud_demo.run_demo(1500, 10, seed=5, bootstrap_servers=servers, topic=txs,
                                 alerts_topic=alerts, progress="off", out=out)
    lines = out.getvalue().splitlines()
    expected = reference_alerts(1500, 10, 5)
    assert [ln for ln in lines if ln.startswith("ALERT ")] == [
        fraud_demo.format_alert(a) for a in expected]
    assert lines[-1] == result.summary()
    assert lines[-1].startswith(f"summary: transactions=1500 windows={result.windows} "
                                f"alerts={len(expected)} elapsed=")


def test_example_script_from_kafka_without_checkpoints_commits_at_the_end(kafka_broker,
                                                                          kafka_topic):
    """``fluvial run examples/fraud_detection.py --source kafka``: bounded, no checkpoint
    directory, so the one exactly-once transaction commits at the end of the input. Small
    batches move the watermark often, so a wrong out-of-orderness would drop late records."""
    servers = kafka_broker.bootstrap_servers
    txs, alerts = kafka_topic(), kafka_topic()
    fraud_demo.produce_transactions(servers, txs, fraud.transactions(2500, 15, 9))
    proc = subprocess.run(
        [sys.executable, "-m", "fluvial.cli", "run", str(ROOT / "examples" / "fraud_detection.py"),
         "--source", "kafka", "--bootstrap-servers", servers, "--topic", txs,
         "--alerts-topic", alerts, "--progress", "off", "--batch-size", "10"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    expected = reference_alerts(2500, 15, 9)
    assert expected
    assert proc.stdout.count("ALERT ") == len(expected)
    view = committed_view(servers, alerts)
    assert view.commit_markers == 1 and view.aborted == [] and view.open == []
    by_window = lambda a: (a["window_start_ms"], a["account"])  # noqa: E731
    assert sorted((json.loads(v) for v in view.values()), key=by_window) == expected


def test_fluvial_demo_fraud_cli():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, "-m", "fluvial.cli", "demo", "fraud", "--events", "2000"],
        capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    expected = reference_alerts(2000, fraud_demo.DEFAULT_ACCOUNTS, 7)
    assert expected
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("summary:")]
    assert len(summary) == 1, proc.stdout
    assert re.match(rf"summary: transactions=2000 windows=\d+ alerts={len(expected)} "
                    r"elapsed=\d+\.\d\ds \(broker ", summary[0]), summary[0]
    assert [ln for ln in proc.stdout.splitlines() if ln.startswith("ALERT ")] == [
        fraud_demo.format_alert(a) for a in expected]
    # the demo stopped the broker it started
    m = re.search(r"broker: Tansu on 127\.0\.0\.1:(\d+)", proc.stdout)
    assert m, proc.stdout
    assert not port_open("127.0.0.1", int(m.group(1)))


def test_demo_prints_the_rule_and_a_progress_bar(kafka_broker, kafka_topic, capsys):
    servers = kafka_broker.bootstrap_servers
    txs, alerts = kafka_topic(), kafka_topic()
    out = io.StringIO()
    fraud_demo.run_demo(1500, 10, seed=5, threshold=12_345, bootstrap_servers=servers, topic=txs,
                        alerts_topic=alerts, progress="on", out=out)
    assert ("rule: an alert for each account and 10-minute window (a window starts every 60 s) "
            "whose payments total more than 12,345") in out.getvalue().splitlines()
    err = capsys.readouterr().err
    bar = [seg for seg in err.replace("\n", "\r").split("\r")
           if seg.startswith("producing transactions [")]
    assert bar, err
    assert bar[-1].endswith("] 100%  1,500/1,500")


def _signal_demo(tmp_path, pattern: str, sig: int, group: bool) -> tuple[int, str, str, int]:
    """Run ``fluvial demo fraud`` in its own process group; once a stdout line starts with
    ``pattern`` send ``sig`` to the group (as a terminal's Ctrl-C does) or to the demo alone.
    Returns (exit status, stdout, stderr, broker port). Killed by pid if it hangs."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fluvial.cli", "demo", "fraud", "--events", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True)
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(pattern):
                break
        assert lines and lines[-1].startswith(pattern), lines
        if group:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=30)  # a hang, not a timing: it takes < 1 s here
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    m = re.search(r"broker: Tansu on 127\.0\.0\.1:(\d+)", lines[0])
    assert m, lines
    return proc.returncode, "".join(lines) + out, err, int(m.group(1))


@pytest.mark.parametrize("pattern,sig,group,status", [
    ("rule: ", signal.SIGINT, True, 130),      # Ctrl-C at the terminal while it produces
    ("produced ", signal.SIGINT, True, 130),   # Ctrl-C at the terminal while the pipeline runs
    ("rule: ", signal.SIGTERM, False, 143),    # kill PID while it produces its data
])
def test_demo_stops_cleanly_on_ctrl_c_and_sigterm(tmp_path, pattern, sig, group, status):
    """A terminal's Ctrl-C signals the whole process group: the broker runs in its own session,
    so it outlives the signal long enough for the demo to abort its work and stop it."""
    rc, out, err, port = _signal_demo(tmp_path, pattern, sig, group)
    assert rc == status, err
    name = signal.Signals(sig).name
    assert err.strip() == (f"fluvial demo fraud: stopped by {name}; nothing half done was "
                           "committed, the broker it started is stopped")
    assert "summary:" not in out
    assert not port_open("127.0.0.1", port)  # the broker was stopped
