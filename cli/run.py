"""``fluvial run FILE.py [options]``: run the pipeline a file builds.

The contract of FILE.py:

* it defines ``build(p)``, a function that takes a :class:`fluvial.Pipeline` and applies its
  transforms to it (it must not run it; what it returns is ignored);
* it may define ``add_arguments(parser)``, which declares the file's own flags with
  ``parser.add_argument``; their values are ``p.options.args`` while ``build`` runs.

Every argument after FILE.py is parsed by :meth:`fluvial.PipelineOptions.from_argv`: the
pipeline options, the runner flags and the file's own flags; anything else is an error naming
the closest known option (exit status 2). ``fluvial run FILE.py -h`` lists them all with their
descriptions and defaults. SIGINT and SIGTERM cancel the run cleanly (:mod:`fluvial.cli.signals`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from fluvial.cli.signals import stop_on_signals
from fluvial.options import PipelineOptions
from fluvial.pipeline import Pipeline

USAGE = "fluvial run FILE.py [options]"
DESCRIPTION = (
    "Run the pipeline FILE.py builds: FILE.py defines build(p), which applies transforms to the "
    "Pipeline p, and may define add_arguments(parser) to declare its own flags (read in build "
    "from p.options.args). Every argument after FILE.py is a pipeline option, a runner flag or "
    "one of the file's flags; `fluvial run FILE.py -h` lists them all."
)


class RunHelp(argparse.Action):
    """``fluvial run -h``: the contract and every pipeline option and runner flag."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: Any, ns: Any, values: Any, option_string: str | None = None) -> None:
        options_parser = PipelineOptions.parser(prog="fluvial run FILE.py")
        options_parser.description = DESCRIPTION
        options_parser.print_help()
        parser.exit()


def _pickle_by_value(module: ModuleType) -> None:
    """Functions of the file travel with the pipeline (cloudpickle by value), so a runner that
    runs them in other interpreters (Flink's Python workers) needs no import of the file
    there: its module name exists only in this process."""
    try:
        import cloudpickle
    except ImportError:  # no runner that ships functions is installed
        return
    cloudpickle.register_pickle_by_value(module)


def load_pipeline_file(path: str) -> ModuleType:
    """Import ``path`` as a module and check its ``build`` (and ``add_arguments``)."""
    spec = importlib.util.spec_from_file_location("fluvial_user_pipeline", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"fluvial run: cannot load {path!r} (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fluvial_user_pipeline"] = module
    spec.loader.exec_module(module)
    _pickle_by_value(module)
    if not callable(getattr(module, "build", None)):
        raise SystemExit(
            f"fluvial run: {path} must define build(p), a function that applies transforms to the "
            "Pipeline p"
        )
    add_arguments = getattr(module, "add_arguments", None)
    if add_arguments is not None and not callable(add_arguments):
        raise SystemExit(
            f"fluvial run: {path}: add_arguments must be a function add_arguments(parser) that "
            "declares the file's flags with parser.add_argument"
        )
    return module


def run_file(path: str, argv: Sequence[str]) -> int:
    """Build and run FILE.py's pipeline; the exit status (0 done, 130/143 stopped by a signal)."""
    if not os.path.isfile(path):
        print(f"fluvial run: no such file: {path}", file=sys.stderr)
        return 2
    old_argv = sys.argv
    sys.argv = [path, *argv]
    try:
        with stop_on_signals() as stop:
            try:
                module = load_pipeline_file(path)
                options = PipelineOptions.from_argv(
                    argv, add_arguments=getattr(module, "add_arguments", None),
                    prog=f"fluvial run {path}")
                p = Pipeline(options=options)
                module.build(p)
                state = p.run().wait_until_finish().value
            except KeyboardInterrupt:  # stopped before the runner could cancel by itself
                state = "CANCELLED"
    finally:
        sys.argv = old_argv
    print(f"fluvial run: {path} finished: {state}", file=sys.stderr)
    return stop.exit_status if state == "CANCELLED" else 0
