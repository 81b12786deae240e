"""CoGroupByKey: group several keyed PCollections by key, per window.

Applied to a dict ``{"a": pc1, "b": pc2}`` it gives ``(key, {"a": [...], "b": [...]})``;
applied to a tuple or list ``(pc1, pc2)`` it gives ``(key, ([...], [...]))``. Every tag is
present in every output, with ``[]`` when that input has no value for the key in the window.
The inputs must have the same window function. The order of values inside a list is
unspecified.

Built from primitives: each input is tagged with a Map, the tagged inputs are Flattened, then
grouped with GroupByKey.

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     emails = p | "E" >> fl.Create([("amy", "a@x")])
...     phones = p | "P" >> fl.Create([("amy", "555"), ("bob", "556")])
...     joined = {"email": emails, "phone": phones} | CoGroupByKey()
...     # ("amy", {"email": ["a@x"], "phone": ["555"]}), ("bob", {"email": [], "phone": ["556"]})
...     rows = joined | Map(lambda kv: (kv[0], len(kv[1]["email"]), len(kv[1]["phone"])))
...     assert_that(rows, equal_to([("amy", 1, 1), ("bob", 0, 1)]))
"""

from __future__ import annotations

from typing import Any

from fluvial.elementwise import Map
from fluvial.errors import PipelineConstructionError
from fluvial.flatten import Flatten
from fluvial.gbk import GroupByKey
from fluvial.ptransform import PTransform
from fluvial.pvalue import PCollection

__all__ = ["CoGroupByKey"]


def _tag(kv: Any, index: int) -> tuple:
    return (kv[0], (index, kv[1]))


def _regroup(kv: Any, tags: tuple | None, width: int) -> tuple:
    lists: list[list] = [[] for _ in range(width)]
    for index, value in kv[1]:
        lists[index].append(value)
    if tags is None:
        return (kv[0], tuple(lists))
    return (kv[0], dict(zip(tags, lists, strict=True)))


class CoGroupByKey(PTransform):
    """Groups a dict or tuple of keyed PCollections by key (see the module docstring)."""

    def expand(self, pcolls: Any) -> Any:
        label = self.label or "CoGroupByKey"
        if isinstance(pcolls, dict):
            tags: tuple | None = tuple(pcolls)
            inputs = list(pcolls.values())
        elif isinstance(pcolls, (tuple, list)):
            tags = None
            inputs = list(pcolls)
        else:
            raise PipelineConstructionError(
                f"transform '{label}': CoGroupByKey is applied to a dict or tuple of "
                f"PCollections, e.g. {{'a': pc1, 'b': pc2}} | CoGroupByKey(); got {pcolls!r}"
            )
        if not inputs or not all(isinstance(pc, PCollection) for pc in inputs):
            raise PipelineConstructionError(
                f"transform '{label}': CoGroupByKey needs one or more PCollections, got {pcolls!r}"
            )
        first = inputs[0].windowing.window_fn
        for pc in inputs[1:]:
            if pc.windowing.window_fn != first:
                raise PipelineConstructionError(
                    f"transform '{label}': the inputs have different window functions "
                    f"({first!r} vs {pc.windowing.window_fn!r}); apply the same WindowInto to "
                    "every input first"
                )
        names = [str(t) for t in tags] if tags is not None else [str(i) for i in range(len(inputs))]
        tagged = [
            pc | f"Tag[{name}]" >> Map(_tag, i)
            for i, (name, pc) in enumerate(zip(names, inputs, strict=True))
        ]
        grouped = tagged | "Flatten" >> Flatten() | "GroupByKey" >> GroupByKey()
        return grouped | "Regroup" >> Map(_regroup, tags, len(inputs))
