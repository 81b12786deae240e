"""Fraud detection: transactions keyed by account, summed over sliding windows of 10 minutes
every minute; an alert for every account and window whose total exceeds the threshold.

Run it (bounded synthetic stream, finishes by itself):

    python examples/fraud_detection.py [--runner direct] [--events 100000] [--seed 7]
    fluvial run examples/fraud_detection.py --events 100000

``-h`` lists the example's flags (declared by :func:`add_arguments`, the contract of
``fluvial run``) and every pipeline option; a misspelt flag is an error.

or until Ctrl-C, paced at ``--rate`` transactions per second of wall-clock time:

    python examples/fraud_detection.py --unbounded --rate 5000

or from Kafka (``pip install 'fluvial[broker]'``): JSON transactions from ``--topic``, event time
from their ``ts`` field, alerts written as JSON to ``--alerts-topic`` exactly once (one Kafka
transaction per checkpoint; a bounded run without ``--checkpoint-dir`` commits one transaction
at the end; ``--unbounded`` needs ``--checkpoint-dir``):

    python examples/fraud_detection.py --source kafka --bootstrap-servers 127.0.0.1:9092 \
        --topic transactions --alerts-topic fraud-alerts --checkpoint-dir /tmp/fraud-chk

``fluvial demo fraud`` does all of that on a local broker it starts itself (see fraud_demo.py).

The transactions come from :class:`fluvial.transforms.io.SyntheticSource` and are deterministic
for a given ``--seed``: transaction ``i`` happens ``i * 0.1`` seconds after ``START`` (event
time) plus up to ``MAX_JITTER`` seconds of jitter, which the source's watermark allows for. The
stream is a run of episodes of ``EPISODE`` transactions (200 s of event time); in each episode
one account, drawn afresh per episode, is compromised and makes the large payments (1,000 to
5,000; ``FRAUD_SHARE`` of all transactions, about 10 per episode), so its sliding totals cross
the threshold in the windows around its episode. Every other payment is 1 to 100. Alerts thus
come from a different account every few minutes, over many accounts.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

import fluvial as fl
from fluvial.errors import PipelineConstructionError
from fluvial.metrics import Metrics
from fluvial.transforms import Filter, Map, Sum
from fluvial.transforms.io import SyntheticSource
from fluvial.transforms.io.synthetic import uniforms
from fluvial.transforms.kafka import KafkaRecord, ReadFromKafka, WriteToKafka

WINDOW_SIZE_S = 600  # 10 minutes
WINDOW_PERIOD_S = 60  # every minute
START = 1_700_000_000  # 2023-11-14T22:13:20Z, seconds
SPACING = 0.1  # event time advances 0.1 s per transaction
MAX_JITTER = 2.0  # timestamps are at most 2 s out of order
FRAUD_SHARE = 0.005  # share of transactions that are large payments from compromised accounts
EPISODE = 2_000  # transactions per episode; each episode has its own compromised account
_FRAUD_SALT, _PICK_SALT = 0xF4A0D, 0x51C4
NAMESPACE = "fraud_detection"


def compromised_account(i: np.ndarray, accounts: int, seed: int) -> np.ndarray:
    """The id of the account compromised in the episode of each transaction index ``i``."""
    return (uniforms(seed, _PICK_SALT, i // EPISODE) * accounts).astype(np.int64)


def transaction_source(events: int | None, accounts: int, seed: int, rate: float | None = None) -> SyntheticSource:
    """The synthetic transactions (``events=None``: unbounded) as dicts
    ``{"account": "acct-00042", "amount": int, "ts": ms}``."""

    def is_fraud(i: np.ndarray) -> np.ndarray:
        return uniforms(seed, _FRAUD_SALT, i) < FRAUD_SHARE

    def key_fn(i: np.ndarray, u: np.ndarray) -> np.ndarray:
        pick = compromised_account(i, accounts, seed)
        return np.where(is_fraud(i), pick, (u * accounts).astype(np.int64))

    def value_fn(i: np.ndarray, u: np.ndarray) -> np.ndarray:
        return np.where(is_fraud(i), 1_000 + (u * 4_001).astype(np.int64), 1 + (u * 100).astype(np.int64))

    return SyntheticSource(
        count=events, rate=rate, keys=accounts, seed=seed, key_fn=key_fn, value_fn=value_fn,
        start=START, spacing=SPACING, max_jitter=MAX_JITTER,
    )


def transactions(events: int, accounts: int, seed: int) -> list[dict]:
    """The first ``events`` transactions, read directly (for tests and inspection)."""
    reader = transaction_source(events, accounts, seed).open(None)
    out: list[dict] = []
    while (batch := reader.poll(10_000)) is not None:
        out.extend(tx for tx, _ in batch)
    return out


def _fmt_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


class CountWindows(fl.DoFn):
    """Counts the (account, window) totals computed."""

    def __init__(self) -> None:
        self.windows = Metrics.counter(NAMESPACE, "windows")

    def process(self, kv):
        self.windows.inc()
        yield kv


class Alert(fl.DoFn):
    """Turns an (account, total) above the threshold into an alert record, printing it when
    ``echo`` is set."""

    def __init__(self, echo: bool = True) -> None:
        self.echo = echo
        self.alerts = Metrics.counter(NAMESPACE, "alerts")

    def process(self, kv, window=fl.DoFn.WindowParam):
        account, total = kv
        self.alerts.inc()
        alert = {"account": account, "window_start_ms": window.start_ms, "window_end_ms": window.end_ms, "total": total}
        if self.echo:
            print(
                f"ALERT {account} spent {total:,} in [{_fmt_ms(window.start_ms)}, "
                f"{_fmt_ms(window.end_ms)}) UTC",
                flush=True,
            )
        yield alert


_TRANSACTIONS = Metrics.counter(NAMESPACE, "transactions")


def _count_transaction(tx: dict) -> dict:
    _TRANSACTIONS.inc()
    return tx


def _to_kv(tx: dict) -> tuple[str, int]:
    return (tx["account"], tx["amount"])


def transaction_time(record: KafkaRecord) -> int:
    """The event time of a transaction read from Kafka: its ``ts`` field (epoch ms)."""
    return record.value["ts"]


def _record_value(kv: tuple[Any, dict]) -> dict:
    return kv[1]


def _alert_account(alert: dict) -> str:
    return alert["account"]


def kafka_transactions(p: fl.Pipeline, args: argparse.Namespace) -> fl.PCollection:
    """The transactions read from ``args.topic`` as dicts, timestamped with their ``ts``."""
    return (
        p
        | "Transactions" >> ReadFromKafka(
            args.bootstrap_servers, topics=[args.topic], value_deserializer="json",
            timestamp_fn=transaction_time, max_out_of_orderness=MAX_JITTER,
            stop=None if args.unbounded else "end", group_id=args.group_id)
        | "TransactionValue" >> Map(_record_value)
    )


def write_alerts(alerts: fl.PCollection, args: argparse.Namespace) -> None:
    """The alerts as JSON to ``args.alerts_topic``, keyed by account, exactly once."""
    _ = alerts | "WriteAlerts" >> WriteToKafka(
        args.bootstrap_servers, args.alerts_topic, key_fn=_alert_account, key_serializer="str",
        value_serializer="json", delivery="exactly_once")


def add_arguments(parser: Any) -> None:
    """The example's flags. ``fluvial run`` and :func:`main` call this so the flags are known
    (a misspelt one is an error) and listed by ``-h``; their values are ``p.options.args``."""
    parser.add_argument("--source", choices=("synthetic", "kafka"), default="synthetic",
                        help="synthetic: generated transactions; kafka: JSON transactions from "
                        "--topic, alerts to --alerts-topic exactly once")
    parser.add_argument("--events", type=int, default=100_000, metavar="N",
                        help="transactions in the bounded synthetic stream")
    parser.add_argument("--accounts", type=int, default=1_000, metavar="N",
                        help="number of accounts (synthetic)")
    parser.add_argument("--rate", type=float, default=None, metavar="TPS",
                        help="synthetic transactions per second (default: as fast as possible)")
    parser.add_argument("--unbounded", action="store_true",
                        help="run until Ctrl-C (synthetic: instead of --events; kafka: instead "
                        "of stopping at the end offsets found at start)")
    parser.add_argument("--bootstrap-servers", default=None, metavar="HOST:PORT",
                        help="kafka: the brokers (required with --source kafka)")
    parser.add_argument("--topic", default="transactions", help="kafka: the transactions topic")
    parser.add_argument("--alerts-topic", default="fraud-alerts",
                        help="kafka: the topic alerts go to")
    parser.add_argument("--group-id", default=None,
                        help="kafka: consumer group the read offsets are committed to after "
                        "checkpoints (default: none)")
    parser.add_argument("--threshold", type=int, default=10_000, metavar="AMOUNT",
                        help="alert when an account's total in a window exceeds this")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic stream")
    parser.add_argument("--quiet", action="store_true", help="do not print individual alerts")


def check_args(args: argparse.Namespace) -> None:
    """Flag values and combinations the example refuses."""
    if args.events < 0 or args.accounts < 1:
        raise PipelineConstructionError("--events must be >= 0 and --accounts >= 1")
    if args.source == "kafka" and not args.bootstrap_servers:
        raise PipelineConstructionError("--source kafka needs --bootstrap-servers HOST:PORT")
    if args.source == "kafka" and args.rate is not None:
        raise PipelineConstructionError(
            "--rate paces the synthetic source only; drop it with --source kafka")


def parser() -> argparse.ArgumentParser:
    """A parser of the example's flags alone."""
    p = argparse.ArgumentParser(description=RULE, allow_abbrev=False)
    add_arguments(p)
    return p


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The example's flags (no pipeline options), checked; a wrong one exits like argparse."""
    p = parser()
    args = p.parse_args(list(argv))
    try:
        check_args(args)
    except PipelineConstructionError as e:
        p.error(str(e))
    return args


