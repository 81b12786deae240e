"""``fluvial bench kafka-passthrough``: Kafka -> Kafka on a local broker. fluvial's
``ReadFromKafka(stop="end") | WriteToKafka`` on the direct runner (checkpoints every second),
on each client backend, at-least-once and exactly-once, against plain confluent-kafka loops
doing the same work in the same command (:mod:`fluvial.cli.bench.kafka_plain`): at-least-once
against the at-least-once loop, exactly-once against the transactional loop.

Every variant copies the same records (:mod:`fluvial.cli.bench.kafka_common`) to a topic of its
own; every output is read back (read_committed) and must hold exactly the input's (key, value)
records, each once (``outputs_ok``); ``problems`` says, per variant and repeat, what was wrong:
records missing or not expected, or a read-back that did not reach the end of the output in
time (then the output is unchecked, not short). With ``repeat`` > 1 each figure is the median over the
repeats, and each ratio the median of the ratios within each repeat.

``others``: the Python of a separate environment with Quix Streams and Bytewax installed
(never dependencies of fluvial): their passthrough jobs (:mod:`fluvial.cli.bench.external`)
run on the same records in the same command, Quix exactly-once and Bytewax without a
guarantee, outputs checked alike.

It starts a local broker of its own (the ``broker`` extra)::

    res = run(20_000, repeat=1)
    res["outputs_ok"], res["ratios"]["fluvial confluent at_least_once / plain at_least_once"]
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from typing import Any

from . import kafka_plain
from .kafka_common import check_input, check_output, input_records, median, produce_input, timed

PARTITIONS = 3
DELIVERIES = ("at_least_once", "exactly_once")


def fluvial_passthrough(servers: str, src: str, dst: str, client: str, delivery: str) -> None:
    import fluvial as fl
    from fluvial.transforms.kafka import ReadFromKafka, WriteToKafka

    with tempfile.TemporaryDirectory() as chk:
        p = fl.Pipeline(argv=["--runner", "direct", "--checkpoint-dir", chk,
                              "--checkpoint-interval", "1", "--kafka-client", client,
                              "--progress", "off"])
        _ = (p | ReadFromKafka(servers, topics=[src], stop="end")
               | WriteToKafka(servers, dst, delivery=delivery,
                              transactional_id_prefix=f"bench-{dst}"))
        p.run().wait_until_finish()


def variants(delivery: str, clients: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(name, kind, delivery): kind "plain" or a client name."""
    deliveries = DELIVERIES if delivery == "both" else (delivery,)
    out = []
    for d in deliveries:
        out.append((f"plain {d}", "plain", d))
        out.extend((f"fluvial {c} {d}", c, d) for c in clients)
    return out


EXTERNAL = {"quix exactly_once": "quix_passthrough.py",
            "bytewax (no guarantee)": "bytewax_passthrough.py"}


def external(python: str, script: str, servers: str, src: str, dst: str, events: int) -> float:
    """Run an external passthrough job; the elapsed seconds it measured itself."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "external", script)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: --others runs from a source checkout")
    out = subprocess.run([python, path, "--servers", servers, "--src", src, "--dst", dst,
                          "--events", str(events)], capture_output=True, text=True, timeout=900,
                         check=False)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return float(json.loads(line)["elapsed_s"])
    raise RuntimeError(f"{script} failed (exit {out.returncode}): {out.stderr[-2000:]}")


def run(events: int, delivery: str = "both", clients: tuple[str, ...] = ("confluent",
                                                                         "kafka-python"),
        repeat: int = 1, others: str | None = None) -> dict[str, Any]:
    """Start a broker, produce ``events`` records, time every variant ``repeat`` times."""
    from fluvial.cli.localbroker import LocalBroker
    from fluvial.transforms.kafka.topics import create_topics

    todo = variants(delivery, clients)
    if others:
        todo += [(name, "external", "") for name in EXTERNAL]
    expected = input_records(events)
    times: dict[str, list[float]] = {name: [] for name, _, _ in todo}
    ratios: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    cpu_ratios: dict[str, list[float]] = {}
    ok = True
    counts: dict[str, int] = {}
    problems: dict[str, str] = {}
    with LocalBroker() as b:
        s = b.bootstrap_servers
        create_topics("bench", s, ["bench-in"], PARTITIONS)
        produce_input(s, "bench-in", events, PARTITIONS)
        check_input(s, "bench-in", events, PARTITIONS)
        for r in range(repeat):
            this: dict[str, float] = {}
            this_cpu: dict[str, float] = {}
            for name, kind, d in todo:
                dst = f"bench-{r}-{name.replace(' ', '-')}"
                create_topics("bench", s, [dst], PARTITIONS)
                cpu0 = time.process_time()
                if kind == "plain":
                    t = timed(lambda d=d, dst=dst: kafka_plain.passthrough(
                        s, "bench-in", dst, events, PARTITIONS, d == "exactly_once"))
                elif kind == "external":
                    t = external(others, EXTERNAL[name], s, "bench-in", dst,  # type: ignore
                                 events)
                else:
                    t = timed(lambda kind=kind, d=d, dst=dst: fluvial_passthrough(
                        s, "bench-in", dst, kind, d))
                this[name] = t
                times[name].append(t)
                if kind != "external":  # its CPU time is another process's
                    this_cpu[name] = time.process_time() - cpu0
                    cpu.setdefault(name, []).append(this_cpu[name])
                counts[name], wrong = check_output(s, dst, PARTITIONS, expected)
                if wrong:
                    problems[name if repeat == 1 else f"{name} (repeat {r + 1})"] = wrong
                    ok = False
            for name, kind, d in todo:
                if kind not in ("plain", "external"):
                    key = f"{name} / plain {d}"
                    ratios.setdefault(key, []).append(this[f"plain {d}"] / this[name])
                    cpu_ratios.setdefault(key, []).append(this_cpu[f"plain {d}"] / this_cpu[name])
            if others:
                for mine, theirs in (("fluvial confluent exactly_once", "quix exactly_once"),
                                     ("fluvial confluent at_least_once",
                                      "bytewax (no guarantee)")):
                    if mine in this:
                        ratios.setdefault(f"{mine} / {theirs}", []).append(
                            this[theirs] / this[mine])
    return {
        "events": events, "partitions": PARTITIONS, "repeat": repeat,
        "records_per_s": {name: round(events / median(ts)) for name, ts in times.items()},
        "ratios": {k: round(median(v), 3) for k, v in ratios.items()},
        "ratio_ranges": {k: [round(min(v), 3), round(max(v), 3)] for k, v in ratios.items()},
        "cpu_s": {name: round(median(ts), 3) for name, ts in cpu.items()},
        "cpu_ratios": {k: round(median(v), 3) for k, v in cpu_ratios.items()},
        "output_counts": counts,
        "outputs_ok": ok,
        "problems": problems,
    }


__all__ = ["run", "fluvial_passthrough", "variants"]
