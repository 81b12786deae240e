"""The direct runner's restart strategy: which failures a restart from the latest checkpoint
can heal, and the bounded retry loop.

A run that fails at runtime (user code or a sink raising, a broker error) is restarted when
``--checkpoint-dir`` is set and ``--restart-attempts`` allows it: the failed executor has aborted
its sinks, a fresh one restores the latest checkpoint (re-committing what that checkpoint covered
and discarding the rest) and runs again. Errors in the pipeline itself never heal by restarting
and are raised at once: construction and configuration errors (also those found while running,
:class:`ConfigurationError`, e.g. credentials a broker refused), a checkpoint written by another
pipeline graph, an unsafe, busy, damaged or forged checkpoint (:class:`CheckpointError`), bad
records (a sink's :class:`BadRecordError`, a source's :class:`BadInputError`, an element a
grouping cannot take, :class:`BadElementError`, an event time out of range,
:class:`EventTimeOutOfRangeError`), a feature the runner lacks, a missing runner (the rule is
shared by every runner:
:mod:`fluvial.runners.common.restart_policy`). A checkpoint that could not be *written* (e.g. a
full disk) is a runtime failure and is retried.

>>> from fluvial.errors import CheckpointCorruptError, CheckpointMismatchError, UserCodeError
>>> is_restartable(UserCodeError("Write", None, OSError("disk full")))
True
>>> is_restartable(CheckpointMismatchError("changed graph"))
False
>>> is_restartable(CheckpointCorruptError("chk-0000000007.ckpt is truncated"))
False
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fluvial.runners.common.restart_policy import NEVER_RESTARTED, is_restartable

__all__ = ["NEVER_RESTARTED", "is_restartable", "run_with_restarts"]

log = logging.getLogger("fluvial.restart")


def run_with_restarts(
    attempt: Callable[[int], Any],
    attempts: int,
    delay: float,
    can_restart: bool,
    failures: list[str],
) -> Any:
    """Call ``attempt(n)`` for n = 0, 1, ... until it returns; after a restartable failure try
    again (after ``delay`` seconds) while fewer than ``attempts`` restarts were made and
    ``can_restart``. Each healed failure is appended to ``failures`` as "Type: message" and
    logged (a WARNING of logger ``fluvial.restart``) before the restart."""
    n = 0
    while True:
        try:
            return attempt(n)
        except Exception as e:
            if not can_restart or n >= attempts or not is_restartable(e):
                raise
            failures.append(f"{type(e).__name__}: {e}")
            n += 1
            log.warning("the run failed (%s: %s); restarting from the latest checkpoint in %gs "
                        "(restart %d of %d)", type(e).__name__, e, delay, n, attempts)
            if delay > 0:
                time.sleep(delay)
