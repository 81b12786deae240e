"""PipelineOptions: options are data, parsed from argv.

>>> o = PipelineOptions.from_argv(["--runner", "direct", "--checkpoint-interval", "5"])
>>> (o.runner, o.checkpoint_interval)
('direct', 5.0)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import attrs

from fluvial.errors import PipelineConstructionError


class _Parser(argparse.ArgumentParser):
    """Raises a fluvial error instead of exiting the process on a bad option."""

    def error(self, message: str):  # type: ignore[override]
        raise PipelineConstructionError(f"pipeline options: {message}")


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


_CHOICES = {"on_error": ("fail", "dead_letter", "skip"), "progress": ("auto", "on", "off")}


def _one_of(name: str, value: str) -> None:
    if value not in _CHOICES[name]:
        raise PipelineConstructionError(
            f"pipeline options: {name} must be one of {', '.join(_CHOICES[name])}, got {value!r}"
        )


@attrs.frozen
class PipelineOptions:
    """Options shared by all runners; runner-specific flags stay in ``extra_args``."""

    runner: str = "direct"
    checkpoint_dir: str | None = None
    checkpoint_interval: float = 10.0
    batch_size: int = 4096
    on_error: str = attrs.field(default="fail", validator=lambda _, a, v: _one_of(a.name, v))
    progress: str = attrs.field(default="auto", validator=lambda _, a, v: _one_of(a.name, v))
    restart_attempts: int = 0
    restart_delay: float = 1.0
    extra_args: tuple[str, ...] = ()

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        p = _Parser(add_help=False)
        p.add_argument("--runner", default="direct", help="direct | flink | beam (or a registered name)")
        p.add_argument("--checkpoint-dir", "--checkpoint_dir", dest="checkpoint_dir", default=None,
                       help="directory for periodic checkpoints; a restarted pipeline resumes from the latest")
        p.add_argument("--checkpoint-interval", "--checkpoint_interval", dest="checkpoint_interval",
                       type=_non_negative_float, default=10.0,
                       help="seconds between checkpoints (0: after every batch)")
        p.add_argument("--batch-size", "--batch_size", dest="batch_size", type=positive_int, default=4096,
                       help="elements a source hands over at once")
        p.add_argument("--on-error", "--on_error", dest="on_error", default="fail",
                       choices=_CHOICES["on_error"],
                       help="what an exception in user code does where a transform sets no "
                            "on_error: fail the run, send a record to p.dead_letters(), or skip")
        p.add_argument("--progress", default="auto", choices=_CHOICES["progress"],
                       help="live one-line status on stderr (auto: when stderr is a terminal)")
        p.add_argument("--restart-attempts", "--restart_attempts", dest="restart_attempts",
                       type=_non_negative_int, default=0,
                       help="with --checkpoint-dir: restart a failed run from the latest "
                            "checkpoint up to this many times")
        p.add_argument("--restart-delay", "--restart_delay", dest="restart_delay",
                       type=_non_negative_float, default=1.0,
                       help="seconds to wait before each restart")
        return p

    @classmethod
    def from_argv(cls, argv: Sequence[str] | None = None) -> PipelineOptions:
        if argv is None:
            argv = sys.argv[1:]
        ns, rest = cls.parser().parse_known_args(list(argv))
        return cls(
            runner=ns.runner,
            checkpoint_dir=ns.checkpoint_dir,
            checkpoint_interval=ns.checkpoint_interval,
            batch_size=ns.batch_size,
            on_error=ns.on_error,
            progress=ns.progress,
            restart_attempts=ns.restart_attempts,
            restart_delay=ns.restart_delay,
            extra_args=tuple(rest),
        )

    def with_(self, **changes: object) -> PipelineOptions:
        return attrs.evolve(self, **changes)
