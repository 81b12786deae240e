"""Beam options pass-through: ``--beam-runner NAME`` and repeated ``--beam-option key=value``
from a pipeline's ``extra_args`` become Beam PipelineOptions, so a translated pipeline can run on
Beam's Flink, Spark or Dataflow runners.

>>> parse_beam_args(["--beam-runner", "DirectRunner", "--beam-option", "direct_num_workers=2"])
('DirectRunner', ['--direct_num_workers=2'])
"""

from __future__ import annotations

from collections.abc import Sequence

from fluvial.errors import PipelineConstructionError

FN_API_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
SHORT_NAMES = {
    "FnApiRunner": FN_API_RUNNER,
    "BundleBasedDirectRunner": "BundleBasedDirectRunner",
    "DirectRunner": "DirectRunner",
}


def flag_value(args: list[str], i: int) -> tuple[str, int]:
    """The value of the flag at ``args[i]`` (``--flag=value`` or ``--flag value``; "" when
    missing) and the index of the last argument it used."""
    _, eq, inline = args[i].partition("=")
    if eq:
        return inline, i
    if i + 1 < len(args):
        return args[i + 1], i + 1
    return "", i


def parse_beam_args(extra_args: Sequence[str]) -> tuple[str | None, list[str]]:
    """(runner name or None, Beam argv) from fluvial's unparsed flags. Other flags are ignored
    (they belong to the user's program)."""
    runner: str | None = None
    argv: list[str] = []
    args = list(extra_args)
    i = 0
    while i < len(args):
        a = args[i]
        name = a.partition("=")[0]
        if name in ("--beam-runner", "--beam_runner"):
            value, i = flag_value(args, i)
            if not value or value.startswith("--"):
                raise PipelineConstructionError(
                    "pipeline options: --beam-runner needs a Beam runner name, e.g. "
                    "--beam-runner DirectRunner (or FlinkRunner, SparkRunner, DataflowRunner)"
                )
            runner = SHORT_NAMES.get(value, value)
        elif name in ("--beam-option", "--beam_option"):
            kv, i = flag_value(args, i)
            key, eq2, val = kv.partition("=")
            key = key.strip().lstrip("-")
            if not eq2 or not key:
                raise PipelineConstructionError(
                    f"pipeline options: --beam-option needs key=value (e.g. --beam-option "
                    f"flink_master=localhost:8081), got {kv!r}"
                )
            argv.append(f"--{key}={val}")
        i += 1
    return runner, argv


# fluvial's model allows triggers that close a window (Beam calls them "unsafe") and checks
# its own types; Beam's construction-time type inference would reject valid fluvial pipelines.
_DEFAULTS = {
    "allow_unsafe_triggers": "--allow_unsafe_triggers",
    "pipeline_type_check": "--no_pipeline_type_check",
}


def beam_pipeline_options(argv: list[str]):
    """Beam PipelineOptions from ``argv``; unknown keys are an error naming them."""
    from apache_beam.options.pipeline_options import PipelineOptions as BeamOptions

    keys = {a[2:].partition("=")[0].replace("-", "_") for a in argv}
    defaults = [d for k, d in _DEFAULTS.items() if k not in keys]
    opts = BeamOptions([*defaults, *argv])
    unknown = _unknown(opts, argv)
    if unknown:
        raise PipelineConstructionError(
            f"pipeline options: Beam does not know the option(s) {', '.join(unknown)} passed with "
            "--beam-option; see `python -m apache_beam.options.pipeline_options` or Beam's runner "
            "documentation for valid names"
        )
    return opts


def _unknown(opts, argv: list[str]) -> list[str]:
    known = set(opts.get_all_options(drop_default=False, retain_unknown_options=False))
    out = []
    for a in argv:
        key = a[2:].partition("=")[0]
        if key.replace("-", "_") not in known:
            out.append(key)
    return out