def rule(threshold: int | str) -> str:
    """The alert rule in words.

    >>> rule(10_000)
    'an alert for each account and 10-minute window (a window starts every 60 s) whose payments total more than 10,000'
    """
    amount = f"{threshold:,}" if isinstance(threshold, int) else threshold
    return (f"an alert for each account and {WINDOW_SIZE_S // 60}-minute window (a window starts "
            f"every {WINDOW_PERIOD_S} s) whose payments total more than {amount}")


RULE = f"Fraud detection: {rule('--threshold')}."


def check_kafka_options(options: fl.PipelineOptions, args: argparse.Namespace) -> None:
    """An unbounded Kafka run commits its exactly-once output only at checkpoints."""
    if args.source == "kafka" and args.unbounded and not options.checkpoint_dir:
        raise PipelineConstructionError(
            "WriteAlerts: exactly-once output to Kafka is committed at checkpoints, and an "
            "unbounded run never reaches the final commit: pass --checkpoint-dir DIR"
        )


def build(p: fl.Pipeline, args: argparse.Namespace | None = None) -> fl.PCollection:
    """Build the fraud-detection pipeline on ``p``; returns the PCollection of alerts.

    Without ``args``, the example's flags are ``p.options.args`` (parsed with
    :func:`add_arguments`, as ``fluvial run examples/fraud_detection.py --events 1000`` does),
    or their defaults when the options hold none. With ``--source kafka`` the alerts are also
    written to ``args.alerts_topic``.
    """
    if args is None:
        args = p.options.args if hasattr(p.options.args, "source") else parse_args([])
    check_args(args)
    check_kafka_options(p.options, args)
    threshold = args.threshold
    events = None if args.unbounded else args.events
    if args.source == "kafka":
        txs = kafka_transactions(p, args)
    else:
        txs = p | "Transactions" >> fl.Read(
            transaction_source(events, args.accounts, args.seed, args.rate))
    totals = (
        txs
        | "CountTransactions" >> Map(_count_transaction)
        | "KeyByAccount" >> Map(_to_kv)
        | "SlidingWindows" >> fl.WindowInto(fl.SlidingWindows(WINDOW_SIZE_S, WINDOW_PERIOD_S))
        | "SumPerAccount" >> Sum.PerKey()
        | "CountWindows" >> fl.ParDo(CountWindows())
    )
    alerts = (
        totals
        | "OverThreshold" >> Filter(lambda kv: kv[1] > threshold)
        | "Alert" >> fl.ParDo(Alert(echo=not args.quiet))
    )
    if args.source == "kafka":
        write_alerts(alerts, args)
    return alerts


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    """Ctrl-C (even when started with SIGINT ignored) and SIGTERM stop the run cleanly."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        options = fl.PipelineOptions.from_argv(argv, add_arguments=add_arguments,
                                               prog="fraud_detection.py")
        args = options.args
        p = fl.Pipeline(options=options)
        build(p)
    except PipelineConstructionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.source == "kafka":
        mode = "unbounded (Ctrl-C to stop)" if args.unbounded else "up to the current end"
        print(f"fraud detection on {options.runner}: Kafka topic {args.topic!r} at "
              f"{args.bootstrap_servers} ({mode}), alerts to {args.alerts_topic!r}, threshold "
              f"{args.threshold:,}", flush=True)
    else:
        mode = "unbounded (Ctrl-C to stop)" if args.unbounded else f"{args.events:,} transactions"
        print(f"fraud detection on {options.runner}: {mode}, {args.accounts:,} accounts, "
              f"threshold {args.threshold:,}", flush=True)
    print(f"rule: {rule(args.threshold)}", flush=True)
    _stop_on_signals()
    started = time.perf_counter()
    try:
        result = p.run()
        state = result.wait_until_finish()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - started
    counters = result.metrics().query(namespace=NAMESPACE)
    print(
        f"summary: transactions={counters.counter('transactions')} windows={counters.counter('windows')} "
        f"alerts={counters.counter('alerts')} elapsed={elapsed:.2f}s state={state.value}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
