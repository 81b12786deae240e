"""Keys of keyed operators on Flink: what makes an element a (key, value) pair, and the errors
naming the transform when it is not one. Flink partitions and scopes state by the pickled
key, so keys that are equal in Python but pickle differently (``1``, ``1.0`` and ``True``) are
different keys on this runner; the other runners group by Python equality.

>>> as_kv("G", ["a", 1], "GroupByKey")
('a', 1)
"""

from __future__ import annotations

from typing import Any

from fluvial.errors import FluvialError


def as_kv(label: str, value: Any, what: str) -> tuple:
    """``value`` as a (key, value) tuple, or an error naming the transform."""
    if type(value) is tuple and len(value) == 2:
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return tuple(value)
    raise FluvialError(
        f"transform '{label}' ({what}) needs (key, value) pairs, got {value!r}; key the elements "
        "first, e.g. with WithKeys(...) / KeyBy(...) or Map(lambda x: (key(x), x))"
    )


def check_key(label: str, kv: tuple) -> Any:
    """The key of ``kv``; an error naming the transform when it is not hashable (the other
    runners group by Python equality, which needs a hashable key)."""
    try:
        hash(kv[0])
    except TypeError:
        raise FluvialError(
            f"transform '{label}': key {kv[0]!r} of element {kv!r} is not hashable; use an "
            "immutable key such as a str, int or tuple"
        ) from None
    return kv[0]
