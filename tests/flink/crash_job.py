"""The Flink crash test's job, run as a subprocess and killed with SIGKILL (test_flink_crash.py):

    Kafka input topic (bounded: stop="end"; --unbounded: until killed) -> slow Map (value * 2) -> two exactly-once sinks:
        WriteToKafka(delivery="exactly_once") to the output topic, WriteToJsonLines files
    or, with --windowed (needs groupings on Flink):
    Kafka input -> FixedWindows(--window) -> Sum per key -> the same two sinks

Pipeline options (``--checkpoint-dir``, ``--checkpoint-interval``, ``--flink-jars``, ...) are
passed through; the job runs on ``--runner flink``.

    python tests/flink/crash_job.py --bootstrap 127.0.0.1:9092 --input in --output-topic out \
        --out-prefix /tmp/out/rows --throttle 0.03 --flink-jars A.jar,B.jar --checkpoint-dir ck
"""

from __future__ import annotations

import argparse
import sys
import time

import fluvial as fl
from fluvial.transforms import Map, Sum
from fluvial.transforms.io import WriteToJsonLines
from fluvial.transforms.kafka import ReadFromKafka, WriteToKafka


def slow(delay: float):
    def throttle(kv):
        time.sleep(delay)
        return kv

    return throttle


def double(kv):
    return (kv[0], kv[1] * 2)


def to_row(kv):
    return {"key": kv[0], "value": kv[1]}


class WindowRow(fl.DoFn):
    def process(self, kv, w=fl.DoFn.WindowParam):
        yield {"key": kv[0], "window_start": w.start_ms, "value": kv[1]}


def build(p: fl.Pipeline, args: argparse.Namespace) -> None:
    rows = (p
            | "Read" >> ReadFromKafka(args.bootstrap, topics=[args.input],
                                      stop=None if args.unbounded else "end",
                                      key_deserializer="str", value_deserializer="json")
            | "Slow" >> Map(slow(args.throttle)))
    if args.windowed:
        out = (rows
               | "Window" >> fl.WindowInto(fl.FixedWindows(args.window))
               | "Sum" >> Sum.PerKey()
               | "Row" >> fl.ParDo(WindowRow()))
    else:
        out = rows | "Double" >> Map(double) | "Row" >> Map(to_row)
    _ = out | "Files" >> WriteToJsonLines(args.out_prefix)
    _ = (out
         | "Keyed" >> Map(lambda r: (r["key"], r))
         | "Kafka" >> WriteToKafka(args.bootstrap, topic=args.output_topic, key_serializer="str",
                                   value_serializer="json", delivery="exactly_once"))


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output-topic", required=True)
    ap.add_argument("--out-prefix", required=True)
    ap.add_argument("--throttle", type=float, default=0.0)
    ap.add_argument("--windowed", action="store_true")
    ap.add_argument("--unbounded", action="store_true", help="read until killed")
    ap.add_argument("--window", type=int, default=10)
    args, rest = ap.parse_known_args(argv)
    p = fl.Pipeline(argv=["--runner", "flink", *rest])
    build(p, args)
    result = p.run()
    print(f"DONE restored_from={result.info['restored_from']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
