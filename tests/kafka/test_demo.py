"""The Kafka fraud demo (examples/fraud_demo.py, ``fluvial demo fraud``) and the example's
``--source kafka`` path: the alerts committed to the alerts topic equal the alerts of the bounded
synthetic example on the same transactions (same seed, same events), value for value.

The session broker is Tansu; in these runs no transaction aborts, so its read_committed deviation
(it would return aborted records) cannot show. ``committed_view`` replays the log's control
markers to check that independently: every alert is in a committed transaction, none aborted or
left open."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from committed_view import committed_view

import fluvial as fl
from fluvial.examples import fraud_demo
from fluvial.examples import fraud_detection as fraud
from fluvial.localbroker import port_open
from fluvial.transforms import Map

ROOT = Path(__file__).resolve().parents[2]


def reference_alerts(events: int, accounts: int, seed: int, threshold: int = 10_000) -> list[dict]:
    """The alerts of the bounded synthetic example (the reference path), sorted like the demo's."""
    args, rest = fraud.parse_args(["--events", str(events), "--accounts", str(accounts),
                                   "--seed", str(seed), "--threshold", str(threshold), "--quiet"])
    assert rest == []
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
    import io

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
