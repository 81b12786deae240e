"""Which failures a restart from the latest checkpoint can heal: the rule every runner's restart
strategy follows (the direct runner's retry loop, the Flink runner's cancel of a job whose
failure a restart cannot heal).

Runtime failures (user code or a sink raising, a broker error, a checkpoint that could not be
written) are restartable. Errors in the pipeline itself never heal by restarting: construction
and configuration errors (also those found while running, :class:`ConfigurationError`, e.g.
credentials a broker refused), a checkpoint written by another pipeline graph, an unsafe, busy,
damaged or forged checkpoint (:class:`CheckpointError`), bad records (a sink's
:class:`BadRecordError`, a source's :class:`BadInputError`, an element a grouping cannot take,
:class:`BadElementError`, an event time out of range, :class:`EventTimeOutOfRangeError`), a
feature the runner lacks, a missing runner; also when user code raised one of those.

>>> from fluvial.errors import BadRecordError, UserCodeError
>>> is_restartable(UserCodeError("Write", None, OSError("disk full")))
True
>>> is_restartable(UserCodeError("Write", None, BadRecordError("Write", 1, "not a pair")))
False
"""

from __future__ import annotations

from fluvial.errors import (
    BadElementError,
    BadInputError,
    BadRecordError,
    CheckpointError,
    CheckpointMismatchError,
    ConfigurationError,
    EventTimeOutOfRangeError,
    PipelineConstructionError,
    RunnerNotFoundError,
    UnsupportedFeatureError,
    UserCodeError,
)

NEVER_RESTARTED: tuple[type[BaseException], ...] = (
    BadRecordError,
    BadInputError,
    BadElementError,
    EventTimeOutOfRangeError,
    CheckpointError,
    ConfigurationError,
    PipelineConstructionError,
    CheckpointMismatchError,
    UnsupportedFeatureError,
    RunnerNotFoundError,
)


def is_restartable(exc: BaseException) -> bool:
    """True for runtime failures; False for errors in the pipeline or its configuration
    (also when user code raised one of those), and for anything not an ``Exception``."""
    if not isinstance(exc, Exception):
        return False
    if isinstance(exc, NEVER_RESTARTED):
        return False
    if isinstance(exc, UserCodeError) and isinstance(exc.cause, NEVER_RESTARTED):
        return False
    return True
