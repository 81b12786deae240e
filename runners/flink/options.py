"""The Flink runner's flags, read from a pipeline's unparsed flags (``options.extra_args``):

* ``--flink-mode thread|process``: how Flink runs the Python functions. ``thread`` (default) runs
  them inside the TaskManager's JVM (embedded CPython): 1.4-1.6x less CPU and about 2x faster
  than ``process``, which runs them in separate Python worker processes (isolation: a crashing
  extension module cannot take the JVM down).
* ``--parallelism N``: the job's parallelism (default 1). Scripted input (TestStream) always runs
  its source with parallelism 1, so its watermarks follow the script exactly.
* ``--flink-master HOST:PORT``: submit the job to the running Flink cluster whose REST endpoint
  is there (default: a local mini-cluster). The cluster's TaskManagers must run on a machine
  that shares this machine's filesystem and Python environment (fluvial's functions and the
  run's metrics travel through files; see :mod:`fluvial.runners.flink.sidechannel`).
* ``--flink-jars PATH[,PATH...]``: extra jars for the job (e.g. the Kafka connector), also taken
  from the environment variable ``FLUVIAL_FLINK_JARS`` (separated by ``os.pathsep`` or commas).
* ``--flink-sink-guarantee at_least_once``: accept at-least-once output from sinks that promise
  exactly-once where the run cannot give exactly-once (see
  :mod:`fluvial.runners.flink.guarantees`).
* ``--flink-java-combine on|off``: run built-in combiners over fixed and sliding windows with
  the default trigger in Java (``on``, the default; see :mod:`fluvial.runners.flink.combine_java`)
  or through the window driver in Python (``off``).

Other flags are left alone (they belong to the user's program).

>>> o = parse_flink_args(["--flink-mode", "process", "--parallelism=2", "--events", "5"])
>>> (o.mode, o.parallelism, o.master)
('process', 2, None)
>>> parse_flink_args(["--flink-master", "127.0.0.1:8081"]).master
('127.0.0.1', 8081)
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import attrs

from fluvial.errors import PipelineConstructionError

MODES = ("thread", "process")
JARS_ENV = "FLUVIAL_FLINK_JARS"
GUARANTEES = ("at_least_once",)
SWITCHES = {"on": True, "off": False}


@attrs.frozen
class FlinkOptions:
    """The Flink runner's settings (see the module docstring for the flags)."""

    mode: str = "thread"
    parallelism: int = 1
    master: tuple[str, int] | None = None
    jars: tuple[str, ...] = ()
    sink_guarantee: str | None = None
    java_combine: bool = True


def _value(args: list[str], i: int, flag: str, example: str) -> tuple[str, int]:
    """The value of the flag at ``args[i]`` (``--flag=value`` or ``--flag value``) and the index
    of the last argument it used; a missing value is an error naming ``example``."""
    _, eq, inline = args[i].partition("=")
    if eq:
        value, last = inline, i
    elif i + 1 < len(args) and not args[i + 1].startswith("--"):
        value, last = args[i + 1], i + 1
    else:
        value, last = "", i
    if not value:
        raise PipelineConstructionError(f"pipeline options: {flag} needs a value, e.g. {example}")
    return value, last


def parse_master(value: str) -> tuple[str, int]:
    """``HOST:PORT`` as (host, port); an error naming the flag otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PipelineConstructionError(
            f"pipeline options: --flink-master needs HOST:PORT (the REST address of the Flink "
            f"JobManager, e.g. 127.0.0.1:8081), got {value!r}"
        )
    return host, int(port)


def split_jars(value: str) -> list[str]:
    """A list of jar paths separated by ``os.pathsep`` or commas (empty parts dropped)."""
    out = []
    for part in value.replace(",", os.pathsep).split(os.pathsep):
        part = part.strip()
        if part:
            out.append(part)
    return out


def parse_flink_args(extra_args: Sequence[str], environ: dict[str, str] | None = None) -> FlinkOptions:
    """FlinkOptions from fluvial's unparsed flags (and ``FLUVIAL_FLINK_JARS`` in ``environ``,
    default ``os.environ``)."""
    environ = os.environ if environ is None else environ
    args = list(extra_args)
    mode, parallelism, master, guarantee, java_combine = "thread", 1, None, None, True
    jars = split_jars(environ.get(JARS_ENV, ""))
    i = 0
    while i < len(args):
        name = args[i].partition("=")[0].replace("_", "-")
        if name == "--flink-mode":
            mode, i = _value(args, i, name, "--flink-mode thread")
            if mode not in MODES:
                raise PipelineConstructionError(
                    f"pipeline options: --flink-mode must be one of {', '.join(MODES)}, got {mode!r}"
                )
        elif name == "--parallelism":
            value, i = _value(args, i, name, "--parallelism 2")
            if not value.isdigit() or int(value) < 1:
                raise PipelineConstructionError(
                    f"pipeline options: --parallelism must be a positive integer, got {value!r}"
                )
            parallelism = int(value)
        elif name == "--flink-master":
            value, i = _value(args, i, name, "--flink-master 127.0.0.1:8081")
            master = parse_master(value)
        elif name == "--flink-jars":
            value, i = _value(args, i, name, "--flink-jars /path/flink-connector-kafka.jar")
            jars.extend(split_jars(value))
        elif name == "--flink-sink-guarantee":
            guarantee, i = _value(args, i, name, "--flink-sink-guarantee at_least_once")
            if guarantee not in GUARANTEES:
                raise PipelineConstructionError(
                    f"pipeline options: --flink-sink-guarantee accepts {', '.join(GUARANTEES)}, "
                    f"got {guarantee!r}; pass --flink-sink-guarantee at_least_once to run "
                    "exactly-once sinks at-least-once on Flink"
                )
        elif name == "--flink-java-combine":
            value, i = _value(args, i, name, "--flink-java-combine off")
            if value not in SWITCHES:
                raise PipelineConstructionError(
                    f"pipeline options: --flink-java-combine must be on or off, got {value!r}")
            java_combine = SWITCHES[value]
        i += 1
    return FlinkOptions(mode, parallelism, master, tuple(jars), guarantee, java_combine)
