"""The Kafka fraud demo behind ``fluvial demo fraud``: everything on one machine, nothing to set
up beyond ``pip install 'fluvial[broker]'``.

1. start a local Kafka-protocol broker (Tansu, in memory) on a free 127.0.0.1 port, in its
   own session (a Ctrl-C reaches the demo, which then stops the broker itself);
2. create the topics ``transactions`` and ``fraud-alerts``;
3. print the alert rule and threshold, and produce ``events`` synthetic transactions (the
   example's own generator, :func:`fluvial.examples.fraud_detection.transactions`) as JSON,
   keyed by account, with a progress bar on stderr when it is a terminal;
4. run the fraud pipeline from Kafka to ``fraud-alerts`` exactly once (checkpoints in a
   temporary directory, one Kafka transaction per checkpoint), with the live progress line
   when stderr is a terminal;
5. read the committed alerts back from ``fraud-alerts`` (``ReadFromKafka``, read_committed),
   print them and a summary, and stop the broker (unless ``keep_broker``).

Ctrl-C or SIGTERM at any step stops the demo within a few seconds: the pipeline is cancelled
(nothing half done is committed), the producer closed, the broker stopped, and the command
exits with 130 (SIGINT) or 143 (SIGTERM) and one line on stderr.

It starts a local broker of its own (the ``broker`` extra); ``fluvial demo fraud`` runs it::

    result = run_demo(events=2_000, accounts=20, out=None)
    result.transactions, len(result.alerts) == result.alerts_counted   # 2000, True
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import IO, Any

import attrs

import fluvial as fl
from fluvial.cli.broker_daemon import daemon_start, default_state_dir
from fluvial.cli.localbroker import LocalBroker
from fluvial.cli.progress_bar import ProgressBar
from fluvial.cli.signals import stop_on_signals
from fluvial.errors import FluvialError
from fluvial.examples import fraud_detection as fraud
from fluvial.transforms import Map
from fluvial.transforms.kafka import ReadFromKafka
from fluvial.transforms.kafka.topics import create_topics

DEFAULT_EVENTS = 20_000
DEFAULT_ACCOUNTS = 200
TRANSACTIONS_TOPIC = "transactions"
ALERTS_TOPIC = "fraud-alerts"
PARTITIONS = 3
CHECKPOINT_INTERVAL_S = 1.0


@attrs.frozen
class DemoResult:
    """What a demo run did: the alerts read back from the alerts topic (sorted by window start,
    then account), the pipeline's counters and the time each step took (seconds)."""

    bootstrap_servers: str
    transactions: int
    windows: int
    alerts_counted: int
    alerts: list[dict]
    timings: dict[str, float]

    @property
    def elapsed_s(self) -> float:
        return sum(self.timings.values())

    def summary(self) -> str:
        t = self.timings
        return (
            f"summary: transactions={self.transactions} windows={self.windows} "
            f"alerts={len(self.alerts)} elapsed={self.elapsed_s:.2f}s "
            f"(broker {t.get('broker', 0.0):.2f}s, produce {t['produce']:.2f}s, "
            f"pipeline {t['pipeline']:.2f}s, read back {t['read_back']:.2f}s)"
        )


