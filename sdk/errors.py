"""fluvial's exceptions. Every message names the transform label and what to do.

Messages that show an element or a user exception's text show a bounded form of it
(:func:`bounded_repr`, :func:`bounded_text`): a 10 MB element makes a message of a few hundred
characters, not of 10 MB. The exception object keeps the whole element (``.element``,
``.record``), and a dead-letter record keeps the whole payload.

>>> len(bounded_repr("x" * 10_000_000)) <= ELEMENT_TEXT_LIMIT
True
>>> bounded_repr(("a", 1))
"('a', 1)"
"""

from __future__ import annotations

import reprlib
from typing import Any

ELEMENT_TEXT_LIMIT = 200
"""The longest text of an element (its bounded repr) a message embeds."""
CAUSE_TEXT_LIMIT = 1000
"""The longest text of a user exception's message another message embeds."""


def _shortener(limit: int) -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel = 4
    r.maxstring = r.maxother = r.maxlong = limit
    r.maxtuple = r.maxlist = r.maxarray = r.maxdict = r.maxset = r.maxfrozenset = 20
    r.maxdeque = 20
    return r


_SHORT = _shortener(ELEMENT_TEXT_LIMIT)


def bounded_repr(value: Any, limit: int = ELEMENT_TEXT_LIMIT) -> str:
    """``repr(value)``, at most ``limit`` characters (long strings, bytes and containers are
    cut with ``...`` without building their whole repr first)."""
    try:
        if isinstance(value, (bytes, bytearray)) and len(value) > limit:
            text = repr(bytes(value[:limit])) + "..."
        elif isinstance(value, str) and len(value) > limit:
            text = repr(value[:limit]) + "..."
        else:
            text = (_SHORT if limit == ELEMENT_TEXT_LIMIT else _shortener(limit)).repr(value)
    except Exception as e:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__} whose repr raised {type(e).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def bounded_text(exc: BaseException, limit: int = CAUSE_TEXT_LIMIT) -> str:
    """``str(exc)``, at most ``limit`` characters."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = f"<{type(exc).__name__} whose str raised>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    """An exception raised by user code; carries the transform label and the element (whole;
    the message shows a bounded form of it and of the exception's text). ``where`` replaces
    "while processing element ..." when the failure concerns no single element (e.g. a
    CombineFn's ``extract_output`` when a pane fires: ``where="in extract_output of key 'a',
    window [0, 60)"``).

    >>> str(UserCodeError("Parse", "x" * 10**6, ValueError("bad")))[:60]
    "user code in transform 'Parse' raised ValueError: bad while "
    """

    def __init__(self, label: str, element: object, cause: BaseException,
                 where: str | None = None) -> None:
        context = where if where is not None else (
            f"while processing element {bounded_repr(element)}")
        super().__init__(
            f"user code in transform '{label}' raised {type(cause).__name__}: "
            f"{bounded_text(cause)} {context}"
        )
        self.label = label
        self.element = element
        self.cause = cause
        self.where = where

    def __reduce__(self):
        return (type(self), (self.label, self.element, self.cause, self.where))


class SideInputError(FluvialError, ValueError):
    """A side input's contents do not fit its view (several elements in an AsSingleton's window,
    not (key, value) pairs for AsDict); the message names the transform and the side input."""


class ConfigurationError(FluvialError):
    """The pipeline's configuration does not fit its environment, found while it runs (e.g. a
    broker refused the credentials). Restarting does not change it, so the restart strategy
    never retries it; the message names the transform and the setting to fix."""


class RunnerNotFoundError(FluvialError):
    """An unknown runner name, or a runner whose extra is not installed."""


class CheckpointMismatchError(FluvialError):
    """The checkpoint directory holds a checkpoint of a different pipeline graph."""


class BadRecordError(FluvialError):
    """An element a sink cannot write (wrong shape, unserializable value). The data itself is
    wrong, so the restart strategy never retries it."""

    def __init__(self, label: str, element: object, reason: str) -> None:
        super().__init__(
            f"transform '{label}' cannot write element {bounded_repr(element)}: {reason}")
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
        text = bounded_repr(record)
        super().__init__(
            f"transform '{label}' cannot read the record at {where}: {reason}: {text}; fix the "
            "input, or pass on_error='dead_letter' (or --on-error dead_letter) to send such "
            "records to p.dead_letters(), or on_error='skip'"
        )
        self.label = label
        self.where = where
        self.reason = reason
        self.record = record


class BadElementError(FluvialError, ValueError):
    """An element a grouping or a stateful DoFn cannot take as it is: not a (key, value) pair,
    or a key that is not hashable. The data is wrong, so the restart strategy never retries it;
    the transform's error policy applies to it as to an exception of user code (a dead-letter
    record with the element, or a skip), and under ``"fail"`` it stops the run naming the
    transform and the element. Subclasses say which."""

    def __init__(self, label: str, element: object, message: str) -> None:
        super().__init__(message)
        self.label = label
        self.element = element

    def __reduce__(self):
        return (_rebuild, (type(self), self.label, self.element, str(self)))


def _rebuild(cls: type, label: str, element: object, message: str) -> BadElementError:
    e = cls.__new__(cls)
    BadElementError.__init__(e, label, element, message)
    return e


class NotKeyedError(BadElementError):
    """An element that is not a (key, value) pair reached a transform that needs one."""

    def __init__(self, label: str, element: object, what: str) -> None:
        super().__init__(
            label, element,
            f"transform '{label}' ({what}) needs (key, value) pairs, got "
            f"{bounded_repr(element)}; key the elements first, e.g. with WithKeys(...) / "
            "KeyBy(...) or Map(lambda x: (key(x), x))",
        )


class UnhashableKeyError(BadElementError):
    """The key of a (key, value) pair is not hashable, so it cannot be grouped by."""

    def __init__(self, label: str, element: object) -> None:
        key = element[0] if isinstance(element, (tuple, list)) and element else element
        super().__init__(
            label, element,
            f"transform '{label}': key {bounded_repr(key)} of element {bounded_repr(element)} "
            "is not hashable; use an immutable key such as a str, int or tuple",
        )


class EventTimeOutOfRangeError(ValueError):
    """An event time outside the supported range (:func:`fluvial.timeutil.check_event_time`):
    raised where the timestamp is given (``TimestampedValue(x, t)``, a source's record), so it
    is an exception of the code that made the element, and the transform's error policy applies
    to it; the restart strategy never retries it. ``timestamp_ms`` is the rejected time."""

    def __init__(self, message: str, timestamp_ms: int | None = None) -> None:
        super().__init__(message)
        self.timestamp_ms = timestamp_ms

    def __reduce__(self):
        return (type(self), (str(self), self.timestamp_ms))
