"""Errors raised by direct-runner operators, naming the transform and the element (what makes a
(key, value) pair and the error a run fails with are the runners' shared rules:
:mod:`fluvial.runners.common.keys`, :mod:`fluvial.runners.common.failures`)."""

from __future__ import annotations

from typing import Any

from fluvial.errors import UnhashableKeyError
from fluvial.runners.common.failures import user_error
from fluvial.runners.common.keys import as_kv

__all__ = ["as_kv", "unhashable_key", "user_error"]


def unhashable_key(label: str, value: Any) -> UnhashableKeyError:
    return UnhashableKeyError(label, value)
