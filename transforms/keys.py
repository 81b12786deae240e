"""Key-value helpers: WithKeys, KeyBy, Keys, Values, KvSwap.

All are Maps over module-level functions (picklable, and run by the direct call path).

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     kvs = p | fl.Create(["apple", "fig"]) | KeyBy(len)
...     assert_that(kvs, equal_to([(5, "apple"), (3, "fig")]))
...     assert_that(kvs | "V" >> Values(), equal_to(["apple", "fig"]), label="values")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fluvial.elementwise import Map
from fluvial.errors import PipelineConstructionError
from fluvial.ptransform import PTransform

__all__ = ["WithKeys", "KeyBy", "Keys", "Values", "KvSwap"]


def _key_by(x: Any, fn: Callable[[Any], Any]) -> tuple:
    return (fn(x), x)


_key_by.__name__ = "key_by"


def _with_key(x: Any, key: Any) -> tuple:
    return (key, x)


def _key(kv: Any) -> Any:
    return kv[0]


def _value(kv: Any) -> Any:
    return kv[1]


def _swap(kv: Any) -> tuple:
    return (kv[1], kv[0])


class WithKeys(PTransform):
    """``x`` → ``(key, x)``, where the key is ``fn_or_value(x)`` when callable, else the value
    itself (a constant key).

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create([1]) | WithKeys("k"), equal_to([("k", 1)]))
    """

    def __init__(self, fn_or_value: Any, *, on_error: str | None = None) -> None:
        self.fn_or_value = fn_or_value
        self.on_error = on_error  # validated by the Map it expands to

    def expand(self, pcoll: Any) -> Any:
        if callable(self.fn_or_value):
            return pcoll | "Map" >> Map(_key_by, self.fn_or_value, on_error=self.on_error)
        return pcoll | "Map" >> Map(_with_key, self.fn_or_value, on_error=self.on_error)


class KeyBy(WithKeys):
    """``x`` → ``(fn(x), x)``.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create(["ab"]) | KeyBy(len), equal_to([(2, "ab")]))
    """

    def __init__(self, fn: Callable[[Any], Any], *, on_error: str | None = None) -> None:
        if not callable(fn):
            raise PipelineConstructionError(
                f"KeyBy needs a function of the element, got {fn!r}; for a constant key use "
                "WithKeys(value)"
            )
        super().__init__(fn, on_error=on_error)


class Keys(PTransform):
    """``(k, v)`` → ``k``.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create([("a", 1)]) | Keys(), equal_to(["a"]))
    """

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "Map" >> Map(_key)


class Values(PTransform):
    """``(k, v)`` → ``v``.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create([("a", 1)]) | Values(), equal_to([1]))
    """

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "Map" >> Map(_value)


class KvSwap(PTransform):
    """``(k, v)`` → ``(v, k)``.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
    ...     assert_that(p | fl.Create([("a", 1)]) | KvSwap(), equal_to([(1, "a")]))
    """

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "Map" >> Map(_swap)
