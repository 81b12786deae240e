"""The ``fluvial`` command.

    fluvial run FILE.py [--runner R] [pipeline options]
    fluvial conformance --runner R [--format json|markdown] [--output PATH]
    fluvial bench sliding-sum --events N --keys K [--runner R] [--json]
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
    if args.name != "sliding-sum":
        print(f"fluvial bench: unknown benchmark {args.name!r}; known: sliding-sum", file=sys.stderr)
        return 2
    from fluvial.bench.sliding_sum import run

    res = run(args.events, args.keys, args.runner, rest)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:>24}: {v}")
    return 0 if res["checksum_match"] else 1


def cmd_runners(args: argparse.Namespace, rest: list[str]) -> int:
    from fluvial.registry import known_runners

    for name, spec in sorted(known_runners().items()):
        print(f"{name:10} {spec}")
    return 0


def _positive(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


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
    b.add_argument("name", help="sliding-sum")
    b.add_argument("--events", type=_positive, default=1_000_000)
    b.add_argument("--keys", type=_positive, default=1000)
    b.add_argument("--runner", default="direct")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)

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
        if rest and args.command in ("conformance", "runners"):
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
