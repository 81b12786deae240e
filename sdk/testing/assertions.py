"""assert_that / equal_to: check a PCollection's contents when the pipeline runs.

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=[]) as p:
...     assert_that(p | fl.Create([1, 2, 3]), equal_to([3, 2, 1]))
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from fluvial.core_fns import EMPTY_MARKER, KeyWithNone, insert_default_if_empty
from fluvial.dofn import DoFn
from fluvial.errors import FluvialError
from fluvial.gbk import GroupByKey
from fluvial.pardo import ParDo
from fluvial.ptransform import PTransform
from fluvial.triggers import Never
from fluvial.window import GlobalWindows
from fluvial.windowinto import WindowInto


class PipelineAssertionError(AssertionError, FluvialError):
    """Raised by assert_that when the actual contents differ."""


def _hashable(x: Any) -> Any:
    if isinstance(x, tuple):
        return tuple(_hashable(v) for v in x)
    if isinstance(x, list):
        return ("__list__", tuple(_hashable(v) for v in x))
    if isinstance(x, dict):
        return ("__dict__", tuple(sorted(((k, _hashable(v)) for k, v in x.items()), key=repr)))
    if isinstance(x, (set, frozenset)):
        return ("__set__", tuple(sorted((_hashable(v) for v in x), key=repr)))
    return x


def equal_to(expected: Iterable[Any]) -> Callable[[list[Any]], None]:
    """Matcher: same elements with the same multiplicities, in any order."""
    exp = list(expected)

    def match(actual: list[Any]) -> None:
        a = Counter(_hashable(x) for x in actual)
        e = Counter(_hashable(x) for x in exp)
        if a != e:
            missing = list((e - a).elements())
            unexpected = list((a - e).elements())
            raise PipelineAssertionError(
                f"PCollection contents differ: missing {missing!r}, unexpected {unexpected!r} "
                f"(expected {len(exp)} elements, got {len(actual)})"
            )

    return match


def is_empty() -> Callable[[list[Any]], None]:
    return equal_to([])


class _Reify(DoFn):
    def process(self, x, w=DoFn.WindowParam, pane=DoFn.PaneInfoParam, ts=DoFn.TimestampParam):
        from fluvial.window import GlobalWindow

        bounds = None if isinstance(w, GlobalWindow) else (w.start_ms / 1000, w.end_ms / 1000)
        yield (x, bounds, pane.timing.value, pane.index)


class _Check(DoFn):
    def __init__(self, matcher: Callable[[list[Any]], None]) -> None:
        self.matcher = matcher

    def process(self, kv):
        values = [v for v in kv[1] if v is not EMPTY_MARKER]
        self.matcher(values)
        return []


class MatchContents(PTransform):
    """Applies ``matcher`` to the whole contents of its input once the input is exhausted (the
    part of assert_that after reifying windows). Its expansion is the model's: every element in
    the global window with the Never trigger, grouped under one key, matched when the window
    ends at the end of input (an empty input is matched too). A runner may translate it
    natively when its groupings could lose elements the model does not (the Beam runner records
    every element and matches them after the run: Beam's DirectRunner does not hold a stateful
    DoFn's output watermark for its timers, so a grouping there drops timer outputs emitted at
    the end of input)."""

    def __init__(self, matcher: Callable[[list[Any]], None]) -> None:
        self.matcher = matcher

    def expand(self, pcoll):
        g = pcoll | "Global" >> WindowInto(GlobalWindows(), trigger=Never())
        keyed = insert_default_if_empty(g | "Key" >> KeyWithNone())
        keyed = keyed | "ReGlobal" >> WindowInto(GlobalWindows(), trigger=Never())
        return keyed | "Group" >> GroupByKey() | "Check" >> ParDo(_Check(self.matcher))


class _AssertThat(PTransform):
    def __init__(self, matcher: Callable[[list[Any]], None], reify_windows: bool) -> None:
        self.matcher = matcher
        self.reify_windows = reify_windows

    def expand(self, pcoll):
        if self.reify_windows:
            pcoll = pcoll | "Reify" >> ParDo(_Reify())
        return pcoll | "Match" >> MatchContents(self.matcher)


def assert_that(pcoll: Any, matcher: Callable[[list[Any]], None], label: str = "assert_that", reify_windows: bool = False) -> None:
    """Check ``pcoll``'s whole contents with ``matcher`` once the input is exhausted. With
    ``reify_windows`` elements become ``(value, (start_s, end_s) | None, timing, pane_index)``."""
    pcoll.pipeline.apply(_AssertThat(matcher, reify_windows), pcoll, label=label)
