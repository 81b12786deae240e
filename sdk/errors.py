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


class CheckpointError(FluvialError):
    """A checkpoint directory or file that cannot be used safely. Restarting does not change
    that, so the restart strategy never retries it; the message names the path and the fix."""


class CheckpointSecurityError(CheckpointError):
    """The checkpoint directory, its key or a checkpoint file is not trustworthy: owned by
    another user, writable by group or others, or a file that is not an authentic checkpoint of
    this directory (not written with its key). Nothing in it is deserialised."""


class CheckpointCorruptError(CheckpointError):
    """A checkpoint is damaged (truncated, checksum mismatch, unreadable) and no older intact
    checkpoint can be restored without writing committed output twice, or the output a
    checkpoint covers (e.g. a file sink's staged part) is gone."""


class CheckpointLockedError(CheckpointError):
    """Another running pipeline holds the checkpoint directory (one writer per directory)."""


class CheckpointWriteError(FluvialError, OSError):
    """Writing a checkpoint failed (e.g. the disk is full). The message names the file; the
    temporary file is removed. ``maybe_written`` is True when the failure came after the file
    was renamed into place (it may be durable). A runtime failure: the restart strategy may
    retry it."""

    def __init__(self, path: str, cause: OSError, maybe_written: bool = False) -> None:
        what = "finish writing" if maybe_written else "write"
        OSError.__init__(
            self, cause.errno,
            f"cannot {what} checkpoint {path}: {cause.strerror or cause}; free space on (or "
            "repair) the file system of the checkpoint directory",
        )
        self.path = path
        self.cause = cause
        self.maybe_written = maybe_written

    def __str__(self) -> str:
        return str(self.strerror)


class BadInputError(FluvialError, ValueError):
    """A record a source cannot decode (bytes not valid in its encoding, malformed JSON, no
    usable timestamp). The input itself is wrong, so the restart strategy never retries it;
    the source's ``on_error="dead_letter"`` or ``"skip"`` handles such records without failing.
    """

    def __init__(self, label: str, where: str, reason: str, record: object) -> None:
        text = repr(record)
        if len(text) > 200:
            text = text[:200] + "..."
        super().__init__(
            f"transform '{label}' cannot read the record at {where}: {reason}: {text}; fix the "
            "input, or pass on_error='dead_letter' (or --on-error dead_letter) to send such "
            "records to p.dead_letters(), or on_error='skip'"
        )
        self.label = label
        self.where = where
        self.reason = reason
        self.record = record
