"""A conformance case: a pipeline built from a TestStream (or Create), and the golden output
written by hand from the model's semantics.

Golden records are :class:`Out` values. Each output element of the case's pipeline is
normalised to one record per window:

* ``value``: the element (tuples become lists, as in JSON),
* ``window``: ``(start_s, end_s)`` in seconds for interval windows, ``None`` for the global window,
* ``timestamp``: the event timestamp in seconds (``None`` in an :class:`Out` means "not checked"),
* ``pane``: ``(timing, is_first, is_last, index, nonspeculative_index)``
  (``None`` in an :class:`Out` means "not checked").

Comparison is as multisets (order-free).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs


def _norm(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_norm(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _norm(v) for k, v in x.items()}
    if isinstance(x, float) and x == int(x) and abs(x) < 2**53:
        return int(x)
    return x


@attrs.frozen
class Out:
    """One expected output record. ``pane`` is ``(timing, first, last, index, ns_index)``."""

    value: Any
    window: tuple | None = None
    pane: tuple | None = ("ON_TIME", True, True, 0, 0)
    timestamp: float | None = None

    def normalized(self) -> dict:
        return {
            "value": _norm(self.value),
            "window": None if self.window is None else [_norm(self.window[0]), _norm(self.window[1])],
            "timestamp": None if self.timestamp is None else _norm(self.timestamp),
            "pane": None if self.pane is None else list(self.pane),
        }


# pane shorthands
def on_time(index: int = 0, first: bool = True, last: bool = True, ns: int | None = None) -> tuple:
    return ("ON_TIME", first, last, index, index if ns is None else ns)


def early(index: int, first: bool | None = None, last: bool = False) -> tuple:
    return ("EARLY", index == 0 if first is None else first, last, index, -1)


def late(index: int, ns: int, last: bool = False, first: bool = False) -> tuple:
    return ("LATE", first, last, index, ns)


def unknown() -> tuple:
    """Elements not produced by a grouping (ParDo outputs of unwindowed input)."""
    return ("UNKNOWN", True, True, 0, 0)


def _check_tags(case: Case, attribute: Any, tags: tuple[str, ...]) -> None:
    from fluvial.testing.conformance.capabilities import check_tags

    check_tags(tags, f"conformance case {case.name!r}")


@attrs.frozen
class Case:
    """``build(p)`` returns the PCollection whose contents are checked against ``expected``.
    ``tags`` are the capability tags of the features the case uses, from
    :data:`~fluvial.testing.conformance.capabilities.CAPABILITIES` (a runner lacking one reports
    the case unsupported without running it). ``counters`` optionally names metric counters and
    their expected totals (e.g. dropped late data)."""

    name: str
    tags: tuple[str, ...] = attrs.field(validator=_check_tags)
    build: Callable[[Any], Any]
    expected: tuple[Out, ...]
    description: str = ""
    counters: tuple[tuple[str, int], ...] = ()
