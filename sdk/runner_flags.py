"""Runner flags: every runner-specific pipeline flag, declared as data, so the sdk knows them all
(to reject a misspelt flag with a suggestion, and to list every flag in ``-h``) without
importing any runner.

Rules:

* A flag is a :class:`RunnerFlag` row: its name, the runner that reads it, a description, the
  metavar, what happens without it (``default``), the accepted values (``choices``, empty: any)
  and whether it may be repeated. ``--name`` and ``--name_with_underscores`` are both accepted.
* Parsing (:meth:`fluvial.PipelineOptions.from_argv`) checks a flag's value against its
  ``choices`` and keeps every runner flag given, in order, as one ``--name=value`` string in
  ``PipelineOptions.extra_args``; the runner reads its own flags from there.
* A flag of another runner than ``--runner`` is accepted and ignored, so one command line can
  switch runners with ``--runner`` alone.
* A built-in runner's flags are rows of ``RUNNER_FLAGS`` below, added with the runner. A runner
  installed from another package declares its flags with an entry point in the group
  ``fluvial.runner_flags`` whose object is a sequence of :class:`RunnerFlag`; it is loaded only
  when options are parsed.

>>> [f.name for f in RUNNER_FLAGS if f.runner == "beam"]
['--beam-runner', '--beam-option', '--beam-sink-guarantee', '--beam-log-level']
"""

from __future__ import annotations

from importlib import metadata

import attrs


@attrs.frozen
class RunnerFlag:
    """One runner-specific flag (see the module rules).

    >>> RunnerFlag("--my-runner-host", "mine", "the host to submit to", metavar="HOST").runner
    'mine'
    """

    name: str = attrs.field()
    runner: str
    help: str
    metavar: str = "VALUE"
    default: str | None = None
    choices: tuple[str, ...] = ()
    repeated: bool = False

    @name.validator
    def _check_name(self, _attr: object, value: str) -> None:
        if not value.startswith("--") or len(value) < 3 or "=" in value:
            raise ValueError(f"a runner flag is named like --runner-thing, got {value!r}")


RUNNER_FLAGS: tuple[RunnerFlag, ...] = (
    RunnerFlag(
        "--direct-fast-paths", "direct",
        "off: every grouping and stateful DoFn runs the sdk's reference drivers one element at "
        "a time instead of the direct runner's specialised operators (to check them against "
        "the reference; slower)",
        metavar="on|off", choices=("on", "off"), default="on",
    ),
    RunnerFlag(
        "--beam-runner", "beam",
        "which of Beam's runners executes the translated pipeline: FnApiRunner, "
        "BundleBasedDirectRunner, DirectRunner, FlinkRunner, SparkRunner, DataflowRunner, ...",
        metavar="NAME",
        default="FnApiRunner; BundleBasedDirectRunner for a pipeline with a TestStream",
    ),
    RunnerFlag(
        "--beam-option", "beam",
        "an option for Beam's PipelineOptions (repeatable), e.g. --beam-option "
        "flink_master=localhost:8081",
        metavar="KEY=VALUE", repeated=True,
    ),
    RunnerFlag(
        "--beam-sink-guarantee", "beam",
        "run exactly-once sinks at-least-once on Beam (Beam gives a DoFn no checkpoint-complete "
        "callback, so such a sink is refused without this flag)",
        metavar="GUARANTEE", choices=("at_least_once",),
        default="exactly-once sinks are refused",
    ),
    RunnerFlag(
        "--beam-log-level", "beam",
        "the level of apache_beam's loggers while a pipeline runs on Beam (off: silenced; a "
        "failure still raises its error, a user-code failure as UserCodeError)",
        metavar="LEVEL", choices=("debug", "info", "warning", "error", "critical", "off"),
        default="off",
    ),
    RunnerFlag(
        "--flink-mode", "flink",
        "how Flink runs the Python functions: thread (inside the TaskManager's JVM: less CPU, "
        "faster) or process (separate Python worker processes: isolation)",
        metavar="MODE", choices=("thread", "process"), default="thread",
    ),
    RunnerFlag(
        "--parallelism", "flink",
        "the Flink job's parallelism (a pipeline with a TestStream always runs with 1)",
        metavar="N", default="1",
    ),
    RunnerFlag(
        "--flink-master", "flink",
        "submit the job to the running Flink cluster whose REST endpoint is HOST:PORT",
        metavar="HOST:PORT", default="a local mini-cluster in this process's JVM",
    ),
    RunnerFlag(
        "--flink-jars", "flink",
        "jars the job needs, e.g. the Kafka connector (comma-separated, repeatable; also the "
        "environment variable FLUVIAL_FLINK_JARS)",
        metavar="PATH[,PATH...]", repeated=True, default="none",
    ),
    RunnerFlag(
        "--flink-sink-guarantee", "flink",
        "run exactly-once sinks at-least-once on Flink where exactly-once is impossible (an "
        "unbounded input without --checkpoint-dir; a source that cannot resume from a Flink "
        "checkpoint), instead of refusing them",
        metavar="GUARANTEE", choices=("at_least_once",),
        default="such sinks are refused",
    ),
    RunnerFlag(
        "--flink-java-combine", "flink",
        "run built-in combiners (sum, count, min, max, mean) over fixed and sliding windows with "
        "the default trigger as a Java function (on) or through the window driver in Python (off)",
        metavar="on|off", choices=("on", "off"), default="on",
    ),
)


def runner_flags() -> tuple[RunnerFlag, ...]:
    """The built-in runner flags, then those of runners installed from other packages."""
    flags = list(RUNNER_FLAGS)
    try:
        eps = metadata.entry_points(group="fluvial.runner_flags")
    except Exception:  # pragma: no cover - broken metadata
        eps = ()
    for ep in eps:
        flags.extend(ep.load())
    return tuple(flags)
