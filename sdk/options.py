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


def _positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def _non_negative_float(s: str) -> float:
    v = float(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {s}")
    return v


@attrs.frozen
class PipelineOptions:
    """Options shared by all runners; runner-specific flags stay in ``extra_args``."""

    runner: str = "direct"
    checkpoint_dir: str | None = None
    checkpoint_interval: float = 10.0
    batch_size: int = 4096
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
        p.add_argument("--batch-size", "--batch_size", dest="batch_size", type=_positive_int, default=4096,
                       help="elements a source hands over at once")
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
            extra_args=tuple(rest),
        )

    def with_(self, **changes: object) -> PipelineOptions:
        return attrs.evolve(self, **changes)
