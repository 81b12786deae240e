"""Fusion passes: rewrite a translation plan (a list of steps, each a leaf of the
:class:`~fluvial.runners.common.graph.TranslationGraph`) into one where some leaves form a fused
group the runner translates as one unit. A runner chooses which passes to run; each pass keeps
the order of the plan (a group takes the place of its first leaf) and leaves every other step
as it is.

* :func:`fuse_pardo_chains` -> :class:`ParDoChain`: stateless ParDos where each member reads
  the main output of the one before, is its only reader, and has no side inputs; only the last
  member may have tagged outputs (a member with tags ends the chain). Each member keeps its own
  label and error policy; the chain's outputs are the last member's. With
  ``window_into=True`` a WindowInto (element-wise: it assigns windows) is a member too, for a
  runner that runs window assignment as a step of its fused operator (the Flink runner); a
  runner with its own window-assignment operator leaves it out (the direct runner).
* :func:`fuse_windowed_combines` -> :class:`WindowedCombine`: a WindowInto whose output is read
  only by a grouping (CombinePerKey or GroupByKey), when the runner's ``accept(window_into,
  grouping)`` says the pair has a fused implementation with the same result (the direct runner:
  :mod:`fluvial.runners.direct.fast_paths`). The group's outputs are the grouping's.

>>> import fluvial as fl
>>> from fluvial.runners.common.graph import TranslationGraph
>>> p = fl.Pipeline(argv=[])
>>> _ = p | fl.Create([1]) | "A" >> fl.Map(str) | "B" >> fl.Map(len)
>>> g = TranslationGraph(p, p.options)
>>> steps = fuse_pardo_chains(g, g.leaves)
>>> [type(s).__name__ for s in steps], steps[1].labels
(['AppliedTransform', 'ParDoChain'], ('A/ParDo', 'B/ParDo'))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from fluvial.combine import CombinePerKey
from fluvial.gbk import GroupByKey
from fluvial.pardo import ParDo
from fluvial.windowinto import WindowInto


@attrs.frozen
class ParDoChain:
    """Stateless ParDos (and WindowIntos, when the pass was asked to) fused into one step (see
    the module rules)."""

    nodes: tuple[Any, ...]

    @property
    def first(self) -> Any:
        return self.nodes[0]

    @property
    def last(self) -> Any:
        return self.nodes[-1]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(n.full_label for n in self.nodes)


@attrs.frozen
class WindowedCombine:
    """A WindowInto and the grouping (CombinePerKey or GroupByKey) reading it, fused into one
    step; ``combine`` is the grouping."""

    window_into: Any
    combine: Any

    @property
    def first(self) -> Any:
        return self.window_into

    @property
    def last(self) -> Any:
        return self.combine


def _chainable(node: Any, window_into: bool) -> bool:
    t = node.transform
    if not node.is_primitive:
        return False
    if isinstance(t, WindowInto):
        return window_into
    return (
        isinstance(t, ParDo)
        and not t.signature.is_stateful
        and len(node.inputs) == 1  # no side inputs
    )


def fuse_pardo_chains(graph: Any, steps: Sequence[Any], window_into: bool = False) -> list[Any]:
    """``steps`` with chains of two or more stateless ParDos (and WindowIntos, with
    ``window_into``) as :class:`ParDoChain`.

    >>> import fluvial as fl
    >>> from fluvial.runners.common.graph import TranslationGraph
    >>> p = fl.Pipeline(argv=[])
    >>> _ = (p | fl.Create([("k", 1)]) | "Key" >> fl.Map(tuple)
    ...      | "Win" >> fl.WindowInto(fl.FixedWindows(60)) | "Group" >> fl.GroupByKey())
    >>> g = TranslationGraph(p, p.options)
    >>> [type(s).__name__ for s in fuse_pardo_chains(g, g.leaves)]
    ['AppliedTransform', 'AppliedTransform', 'AppliedTransform', 'AppliedTransform']
    >>> fuse_pardo_chains(g, g.leaves, window_into=True)[1].labels
    ('Key/ParDo', 'Win')
    """
    placed: list[Any] = []  # steps, a chain as the (mutable) list of its members
    open_tail: dict[int, list[Any]] = {}  # pcoll id -> the chain whose last member makes it
    for step in steps:
        if not (hasattr(step, "transform") and _chainable(step, window_into)):
            placed.append(step)
            continue
        pc_in = step.inputs[0]
        chain = open_tail.pop(id(pc_in), None)
        if chain is not None and len(graph.consumers(pc_in)) == 1:
            chain.append(step)
        else:
            chain = [step]
            placed.append(chain)
        if not getattr(step.transform, "output_tags", ()):
            open_tail[id(step.outputs[None])] = chain
    out: list[Any] = []
    for s in placed:
        if isinstance(s, list):
            out.append(s[0] if len(s) == 1 else ParDoChain(tuple(s)))
        else:
            out.append(s)
    return out


def fuse_windowed_combines(
    graph: Any, steps: Sequence[Any], accept: Callable[[Any, Any], bool]
) -> list[Any]:
    """``steps`` with each WindowInto + grouping pair that ``accept`` takes as a
    :class:`WindowedCombine` (at the WindowInto's place; the grouping's step removed)."""
    out: list[Any] = []
    fused: set[int] = set()
    for step in steps:
        t = getattr(step, "transform", None)
        if isinstance(t, WindowInto) and step.is_primitive:
            readers = graph.consumers(step.outputs[None])
            if (len(readers) == 1 and readers[0].is_primitive
                    and isinstance(readers[0].transform, (CombinePerKey, GroupByKey))
                    and accept(step, readers[0])):
                out.append(WindowedCombine(step, readers[0]))
                fused.add(id(readers[0]))
                continue
        out.append(step)
    return [s for s in out if id(s) not in fused]
