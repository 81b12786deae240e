"""Create: a bounded PCollection from an in-memory iterable.

>>> import fluvial as fl
>>> p = fl.Pipeline(argv=[])
>>> pc = p | fl.Create([1, 2, fl.TimestampedValue(3, 10)])
"""

from __future__ import annotations

from typing import Any

from fluvial.errors import PipelineConstructionError
from fluvial.ptransform import PrimitiveTransform
from fluvial.windowing import Windowing


class Create(PrimitiveTransform):
    """Elements are in the global window at the minimum timestamp unless given as
    TimestampedValue. The watermark jumps to the end of time once all are emitted."""

    def __init__(self, values: Any) -> None:
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise PipelineConstructionError(
                f"Create needs an iterable of elements (e.g. a list), got {type(values).__name__}"
            )
        self.values = list(values)

    def default_label(self) -> str:
        return "Create"

    def expand_primitive(self, node, pipeline):
        from fluvial.pipeline import Pipeline

        if not isinstance(pipeline, Pipeline):
            raise PipelineConstructionError(
                f"transform '{node.full_label}': Create is applied to a pipeline: p | Create([...])"
            )
        return pipeline.new_pcollection(node, Windowing(), True)
