"""PipelineOptions: options are data, parsed from argv, and a mistake in them is an error.

Rules of :meth:`PipelineOptions.from_argv`:

* It accepts exactly three kinds of flags: the core pipeline options (the fields below), the
  runner flags declared in :mod:`fluvial.runner_flags`, and the program's own flags, declared by
  an ``add_arguments(parser)`` function the caller passes. Anything else is a
  :class:`~fluvial.errors.PipelineConstructionError` that names the unknown option and the
  closest known one ("did you mean --checkpoint-dir?"). Abbreviations are not accepted.
* ``-h`` / ``--help`` prints every option with its description and default, grouped (program,
  pipeline, one group per runner), and exits with status 0.
* Runner flags are kept, in order, as ``--name=value`` strings in ``extra_args``, where the
  runner reads them; the program's flags are ``args`` (an :class:`argparse.Namespace`).

>>> o = PipelineOptions.from_argv(["--runner", "direct", "--checkpoint-interval", "5"])
>>> (o.runner, o.checkpoint_interval)
('direct', 5.0)
>>> def add_arguments(parser):
...     parser.add_argument("--events", type=int, default=100, help="events to generate")
>>> o = PipelineOptions.from_argv(["--events", "7", "--beam-runner", "DirectRunner"],
...                               add_arguments=add_arguments)
>>> (o.args.events, o.extra_args)
(7, ('--beam-runner=DirectRunner',))
>>> PipelineOptions.from_argv(["--chekpoint-dir", "/tmp/c"])
Traceback (most recent call last):
...
fluvial.errors.PipelineConstructionError: pipeline options: unknown option --chekpoint-dir (did you mean --checkpoint-dir?); -h lists every option
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from fluvial.errors import PipelineConstructionError
from fluvial.runner_flags import RunnerFlag, runner_flags

AddArguments = Callable[[Any], None]
"""``add_arguments(parser)``: declares a program's own flags with ``parser.add_argument``."""


class _Parser(argparse.ArgumentParser):
    """Raises a fluvial error instead of exiting the process on a bad option."""

    def error(self, message: str):  # type: ignore[override]
        raise PipelineConstructionError(f"pipeline options: {message}")


class _HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to every option that has a default worth showing."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default is None or default is False or default is argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


