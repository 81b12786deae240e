"""fluvial's exceptions. Every message names the transform label and what to do."""

from __future__ import annotations


class FluvialError(Exception):
    """Base of fluvial's errors."""


class PipelineConstructionError(FluvialError, ValueError):
    """A pipeline is malformed; raised while it is built, naming the transform label."""


class UnsupportedFeatureError(FluvialError):
    """A runner cannot express a feature; raised at translation time."""

    def __init__(self, runner: str, label: str, feature: str) -> None:
        super().__init__(f"runner '{runner}' cannot run transform '{label}': {feature}")
        self.runner = runner
        self.label = label
        self.feature = feature


class UserCodeError(FluvialError):
    """An exception raised by user code; carries the transform label and the element."""

    def __init__(self, label: str, element: object, cause: BaseException) -> None:
        super().__init__(
            f"user code in transform '{label}' raised {type(cause).__name__}: {cause} "
            f"while processing element {element!r}"
        )
        self.label = label
        self.element = element
        self.cause = cause


class RunnerNotFoundError(FluvialError):
    """An unknown runner name, or a runner whose extra is not installed."""


class CheckpointMismatchError(FluvialError):
    """The checkpoint directory holds a checkpoint of a different pipeline graph."""


class BadRecordError(FluvialError):
    """An element a sink cannot write (wrong shape, unserializable value). The data itself is
    wrong, so the restart strategy never retries it."""

    def __init__(self, label: str, element: object, reason: str) -> None:
        super().__init__(f"transform '{label}' cannot write element {element!r}: {reason}")
        self.label = label
        self.element = element
        self.reason = reason
