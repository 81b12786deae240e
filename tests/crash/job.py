"""The crash test's job, run as a subprocess (and killed with SIGKILL at random points):

    Kafka input topic (3 partitions, one bounded ReadFromKafka(stop="end") per partition)
      -> (key, amount) -> FixedWindows(10 s) -> Sum per key
      -> {"key", "window_start", "sum"} written to three exactly-once sinks:
         JSON-lines files, a SQLite table, and a Kafka topic (transactional producer)

A throttling Map (``--throttle`` seconds per element) prints ``seen=<n>``, the number of elements
this run processed, after each element: the test kills the job on that progress, not on
wall-clock time. ``--cap N`` makes the job SIGKILL itself once the run processed N elements, so a
run never gets further than that, however slowly the test reacts. ``--crash-at SINK.HOOK.WHEN:N``
makes the job SIGKILL itself at one step of the sinks' two-phase commit (see crashpoints.py).
``--output-bootstrap`` puts the output topic on other brokers than the input. Pipeline options
(``--checkpoint-dir``, ``--checkpoint-interval``, ``--batch-size``, ``--kafka-client``,
``--restart-attempts``, ...) are passed through.

    python tests/crash/job.py --bootstrap 127.0.0.1:9092 --input in --group g \
        --out-prefix /tmp/out/sums --db /tmp/out.db --output-topic out \
        --checkpoint-dir /tmp/ck --checkpoint-interval 0.2 --batch-size 20
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from crashpoints import CrashableWrite, CrashPlan

import fluvial as fl
from fluvial.transforms import Map
from fluvial.transforms.io import WriteToJsonLines, WriteToSqlite
from fluvial.transforms.kafka import KafkaSink, ReadFromKafka, WriteToKafka


class ToRow(fl.DoFn):
    def process(self, kv, w=fl.DoFn.WindowParam):
        yield {"key": kv[0], "window_start": w.start_ms, "sum": kv[1]}


def slow(delay: float, cap: int | None):
    """Sleep ``delay`` per element, print ``seen=<n>`` (elements processed by this run) after
    each, and SIGKILL this process once ``cap`` elements were processed."""
    seen = 0

    def throttle(kv):
        nonlocal seen
        time.sleep(delay)
        seen += 1
        print(f"seen={seen}", flush=True)
        if cap is not None and seen >= cap:
            print(f"CAP {cap}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return kv

    return throttle


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--out-prefix", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--output-topic", default=None)
    ap.add_argument("--output-bootstrap", default=None,
                    help="the brokers of --output-topic (default: --bootstrap)")
    ap.add_argument("--throttle", type=float, default=0.002)
    ap.add_argument("--cap", type=int, default=None,
                    help="SIGKILL the job once this run processed this many elements")
    ap.add_argument("--crash-at", default=None,
                    help="SINK.HOOK.WHEN:N, e.g. Sql.snapshot.after:2 (see crashpoints.py)")
    args, rest = ap.parse_known_args(argv)

    p = fl.Pipeline(argv=["--runner", "direct", *rest])
    # One ReadFromKafka per partition of the input topic, flattened: the runner polls the three
    # reads in turn, so the partitions advance together and so do the watermark (their minimum)
    # and the window firings. A single reader of all three hands out what kafka-python fetched,
    # which the test broker returns partition by partition: no window would fire before the
    # last partition is being read, and most kills would land before any output exists.
    reads = [
        p | f"Read{part}" >> ReadFromKafka(
            args.bootstrap, partitions=[(args.input, part)], group_id=args.group,
            start="earliest", stop="end", key_deserializer="str", value_deserializer="json",
            max_out_of_orderness=0)
        for part in range(3)
    ]
    rows = (
        reads
        | "Merge" >> fl.Flatten()
        | "Amount" >> Map(lambda kv: (kv[0], kv[1]["amount"]))
        | "Throttle" >> Map(slow(args.throttle, args.cap))
        | "Window" >> fl.WindowInto(fl.FixedWindows(10))
        | "Sum" >> fl.CombinePerKey(sum)
        | "Row" >> fl.ParDo(ToRow())
    )
    # the IO transforms' own sinks, wrapped to reach a --crash-at point (inactive without one)
    plan = CrashPlan(args.crash_at)
    files = WriteToJsonLines(args.out_prefix).sink
    sql = WriteToSqlite(args.db, "sums", ["key", "window_start"],
                        ["key", "window_start", "sum"]).sink
    _ = rows | "Files" >> CrashableWrite(files, "Files", plan)
    _ = rows | "Sql" >> CrashableWrite(sql, "Sql", plan)
    if args.output_topic:
        kafka = KafkaSink(**WriteToKafka(
            bootstrap_servers=args.output_bootstrap or args.bootstrap, topic=args.output_topic,
            key_serializer="str",
            value_serializer="json", delivery="exactly_once").cfg)
        _ = (rows | "KeyRow" >> Map(lambda r: (r["key"], r))
             | "Kafka" >> CrashableWrite(kafka, "Kafka", plan))
    result = p.run()
    print(f"DONE checkpoints={result.info['checkpoints_taken']} "
          f"restored_from={result.info['restored_from']} restarts={result.info['restarts']}",
          flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
