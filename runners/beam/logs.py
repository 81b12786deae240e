"""Beam's log output in a fluvial program: kept out unless asked for.

* ``--beam-log-level LEVEL`` (``debug``, ``info``, ``warning``, ``error``, ``critical`` or
  ``off``; default ``off``) is the level of apache_beam's loggers while the runner translates and
  runs a pipeline; the previous levels come back afterwards. ``off`` silences them: a failing
  pipeline raises its error (a user-code failure as :class:`fluvial.UserCodeError`) without
  Beam's own report of it, which repeats the traceback once per retry.
* Records Beam's modules log through the root logger (``logging.warning(...)`` in apache_beam)
  follow the same level.
* Importing apache_beam logs through the root logger, which makes Python install a default
  handler on it (``logging.basicConfig``) in a program that configured no logging, and changes how
  every later log line looks; :func:`quiet_beam_import` prevents both.
* fluvial's own loggers are not touched (Python's default: warnings and errors on stderr).

>>> level_of(["--beam-log-level=error"]), level_of([])
(40, 60)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from fluvial.errors import PipelineConstructionError

from .options import flag_value

FLAG = "--beam-log-level"
LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "off": logging.CRITICAL + 10,
}
DEFAULT = "off"
_BEAM_PATH = f"{os.sep}apache_beam{os.sep}"


def level_of(extra_args: Sequence[str]) -> int:
    """The logging level ``--beam-log-level`` asks for in the pipeline's unparsed flags."""
    args = list(extra_args)
    name = DEFAULT
    for i, a in enumerate(args):
        if a.partition("=")[0] not in (FLAG, "--beam_log_level"):
            continue
        name, _ = flag_value(args, i)
    if name.lower() not in LEVELS:
        raise PipelineConstructionError(
            f"pipeline options: {FLAG} accepts {', '.join(LEVELS)}, got {name!r}"
        )
    return LEVELS[name.lower()]


class _FromBeamBelow(logging.Filter):
    """Drops records logged from apache_beam's modules below ``level``."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or _BEAM_PATH not in (record.pathname or "")


@contextmanager
def _root_guarded(level: int) -> Iterator[None]:
    """Inside: Beam's records on the root logger below ``level`` dropped, and a root logger
    without handlers gets Python's last-resort handler (what it prints through anyway), so a
    ``logging.warning()`` call does not install a default handler for good."""
    root = logging.getLogger()
    guard = None
    if not root.handlers:
        guard = logging.lastResort or logging.NullHandler()
        root.addHandler(guard)
    drop = _FromBeamBelow(level)
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)
        if guard is not None:
            root.removeHandler(guard)


@contextmanager
def quiet_beam_import() -> Iterator[None]:
    """Import apache_beam inside this block: what its modules log while loading is dropped, and
    no default handler is installed on the root logger."""
    with _root_guarded(LEVELS["off"]):
        yield


@contextmanager
def beam_log_level(level: int) -> Iterator[None]:
    """apache_beam's loggers (and its records on the root logger) at ``level`` inside."""
    beam_logger = logging.getLogger("apache_beam")
    before = beam_logger.level
    beam_logger.setLevel(level)
    try:
        with _root_guarded(level):
            yield
    finally:
        beam_logger.setLevel(before)
