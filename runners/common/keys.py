"""What makes an element a (key, value) pair for a keyed transform (GroupByKey, CombinePerKey,
a stateful ParDo), written once for every runner. A value that is not one, or whose key cannot
be hashed (every runner groups or partitions by the key), is bad data:
:class:`~fluvial.errors.NotKeyedError` / :class:`~fluvial.errors.UnhashableKeyError` name the
transform, and the transform's error policy applies to them
(:func:`fluvial.deadletter.policy_applies`).

>>> as_kv("G", ["a", 1], "GroupByKey")
('a', 1)
>>> checked_kv("G", ([1], 2), "GroupByKey")
Traceback (most recent call last):
...
fluvial.errors.UnhashableKeyError: ...
"""

from __future__ import annotations

from typing import Any

from fluvial.errors import NotKeyedError, UnhashableKeyError


def as_kv(label: str, value: Any, what: str) -> tuple:
    """``value`` as a (key, value) tuple (a 2-tuple as it is, a 2-list as a tuple), or
    :class:`~fluvial.errors.NotKeyedError` naming the transform ``label`` (a ``what``)."""
    if type(value) is tuple and len(value) == 2:
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return tuple(value)
    raise NotKeyedError(label, value, what)


def checked_kv(label: str, value: Any, what: str) -> tuple:
    """:func:`as_kv`, and :class:`~fluvial.errors.UnhashableKeyError` when the key cannot be
    hashed (so a grouping can tell a bad element from a failure of user code)."""
    kv = as_kv(label, value, what)
    try:
        hash(kv[0])
    except TypeError:
        raise UnhashableKeyError(label, kv) from None
    return kv
