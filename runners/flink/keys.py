"""Keys of keyed operators on Flink: what makes an element a (key, value) pair, and the errors
naming the transform when it is not one (:class:`~fluvial.errors.BadElementError`: the keyed
transform's error policy applies to them, in the operator that keys the elements). Flink partitions and scopes state by the pickled
key, so keys that are equal in Python but pickle differently (``1``, ``1.0`` and ``True``) are
different keys on this runner; the other runners group by Python equality.

>>> as_kv("G", ["a", 1], "GroupByKey")
('a', 1)
"""

from __future__ import annotations

from typing import Any

from fluvial.errors import NotKeyedError, UnhashableKeyError


def as_kv(label: str, value: Any, what: str) -> tuple:
    """``value`` as a (key, value) tuple, or :class:`~fluvial.errors.NotKeyedError` naming the
    transform (bad data: the transform's error policy applies)."""
    if type(value) is tuple and len(value) == 2:
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return tuple(value)
    raise NotKeyedError(label, value, what)


def check_key(label: str, kv: tuple) -> Any:
    """The key of ``kv``; :class:`~fluvial.errors.UnhashableKeyError` naming the transform when
    it is not hashable (the other runners group by Python equality, which needs a hashable
    key)."""
    try:
        hash(kv[0])
    except TypeError:
        raise UnhashableKeyError(label, kv) from None
    return kv[0]
