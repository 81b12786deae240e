"""``fluvial bench kafka-windowed``: Kafka -> parse JSON -> (user, amount) -> FixedWindows(10 s)
-> built-in Sum -> Kafka, on the direct runner (checkpoints every second), on each client
backend, against the plain confluent-kafka windowed loop (:func:`fluvial.cli.bench.kafka_plain.
windowed`) over the same records (:mod:`fluvial.cli.bench.kafka_common`: record ``i`` has
event time ``T0 + i`` ms, so 10 s windows hold 10,000 records and each of the 1,000 users has
10 of them per window).

Every output is read back (read_committed) and must equal the expected
``{"user", "window_start", "sum"}`` records, derived here by arithmetic from the input recipe
(``outputs_ok``), each once; ``problems`` says what was wrong per variant (as in
:mod:`fluvial.cli.bench.kafka_passthrough`).

>>> expected(20)[(b"user-3", b'{"user":"user-3","window_start":1700000000000,"sum":3}')]
1
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from typing import Any

from . import kafka_plain
from .kafka_common import T0, USERS, check_input, check_output, median, produce_input, timed

PARTITIONS = 3


def _row(user: str, start: int, total: int) -> tuple[bytes, bytes]:
    return user.encode(), json.dumps({"user": user, "window_start": start, "sum": total},
                                     separators=(",", ":")).encode()


def expected(n: int) -> Counter:
    """The (key, value) output records, by arithmetic over the input recipe."""
    sums: dict[tuple[str, int], int] = {}
    for i in range(n):
        k = (f"user-{i % USERS}", kafka_plain.window_start(T0 + i))
        sums[k] = sums.get(k, 0) + i % 97
    return Counter(_row(user, start, total) for (user, start), total in sums.items())


def fluvial_windowed(servers: str, src: str, dst: str, client: str, delivery: str) -> None:
    import fluvial as fl
    from fluvial.transforms import Map
    from fluvial.transforms.aggregates import Sum
    from fluvial.transforms.kafka import ReadFromKafka, WriteToKafka

    class ToRow(fl.DoFn):
        def process(self, kv, w=fl.DoFn.WindowParam):
            yield (kv[0], {"user": kv[0], "window_start": w.start_ms, "sum": kv[1]})

    with tempfile.TemporaryDirectory() as chk:
        p = fl.Pipeline(argv=["--runner", "direct", "--checkpoint-dir", chk,
                              "--checkpoint-interval", "1", "--kafka-client", client,
                              "--progress", "off"])
        _ = (p | ReadFromKafka(servers, topics=[src], stop="end", value_deserializer="json")
               | Map(lambda kv: (kv[1]["user"], kv[1]["amount"]))
               | fl.WindowInto(fl.FixedWindows(10))
               | Sum.PerKey()
               | fl.ParDo(ToRow())
               | WriteToKafka(servers, dst, key_serializer="str", value_serializer="json",
                              delivery=delivery, transactional_id_prefix=f"bench-{dst}"))
        p.run().wait_until_finish()


def run(events: int, clients: tuple[str, ...] = ("confluent", "kafka-python"),
        repeat: int = 1, delivery: str = "at_least_once") -> dict[str, Any]:
    """Start a broker, produce ``events`` records, time the plain windowed loop and fluvial's
    windowed pipeline on each client ``repeat`` times (fluvial with ``delivery``)."""
    from fluvial.cli.localbroker import LocalBroker
    from fluvial.transforms.kafka.topics import create_topics

    want = expected(events)
    names = ["plain"] + [f"fluvial {c}" for c in clients]
    times: dict[str, list[float]] = {n: [] for n in names}
    ratios: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    problems: dict[str, str] = {}
    ok = True
    with LocalBroker() as b:
        s = b.bootstrap_servers
        create_topics("bench", s, ["bench-in"], PARTITIONS)
        produce_input(s, "bench-in", events, PARTITIONS)
        check_input(s, "bench-in", events, PARTITIONS)
        for r in range(repeat):
            this = {}
            for name in names:
                dst = f"windowed-{r}-{name.replace(' ', '-')}"
                create_topics("bench", s, [dst], PARTITIONS)
                if name == "plain":
                    t = timed(lambda dst=dst: kafka_plain.windowed(s, "bench-in", dst, events,
                                                                   PARTITIONS))
                else:
                    client = name.split()[1]
                    t = timed(lambda dst=dst, client=client: fluvial_windowed(
                        s, "bench-in", dst, client, delivery))
                this[name] = t
                times[name].append(t)
                counts[name], wrong = check_output(s, dst, PARTITIONS, want)
                if wrong:
                    problems[name if repeat == 1 else f"{name} (repeat {r + 1})"] = wrong
                    ok = False
            for name in names[1:]:
                ratios.setdefault(f"{name} / plain", []).append(this["plain"] / this[name])
    return {
        "events": events, "partitions": PARTITIONS, "repeat": repeat, "delivery": delivery,
        "records_per_s": {n: round(events / median(ts)) for n, ts in times.items()},
        "ratios": {k: round(median(v), 3) for k, v in ratios.items()},
        "output_counts": counts,
        "outputs_ok": ok,
        "problems": problems,
    }


__all__ = ["run", "expected", "fluvial_windowed"]
