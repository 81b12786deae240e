"""Errors raised by direct-runner operators, naming the transform and the element."""

from __future__ import annotations

from typing import Any

from fluvial.errors import FluvialError, NotKeyedError, UnhashableKeyError, UserCodeError


def not_keyed(label: str, value: Any, what: str) -> NotKeyedError:
    return NotKeyedError(label, value, what)


def unhashable_key(label: str, value: Any) -> UnhashableKeyError:
    return UnhashableKeyError(label, value)


def user_error(label: str, element: Any, e: BaseException) -> BaseException:
    if isinstance(e, FluvialError):
        return e
    return UserCodeError(label, element, e)


def as_kv(label: str, value: Any, what: str) -> tuple:
    """``value`` as a (key, value) tuple, or :class:`~fluvial.errors.NotKeyedError` naming
    the transform."""
    if type(value) is tuple and len(value) == 2:
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return tuple(value)
    raise not_keyed(label, value, what)


def checked_kv(label: str, value: Any, what: str) -> tuple:
    """:func:`as_kv`, and :class:`~fluvial.errors.UnhashableKeyError` when the key cannot be
    hashed (so a grouping can tell a bad element from a failure of user code)."""
    kv = as_kv(label, value, what)
    try:
        hash(kv[0])
    except TypeError:
        raise unhashable_key(label, kv) from None
    return kv
