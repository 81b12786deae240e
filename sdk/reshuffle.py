"""Reshuffle: redistribute a PCollection's elements between workers without changing them (as
Beam's ``beam.Reshuffle``): values, timestamps, windows and panes pass through. Use it to
break fusion after a step that fans out (one element becoming many), so the many are spread
over the workers.

A composite: its expansion is a pass-through ParDo, which is all it means on a single-process
runner (the direct runner fuses it away). A runner with workers translates it natively (the
Beam runner: Beam's own Reshuffle).

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=[]) as p:
...     out = p | fl.Create([1, 2, 3]) | fl.FlatMap(lambda x: [x] * x) | fl.Reshuffle()
...     assert_that(out, equal_to([1, 2, 2, 3, 3, 3]))
"""

from __future__ import annotations

from typing import Any

from fluvial.dofn import DoFn
from fluvial.pardo import ParDo
from fluvial.ptransform import PTransform


class _PassThrough(DoFn):
    """Every element unchanged: the output keeps the input's timestamp, window and pane."""

    def process(self, element: Any) -> list:
        return [element]

    def process_batch(self, elements: list) -> list:
        return elements


class Reshuffle(PTransform):
    """Redistributes elements between workers; the elements, their timestamps and windows are
    unchanged (see the module docstring)."""

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "PassThrough" >> ParDo(_PassThrough())
