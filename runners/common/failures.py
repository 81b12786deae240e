"""What a runner does with a failure at run time, written once for every runner: the error a
run fails with, and a transform's error policy (:mod:`fluvial.deadletter`: ``"fail"``,
``"dead_letter"``, ``"skip"``).

* :func:`user_error`: fluvial's own errors as they are (they name the transform already),
  anything else as a :class:`~fluvial.errors.UserCodeError` naming the transform and the
  element.
* :func:`apply_policy`, called from an ``except`` block: under ``"fail"``, and for errors
  fluvial raises about how a DoFn is used whatever the policy
  (:func:`~fluvial.deadletter.policy_applies`), it raises; under ``"skip"`` it returns None
  (the runner counts ``fluvial/errors_skipped`` under the transform); under ``"dead_letter"`` it
  returns the :class:`~fluvial.deadletter.DeadLetterRecord` the runner sends to
  ``p.dead_letters()`` (counted in ``fluvial/dead_letters``). The runners differ only in where
  the count and the record go.

>>> apply_policy("Parse", "skip", ValueError("bad"), "x", 5) is None
True
>>> apply_policy("Parse", "dead_letter", ValueError("bad"), "x", 5).error_type
'ValueError'
>>> try:
...     raise ValueError("bad")
... except ValueError as e:
...     apply_policy("Parse", "fail", e, "x", 5)
Traceback (most recent call last):
...
fluvial.errors.UserCodeError: ...
"""

from __future__ import annotations

from typing import Any

from fluvial.deadletter import DeadLetterRecord, policy_applies
from fluvial.errors import FluvialError, UserCodeError


def user_error(label: str, element: Any, e: BaseException) -> BaseException:
    """``e`` as the error the run fails with (see the module docstring)."""
    if isinstance(e, FluvialError):
        return e
    return UserCodeError(label, element, e)


def apply_policy(label: str, policy: str, exc: BaseException, payload: Any,
                 timestamp_ms: int | None, where: str | None = None) -> DeadLetterRecord | None:
    """Apply the error policy ``policy`` of transform ``label`` to ``exc``, raised for
    ``payload`` (the element, or what describes the failure) at ``timestamp_ms``. ``where``
    describes a failure that concerns no single element (the UserCodeError of "fail" says it
    instead of "while processing element ...")."""
    if policy == "fail" or not policy_applies(exc):
        if isinstance(exc, FluvialError):
            raise exc  # names the transform already
        raise UserCodeError(label, payload, exc, where) from exc
    if policy == "skip":
        return None
    return DeadLetterRecord.from_exception(label, exc, payload, timestamp_ms=timestamp_ms)