def produce_transactions(bootstrap_servers: str, topic: str, txs: Sequence[dict],
                         bar: ProgressBar | None = None) -> None:
    """Each transaction as a JSON record keyed by its account, the record timestamp its ``ts``;
    ``bar`` (if given) follows the records handed to the producer."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=20,
                             batch_size=512 * 1024, client_id="fluvial-demo")
    try:
        futures = []
        for n, tx in enumerate(txs, 1):
            futures.append(producer.send(topic, key=tx["account"].encode(),
                                         value=json.dumps(tx, separators=(",", ":")).encode(),
                                         timestamp_ms=tx["ts"]))
            if bar is not None and n % 500 == 0:
                bar.update(n)
        producer.flush(timeout=60)
        for f in futures:
            f.get(timeout=0)  # raises the broker's error, if any
        if bar is not None:
            bar.update(len(futures))
    finally:
        if bar is not None:
            bar.close()
        producer.close(timeout=5)  # interrupted: drop what is still queued after 5 s


def run_pipeline(bootstrap_servers: str, topic: str, alerts_topic: str, threshold: int,
                 checkpoint_dir: str, progress: str) -> dict[str, int]:
    """The fraud pipeline from ``topic`` to ``alerts_topic`` (exactly once, bounded at the end
    offsets found at start); returns its counters."""
    args = fraud.parse_args([
        "--source", "kafka", "--bootstrap-servers", bootstrap_servers, "--topic", topic,
        "--alerts-topic", alerts_topic, "--threshold", str(threshold), "--quiet",
    ])
    options = fl.PipelineOptions(checkpoint_dir=checkpoint_dir,
                                 checkpoint_interval=CHECKPOINT_INTERVAL_S, progress=progress)
    p = fl.Pipeline(options=options)
    fraud.build(p, args)
    result = p.run()
    state = result.wait_until_finish()
    if state.value != "DONE":  # Ctrl-C: the runner cancelled without committing
        raise KeyboardInterrupt
    counters = result.metrics().query(namespace=fraud.NAMESPACE)
    return {name: counters.counter(name) for name in ("transactions", "windows", "alerts")}


def read_alerts(bootstrap_servers: str, alerts_topic: str) -> list[dict]:
    """The committed alerts of ``alerts_topic`` (read_committed, up to its current end), sorted
    by window start, then account."""
    got: list[dict] = []
    p = fl.Pipeline(options=fl.PipelineOptions(progress="off"))
    _ = (p
         | "ReadAlerts" >> ReadFromKafka(bootstrap_servers, topics=[alerts_topic],
                                         value_deserializer="json", stop="end",
                                         isolation_level="read_committed")
         | "Collect" >> Map(lambda kv: got.append(kv[1])))
    p.run().wait_until_finish()
    return sorted(got, key=lambda a: (a["window_start_ms"], a["account"], a["total"]))


def format_alert(alert: dict) -> str:
    """``ALERT acct-00042 spent 12,345 in [2023-11-14 22:10:00, 2023-11-14 22:20:00) UTC``."""
    return (f"ALERT {alert['account']} spent {alert['total']:,} in "
            f"[{fraud._fmt_ms(alert['window_start_ms'])}, {fraud._fmt_ms(alert['window_end_ms'])})"
            " UTC")


def _start_broker(port: int, keep_broker: bool) -> tuple[str, LocalBroker | None]:
    """(bootstrap servers, the broker to stop at the end, or None when it is kept running)."""
    if keep_broker:
        st = daemon_start(default_state_dir(), port=port)
        return st["bootstrap_servers"], None
    broker = LocalBroker(port=port).start()
    return broker.bootstrap_servers, broker


def run_demo(events: int = DEFAULT_EVENTS, accounts: int = DEFAULT_ACCOUNTS, *, seed: int = 7,
             threshold: int = 10_000, port: int = 0, keep_broker: bool = False,
             bootstrap_servers: str | None = None, topic: str = TRANSACTIONS_TOPIC,
             alerts_topic: str = ALERTS_TOPIC, progress: str | None = None,
             out: IO[str] | None = sys.stdout) -> DemoResult:
    """Run the demo (see the module docstring). ``bootstrap_servers``: use that broker instead
    of starting one (``port``/``keep_broker`` are then ignored). ``progress``: ``on``/``off``,
    the produce progress bar and the pipeline's status line on stderr (default: on when stderr
    is a terminal). ``out``: where the alerts and messages go (None: nowhere).

    For example ``run_demo(events=2_000, accounts=20, out=None).transactions`` is 2000.
    """
    def say(line: str) -> None:
        if out is not None:
            print(line, file=out, flush=True)

    if progress is None:
        progress = "on" if sys.stderr.isatty() else "off"
    timings: dict[str, float] = {}
    broker: LocalBroker | None = None
    t0 = time.perf_counter()
    if bootstrap_servers is None:
        bootstrap_servers, broker = _start_broker(port, keep_broker)
        timings["broker"] = time.perf_counter() - t0
        say(f"broker: Tansu on {bootstrap_servers}")
    try:
        create_topics("fraud-demo", bootstrap_servers, [topic, alerts_topic], PARTITIONS,
                      client_id="fluvial-demo")
        say(f"rule: {fraud.rule(threshold)}")
        t0 = time.perf_counter()
        txs = fraud.transactions(events, accounts, seed)
        bar = (ProgressBar("producing transactions", len(txs), sys.stderr,
                           width=shutil.get_terminal_size().columns - 1)
               if progress == "on" else None)
        produce_transactions(bootstrap_servers, topic, txs, bar)
        timings["produce"] = time.perf_counter() - t0
        say(f"produced {len(txs):,} transactions ({accounts:,} accounts, seed {seed}) to "
            f"{topic!r}; running the fraud pipeline exactly-once into {alerts_topic!r}")
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="fluvial-demo-chk-") as chk:
            counters = run_pipeline(bootstrap_servers, topic, alerts_topic, threshold, chk,
                                    progress)
        timings["pipeline"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        alerts = read_alerts(bootstrap_servers, alerts_topic)
        timings["read_back"] = time.perf_counter() - t0
        say(f"committed alerts read back from {alerts_topic!r}:")
        for a in alerts:
            say(format_alert(a))
        result = DemoResult(bootstrap_servers, counters["transactions"], counters["windows"],
                            counters["alerts"], alerts, timings)
        say(result.summary())
        if broker is None and keep_broker:
            say(f"the broker keeps running on {bootstrap_servers}; stop it with: "
                "fluvial broker stop")
        return result
    finally:
        if broker is not None:
            broker.stop()


def run_from_args(args: Any) -> int:
    """Run with parsed flags (``events``, ``accounts``, ``port``, ``keep_broker``); 0 when
    every alert the pipeline computed was read back committed, 1 otherwise; 130 / 143 when
    SIGINT / SIGTERM stopped it; 1 when the broker fails."""
    with stop_on_signals() as stop:
        try:
            result = run_demo(args.events, args.accounts, port=args.port,
                              keep_broker=args.keep_broker)
        except KeyboardInterrupt:
            broker = ("the broker keeps running (fluvial broker stop)" if args.keep_broker
                      else "the broker it started is stopped")
            print(f"fluvial demo fraud: stopped by {stop.name}; nothing half done was "
                  f"committed, {broker}", file=sys.stderr)
            return stop.exit_status
        except FluvialError as e:
            print(f"fluvial demo fraud: {e}", file=sys.stderr)
            return 1
    if len(result.alerts) != result.alerts_counted:
        print(f"fluvial demo fraud: the pipeline computed {result.alerts_counted} alerts but "
              f"{len(result.alerts)} were read back committed", file=sys.stderr)
        return 1
    return 0

