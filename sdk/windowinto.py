"""WindowInto: assign windows and set the trigger, accumulation mode, allowed lateness and
timestamp combiner for the groupings downstream.

>>> from fluvial import WindowInto, FixedWindows, AfterWatermark, AfterCount, AccumulationMode
>>> t = WindowInto(FixedWindows(60), trigger=AfterWatermark(early=AfterCount(10)),
...                accumulation_mode=AccumulationMode.ACCUMULATING, allowed_lateness=300)
"""

from __future__ import annotations

from typing import Any

from fluvial.ptransform import PrimitiveTransform
from fluvial.windowing import Windowing


class WindowInto(PrimitiveTransform):
    def __init__(
        self,
        window_fn: Any,
        trigger: Any = None,
        accumulation_mode: Any = None,
        allowed_lateness: Any = 0,
        timestamp_combiner: Any = None,
    ) -> None:
        self.window_fn = window_fn
        self.trigger = trigger
        self.accumulation_mode = accumulation_mode
        self.allowed_lateness = allowed_lateness
        self.timestamp_combiner = timestamp_combiner
        self.windowing: Windowing | None = None

    def default_label(self) -> str:
        return f"WindowInto({type(self.window_fn).__name__})"

    def expand_primitive(self, node, pcoll):
        self.windowing = Windowing.build(
            node.full_label,
            self.window_fn,
            self.trigger,
            self.accumulation_mode,
            self.allowed_lateness,
            self.timestamp_combiner,
        )
        return pcoll.pipeline.new_pcollection(node, self.windowing, pcoll.is_bounded)
