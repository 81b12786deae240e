"""Capability tags derived mechanically: from a built pipeline's primitives, and from a case's
golden output and counters.

Every tag of :data:`~fluvial.testing.conformance.capabilities.CAPABILITIES` but those in
:data:`DECLARED_ONLY` is derived here; the conformance tests check that each case declares
exactly the derived tags (plus any declared-only ones it needs). A runner can use
:func:`pipeline_capabilities` to see what a pipeline needs before translating it.

Rules (a "grouping" is GroupByKey or CombinePerKey; its windowing is its input's):

* TestStream -> ``test_stream``; its script advances the clock -> ``processing_time``; adds an
  element with a timestamp behind the script's watermark -> ``late_data``. Create ->
  ``bounded_input``.
* WindowInto with FixedWindows / SlidingWindows -> ``fixed_windows`` / ``sliding_windows``; a
  merging WindowFn (Sessions or another) -> ``merging_windows``; a WindowFn of a class other
  than the built-in ones (FixedWindows, SlidingWindows, Sessions, GlobalWindows) ->
  ``custom_window_fn``.
* A grouping -> ``group_by_key`` / ``combine_per_key``; in the global window ->
  ``global_window``; ``late_output``; ACCUMULATING -> ``accumulating``; lateness > 0 ->
  ``allowed_lateness``; EARLIEST / LATEST -> ``timestamp_combiner``; another grouping upstream
  -> ``watermark_holds``; trigger classes anywhere in its trigger -> ``count_triggers``,
  ``processing_time_triggers``, ``repeated_triggers``, ``composite_triggers``,
  ``never_trigger``; a root trigger that can finish before the window expires (it finishes
  once, is not Never, and is not AfterWatermark without lateness, which finishes at expiry) ->
  ``finishing_triggers``.
* A ParDo with tagged outputs -> ``side_outputs``; with side inputs -> ``side_inputs``; with state -> ``state`` and the kind of each
  cell (``value_state``, ``bag_state``, ``map_state``, ``combining_state``); a StateTTL ->
  ``ttl`` (processing time: also ``processing_time_ttl``); timers -> ``timers`` (processing
  time: also ``processing_time_timers``); a timer callback that takes its own timer ->
  ``looping_timers``; ``@on_window_expiration`` -> ``on_window_expiration``.
* Flatten -> ``flatten``.
* The golden output holds an EARLY / LATE pane -> ``early_firings`` / ``late_firings``; the case
  checks a ``dropped_due_to_*`` counter -> ``drop_counters``.

>>> from fluvial.testing.conformance.catalog import get_case
>>> sorted(case_capabilities(get_case("fixed_early_count_discarding")))
['count_triggers', 'early_firings', 'fixed_windows', 'group_by_key', 'test_stream']
"""

from __future__ import annotations

from typing import Any

from fluvial.combine import CombinePerKey
from fluvial.create import Create
from fluvial.flatten import Flatten
from fluvial.gbk import GroupByKey
from fluvial.options import PipelineOptions
from fluvial.pardo import ParDo
from fluvial.testing.conformance.capabilities import CAPABILITIES
from fluvial.testing.test_script import ElementEvent, TestScript
from fluvial.testing.test_stream import TestStream
from fluvial.timeutil import TimeDomain
from fluvial.triggers import (
    AccumulationMode,
    AfterAll,
    AfterAny,
    AfterCount,
    AfterEach,
    AfterProcessingTime,
    AfterWatermark,
    Never,
    OrFinally,
    Repeatedly,
    Trigger,
)
from fluvial.window import FixedWindows, GlobalWindows, Sessions, SlidingWindows
from fluvial.windowing import TimestampCombiner, Windowing
from fluvial.windowinto import WindowInto

#: tags no rule derives (they depend on what user code does at run time); declared by hand
DECLARED_ONLY: frozenset[str] = frozenset({"output_timestamps"})
#: tags the rules derive
DERIVED: frozenset[str] = frozenset(CAPABILITIES) - DECLARED_ONLY

_STATE_KIND_TAGS = {
    "value": "value_state",
    "bag": "bag_state",
    "map": "map_state",
    "combining": "combining_state",
}


def _trigger_tree(t: Trigger) -> list[Trigger]:
    out = [t]
    for s in t.subtriggers():
        out.extend(_trigger_tree(s))
    return out


def _script_tags(script: TestScript) -> set[str]:
    tags = {"test_stream"}
    if script.uses_processing_time:
        tags.add("processing_time")
    for i, step in enumerate(script.steps):
        if isinstance(step, ElementEvent):
            wm = script.watermark_before(i)
            if any(t < wm for _, t in step.elements):
                tags.add("late_data")
    return tags


_BUILTIN_WINDOW_TAGS = {
    FixedWindows: {"fixed_windows"},
    SlidingWindows: {"sliding_windows"},
    Sessions: set(),
    GlobalWindows: set(),
}


