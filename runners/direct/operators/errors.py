"""Errors raised by direct-runner operators, naming the transform and the element."""

from __future__ import annotations

from typing import Any

from fluvial.errors import FluvialError, UserCodeError


def not_keyed(label: str, value: Any, what: str) -> FluvialError:
    return FluvialError(
        f"transform '{label}' ({what}) needs (key, value) pairs, got {value!r}; key the elements "
        "first, e.g. with WithKeys(...) / KeyBy(...) or Map(lambda x: (key(x), x))"
    )


def unhashable_key(label: str, value: Any) -> FluvialError:
    return FluvialError(
        f"transform '{label}': key {value[0]!r} of element {value!r} is not hashable; use an "
        "immutable key such as a str, int or tuple"
    )


def user_error(label: str, element: Any, e: BaseException) -> BaseException:
    if isinstance(e, FluvialError):
        return e
    return UserCodeError(label, element, e)


def as_kv(label: str, value: Any, what: str) -> tuple:
    """``value`` as a (key, value) tuple, or a clear error naming the transform."""
    if type(value) is tuple and len(value) == 2:
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return tuple(value)
    raise not_keyed(label, value, what)
