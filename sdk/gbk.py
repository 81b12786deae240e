"""GroupByKey: group (key, value) pairs per key and window, firing panes by the trigger.

``GroupByKey().with_late_output()`` returns outputs ``main`` and ``late``; ``late`` holds the
(key, value) elements dropped for arriving after the allowed lateness.

``GroupByKey(on_error=...)`` ("fail", "dead_letter" or "skip"; None: the pipeline's
``--on-error``) decides what an element the grouping cannot take does: one that is not a
(key, value) pair, or whose key is not hashable (see :mod:`fluvial.deadletter`).
"""

from __future__ import annotations

from fluvial.deadletter import check_policy
from fluvial.errors import PipelineConstructionError
from fluvial.ptransform import PrimitiveTransform
from fluvial.pvalue import DoOutputsTuple
from fluvial.triggers import DefaultTrigger
from fluvial.window import GlobalWindows


def check_keyed_grouping(node, pcoll) -> None:
    w = pcoll.windowing
    if (
        not pcoll.is_bounded
        and isinstance(w.window_fn, GlobalWindows)
        and isinstance(w.trigger, DefaultTrigger)
    ):
        raise PipelineConstructionError(
            f"transform '{node.full_label}': grouping an unbounded PCollection in the global window "
            "with the default trigger would never emit; apply WindowInto with a window (e.g. "
            "FixedWindows(60)) or a trigger (e.g. Repeatedly(AfterCount(100))) first"
        )


def late_output_tuple(node, pcoll, main):
    from fluvial.windowing import Windowing

    late = pcoll.pipeline.new_pcollection(node, Windowing(), pcoll.is_bounded, tag="late")
    return DoOutputsTuple(main, {"late": late})


class GroupByKey(PrimitiveTransform):
    """Groups (key, value) pairs into (key, [values]) per window and pane.

    >>> t = GroupByKey(on_error="skip")  # drop (and count) elements that are not (key, value)
    """

    def __init__(self, late_output: bool = False, *, on_error: str | None = None) -> None:
        self.late_output = late_output
        self.on_error = check_policy(on_error, f"transform '{self.default_label()}'")

    def with_late_output(self) -> GroupByKey:
        self.late_output = True
        return self

    def expand_primitive(self, node, pcoll):
        check_keyed_grouping(node, pcoll)
        from fluvial.windowing import continuation

        out = pcoll.pipeline.new_pcollection(node, continuation(pcoll.windowing), pcoll.is_bounded)
        return late_output_tuple(node, pcoll, out) if self.late_output else out