def positive_int(s: str) -> int:
    """argparse type: an integer >= 1."""
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def _non_negative_int(s: str) -> int:
    v = int(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {s}")
    return v


def _non_negative_float(s: str) -> float:
    v = float(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {s}")
    return v


def _seconds_or_off(s: str) -> float | None:
    """argparse type: seconds >= 0, or "off" (None)."""
    if s.strip().lower() == "off":
        return None
    v = float(s)
    if not v >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds or 'off', got {s}")
    return v


def _check_ahead(_: Any, attribute: Any, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not value >= 0):
        raise PipelineConstructionError(
            f"pipeline options: {attribute.name} must be seconds >= 0 or None, got {value!r}")


def _positive_float(s: str) -> float:
    v = float(s)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
    return v


_CHOICES = {"on_error": ("fail", "dead_letter", "skip"), "progress": ("auto", "on", "off"),
            "kafka_client": ("auto", "confluent", "kafka-python")}
_RUNNER_FLAGS_DEST = "fluvial_runner_flags"


def _one_of(name: str, value: str) -> None:
    if value not in _CHOICES[name]:
        raise PipelineConstructionError(
            f"pipeline options: {name} must be one of {', '.join(_CHOICES[name])}, got {value!r}"
        )


class _RunnerFlagAction(argparse.Action):
    """Keeps each runner flag as ``--name=value`` in one list, in command-line order."""

    def __init__(self, option_strings: list[str], dest: str, flag: RunnerFlag, **kw: Any) -> None:
        super().__init__(option_strings, dest, **kw)
        self.flag = flag

    def __call__(self, parser: Any, ns: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        given = list(getattr(ns, self.dest, None) or [])
        given.append(f"{self.flag.name}={values}")
        setattr(ns, self.dest, given)


def _add(group: Any, name: str, **kw: Any) -> None:
    """``--name-with-dashes``, shown in ``-h``, and its ``--name_with_underscores`` alias, not
    shown (the same action twice, so both spellings set the same value)."""
    group.add_argument(name, **kw)
    alias = "--" + name[2:].replace("-", "_")
    if alias != name:
        group.add_argument(alias, **{**kw, "help": argparse.SUPPRESS})


def _add_core_options(p: Any) -> None:
    _add(p, "--runner", default="direct", metavar="NAME",
         help="the runner: direct, beam, or a runner registered by another package "
              "(`fluvial runners` lists them)")
    _add(p, "--checkpoint-dir", dest="checkpoint_dir", default=None, metavar="DIR",
         help="directory for periodic checkpoints; a restarted pipeline resumes from the "
              "latest. Exactly-once sinks commit at checkpoints (default: none)")
    _add(p, "--checkpoint-interval", dest="checkpoint_interval", type=_non_negative_float,
         default=10.0, metavar="SECONDS", help="seconds between checkpoints (0: after every batch)")
    _add(p, "--batch-size", dest="batch_size", type=positive_int, default=4096, metavar="N",
         help="elements a source hands over at once")
    _add(p, "--on-error", dest="on_error", default="fail", choices=_CHOICES["on_error"],
         help="what an exception in user code does where a transform sets no on_error: fail "
              "the run, send a record to p.dead_letters(), or skip")
    _add(p, "--max-event-time-ahead", dest="max_event_time_ahead", type=_seconds_or_off,
         default=86400.0, metavar="SECONDS",
         help="a record a source reads whose event time is more than this ahead of the wall "
              "clock is out of range: it goes to the source's error policy instead of moving "
              "the watermark ('off': only the fixed range of event times applies)")
    _add(p, "--progress", default="auto", choices=_CHOICES["progress"],
         help="live one-line status on stderr (auto: when stderr is a terminal)")
    _add(p, "--restart-attempts", dest="restart_attempts", type=_non_negative_int, default=0,
         metavar="N", help="with --checkpoint-dir: restart a failed run from the latest "
                           "checkpoint up to this many times")
    _add(p, "--restart-delay", dest="restart_delay", type=_non_negative_float, default=1.0,
         metavar="SECONDS", help="seconds to wait before each restart")
    _add(p, "--kafka-client", dest="kafka_client", default="auto",
         choices=_CHOICES["kafka_client"],
         help="the Kafka client of Kafka transforms that set no client=: confluent "
              "(librdkafka, fluvial[kafka]), kafka-python, or auto (confluent when installed)")
    _add(p, "--kafka-broker-timeout", dest="kafka_broker_timeout", type=_positive_float,
         default=60.0, metavar="SECONDS",
         help="Kafka transforms that set no broker_timeout= fail when their brokers have not "
              "answered for this long (retrying meanwhile); --restart-attempts then applies")


def _add_runner_flags(p: argparse.ArgumentParser, flags: Sequence[RunnerFlag]) -> None:
    groups: dict[str, Any] = {}
    for f in flags:
        if f.runner not in groups:
            groups[f.runner] = p.add_argument_group(
                f"{f.runner} runner options", f"read by the {f.runner} runner, ignored by others")
        text = f.help + (f" (default: {f.default})" if f.default else "")
        _add(groups[f.runner], f.name, action=_RunnerFlagAction, flag=f, dest=_RUNNER_FLAGS_DEST,
             metavar=None if f.choices else f.metavar, choices=f.choices or None,
             help=text.replace("%", "%%"), default=None)


def _core_fields() -> list[str]:
    return [a.name for a in attrs.fields(PipelineOptions) if a.name not in ("extra_args", "args")]


def _unknown(rest: list[str], parser: argparse.ArgumentParser) -> str:
    """The error text for arguments no option took, with the closest known option."""
    names: dict[str, str] = {}  # spelling with dashes -> the option as -h shows it
    for action in parser._actions:
        for s in action.option_strings:
            names.setdefault(s.replace("_", "-"), s)
    flags = [a for a in rest if re.match(r"-{1,2}[A-Za-z]", a)]
    if not flags:
        return f"unexpected argument{'s' if len(rest) > 1 else ''} {' '.join(rest)}"
    parts = []
    for a in flags:
        name = a.partition("=")[0]
        close = difflib.get_close_matches(name.replace("_", "-"), list(names), n=1, cutoff=0.6)
        parts.append(f"{name} (did you mean {names[close[0]]}?)" if close else name)
    return f"unknown option{'s' if len(parts) > 1 else ''} {', '.join(parts)}"


@attrs.frozen
class PipelineOptions:
    """Options shared by all runners (see the module rules).

    ``extra_args``: the runner flags given, as ``--name=value`` strings, in order.
    ``args``: the program's own flags (declared with ``add_arguments``), a Namespace.

    >>> PipelineOptions(checkpoint_dir="/tmp/chk").with_(batch_size=100).batch_size
    100
    """

    runner: str = "direct"
    checkpoint_dir: str | None = None
    checkpoint_interval: float = 10.0
    batch_size: int = 4096
    on_error: str = attrs.field(default="fail", validator=lambda _, a, v: _one_of(a.name, v))
    max_event_time_ahead: float | None = attrs.field(default=86400.0, validator=_check_ahead)
    progress: str = attrs.field(default="auto", validator=lambda _, a, v: _one_of(a.name, v))
    restart_attempts: int = 0
    restart_delay: float = 1.0
    kafka_client: str = attrs.field(default="auto", validator=lambda _, a, v: _one_of(a.name, v))
    kafka_broker_timeout: float = 60.0
    extra_args: tuple[str, ...] = ()
    args: argparse.Namespace = attrs.field(factory=argparse.Namespace, hash=False)

    @classmethod
    def parser(cls, add_arguments: AddArguments | None = None,
               prog: str | None = None) -> argparse.ArgumentParser:
        """The parser of every option :meth:`from_argv` accepts (its ``-h`` lists them all)."""
        p = _Parser(prog=prog, usage="%(prog)s [options]", allow_abbrev=False,
                    formatter_class=_HelpFormatter)
        if add_arguments is not None:
            add_arguments(p.add_argument_group(
                "program options", "the program's own flags (declared by its add_arguments)"))
        _add_core_options(p.add_argument_group("pipeline options"))
        _add_runner_flags(p, runner_flags())
        return p

    @classmethod
    def from_argv(cls, argv: Sequence[str] | None = None,
                  add_arguments: AddArguments | None = None,
                  prog: str | None = None) -> PipelineOptions:
        """Parse ``argv`` (default: ``sys.argv[1:]``) by the module rules. ``add_arguments``
        declares the program's own flags; ``prog`` names the program in ``-h`` and errors."""
        from_sys = argv is None
        argv = list(sys.argv[1:] if argv is None else argv)
        parser = cls.parser(add_arguments, prog)
        ns, rest = parser.parse_known_args(argv)
        if rest:
            hint = f"; `{prog} -h` lists every option" if prog else "; -h lists every option"
            if from_sys:
                hint += (" (the options were read from sys.argv: pass argv=[] to "
                         "fluvial.Pipeline to ignore the command line)")
            raise PipelineConstructionError(f"pipeline options: {_unknown(rest, parser)}{hint}")
        values = vars(ns)
        core = {name: values.pop(name) for name in _core_fields()}
        runner_args = values.pop(_RUNNER_FLAGS_DEST, None) or []
        return cls(**core, extra_args=tuple(runner_args), args=argparse.Namespace(**values))

    def with_(self, **changes: object) -> PipelineOptions:
        return attrs.evolve(self, **changes)