def _window_fn_tags(wf: Any) -> set[str]:
    tags = set(_BUILTIN_WINDOW_TAGS.get(type(wf), {"custom_window_fn"}))
    if getattr(wf, "is_merging", False):
        tags.add("merging_windows")
    return tags


def _finishes_early(w: Windowing) -> bool:
    root = w.trigger
    if not root.is_once or isinstance(root, Never):
        return False
    return not (isinstance(root, AfterWatermark) and w.allowed_lateness_ms == 0)


def _trigger_tags(w: Windowing) -> set[str]:
    tags = set()
    for t in _trigger_tree(w.trigger):
        if isinstance(t, AfterCount):
            tags.add("count_triggers")
        elif isinstance(t, AfterProcessingTime):
            tags.add("processing_time_triggers")
        elif isinstance(t, Repeatedly):
            tags.add("repeated_triggers")
        elif isinstance(t, (AfterEach, AfterAny, AfterAll, OrFinally)):
            tags.add("composite_triggers")
        elif isinstance(t, Never):
            tags.add("never_trigger")
    if _finishes_early(w):
        tags.add("finishing_triggers")
    return tags


def _is_grouping(node: Any) -> bool:
    return isinstance(node.transform, (GroupByKey, CombinePerKey))


def _grouping_upstream(node: Any) -> bool:
    seen: set[int] = set()
    todo = [pc.producer for pc in node.inputs]
    while todo:
        n = todo.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        if _is_grouping(n):
            return True
        todo.extend(pc.producer for pc in n.inputs)
    return False


def _grouping_tags(node: Any) -> set[str]:
    t = node.transform
    w: Windowing = node.inputs[0].windowing
    tags = {"group_by_key" if isinstance(t, GroupByKey) else "combine_per_key"}
    if isinstance(w.window_fn, GlobalWindows):
        tags.add("global_window")
    if t.late_output:
        tags.add("late_output")
    if w.accumulation_mode is AccumulationMode.ACCUMULATING:
        tags.add("accumulating")
    if w.allowed_lateness_ms > 0:
        tags.add("allowed_lateness")
    if w.timestamp_combiner is not TimestampCombiner.OUTPUT_AT_EOW:
        tags.add("timestamp_combiner")
    if _grouping_upstream(node):
        tags.add("watermark_holds")
    return tags | _trigger_tags(w)


def _pardo_tags(t: ParDo) -> set[str]:
    tags = {"side_outputs"} if t.output_tags else set()
    if t.side_inputs:
        tags.add("side_inputs")
    sig = t.signature
    if sig is None:
        return tags
    for spec in sig.state_specs.values():
        tags |= {"state", _STATE_KIND_TAGS[spec.kind]}
        if spec.ttl is not None:
            tags.add("ttl")
            if spec.ttl.time_domain is TimeDomain.REAL_TIME:
                tags.add("processing_time_ttl")
    for spec in sig.timer_specs.values():
        tags.add("timers")
        if spec.time_domain is TimeDomain.REAL_TIME:
            tags.add("processing_time_timers")
    for name, (_, params) in sig.timer_callbacks.items():
        if any(p.kind == "Timer" and p.spec.name == name for _, p in params):
            tags.add("looping_timers")
    if sig.expiration is not None:
        tags.add("on_window_expiration")
    return tags


def pipeline_capabilities(pipeline: Any) -> set[str]:
    """The capability tags the primitives of ``pipeline`` need (see the module's rules)."""
    tags: set[str] = set()
    for node in pipeline.primitives():
        t = node.transform
        if isinstance(t, TestStream):
            tags |= _script_tags(t.script)
        elif isinstance(t, Create):
            tags.add("bounded_input")
        elif isinstance(t, WindowInto):
            tags |= _window_fn_tags(t.windowing.window_fn)
        elif _is_grouping(node):
            tags |= _grouping_tags(node)
        elif isinstance(t, ParDo):
            tags |= _pardo_tags(t)
        elif isinstance(t, Flatten):
            tags.add("flatten")
    return tags


def golden_capabilities(case: Any) -> set[str]:
    """Tags derived from what ``case`` checks: its golden panes and counters."""
    tags = set()
    timings = {o.pane[0] for o in case.expected if o.pane is not None}
    if "EARLY" in timings:
        tags.add("early_firings")
    if "LATE" in timings:
        tags.add("late_firings")
    if any(name.startswith("dropped_due_to_") for name, _ in case.counters):
        tags.add("drop_counters")
    return tags


def case_capabilities(case: Any) -> set[str]:
    """Every derivable tag of ``case``: its pipeline, built (not run), and its golden output."""
    from fluvial.pipeline import Pipeline

    p = Pipeline(options=PipelineOptions())
    case.build(p)
    return pipeline_capabilities(p) | golden_capabilities(case)
