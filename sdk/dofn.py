"""DoFn: user code for ParDo, with the lifecycle setup → start_bundle → process → finish_bundle
→ teardown, parameters requested by default values, tagged side outputs, state and timers, and a
batch API.

>>> class SplitWords(DoFn):
...     def process(self, line, ts=DoFn.TimestampParam):
...         for w in line.split():
...             yield w

Batch API: define ``process_batch(self, values)`` returning one output per input (a list or a
NumPy array); with ``batch_type = "numpy"`` values arrive as a NumPy array. Elements keep their
timestamps and windows. The direct runner uses it for whole batches; other runners may call it
with batches of any size, so it must be elementwise.
"""

from __future__ import annotations

from typing import Any


class _Param:
    __slots__ = ("kind", "spec")

    def __init__(self, kind: str, spec: Any = None) -> None:
        self.kind = kind
        self.spec = spec

    def __repr__(self) -> str:
        return f"DoFn.{self.kind}Param" + (f"({self.spec!r})" if self.spec is not None else "")


class DoFn:
    """Base class for user functions of ParDo."""

    TimestampParam = _Param("Timestamp")
    WindowParam = _Param("Window")
    PaneInfoParam = _Param("PaneInfo")
    KeyParam = _Param("Key")
    ElementParam = _Param("Element")

    batch_type: str = "list"

    @staticmethod
    def StateParam(spec: Any) -> _Param:  # noqa: N802 - Beam's name
        return _Param("State", spec)

    @staticmethod
    def TimerParam(spec: Any) -> _Param:  # noqa: N802 - Beam's name
        return _Param("Timer", spec)

    def setup(self) -> None:
        """Called once per DoFn instance before any bundle."""

    def start_bundle(self) -> None:
        """Called before each bundle of elements."""

    def process(self, element: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement process()")

    def finish_bundle(self) -> Any:
        """Called after each bundle; may yield WindowedValue outputs."""

    def teardown(self) -> None:
        """Called once when the DoFn instance is discarded."""

    def default_label(self) -> str:
        return type(self).__name__


class CallableDoFn(DoFn):
    """Wraps a plain function as a DoFn (used by Map/FlatMap/Filter)."""

    def __init__(self, fn: Any, kind: str) -> None:
        self.fn = fn
        self.kind = kind

    def default_label(self) -> str:
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"{self.kind}({name})"
