"""Capability tags: the fixed vocabulary of features a conformance case uses and a runner
supports, in the spirit of Apache Beam's ValidatesRunner categories (UsesTestStream,
UsesStatefulParDo, UsesTimersInParDo, ...).

Every case's ``tags`` come from :data:`CAPABILITIES` (one line per tag says what it means);
most tags are derived from the built pipeline by :mod:`fluvial.testing.conformance.derive`, and
a test checks that each case declares exactly those.

A runner declares what it lacks as a mapping ``missing_capabilities: dict[str, str]`` (tag ->
why) on the runner object; a runner without it supports every tag. The harness reports a case
that needs a missing capability as ``unsupported``, naming the tag and the reason, without
running it::

    class MyRunner:
        name = "mine"
        missing_capabilities = {"merging_windows": "session windows are not translated yet"}

>>> "test_stream" in CAPABILITIES
True
>>> class _R:
...     name = "r"
...     missing_capabilities = {"late_output": "no hook for dropped elements"}
>>> missing_for(_R(), ("test_stream", "late_output"))
[('late_output', 'no hook for dropped elements')]
>>> "late_output" in supported_capabilities(_R())
False
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# tag -> meaning, grouped by theme; the order is the order of the generated tables
CAPABILITIES: Mapping[str, str] = {
    # input
    "test_stream": "reads a TestStream script (unbounded input, watermark exactly at its steps)",
    "processing_time": "the TestStream advances its processing-time clock",
    "late_data": "the TestStream adds elements behind its current watermark",
    "bounded_input": "reads a bounded Create (the watermark jumps to infinity at its end)",
    # windows
    "fixed_windows": "WindowInto(FixedWindows(...))",
    "sliding_windows": "WindowInto(SlidingWindows(...)): an element in several windows",
    "merging_windows": "a merging WindowFn (Sessions): windows merge with state and triggers",
    "custom_window_fn": "a user-defined WindowFn",
    "global_window": "a grouping in the global window",
    # groupings
    "group_by_key": "GroupByKey",
    "combine_per_key": "CombinePerKey (or CombineGlobally) with a CombineFn",
    # triggers and panes
    "count_triggers": "AfterCount in a trigger",
    "processing_time_triggers": "AfterProcessingTime in a trigger (fired by the script's clock)",
    "repeated_triggers": "Repeatedly in a trigger",
    "composite_triggers": "AfterEach, AfterAny, AfterAll or OrFinally in a trigger",
    "never_trigger": "the Never trigger: only the final pane at expiry",
    "finishing_triggers": "a trigger that finishes before the window expires, closing it",
    "early_firings": "EARLY panes: fired before the watermark passes the end of the window",
    "late_firings": "LATE panes: fired for late data within the allowed lateness",
    "accumulating": "AccumulationMode.ACCUMULATING",
    # time
    "allowed_lateness": "a grouping with allowed_lateness > 0",
    "timestamp_combiner": "a grouping with OUTPUT_AT_EARLIEST or OUTPUT_AT_LATEST",
    "watermark_holds": "a grouping downstream of another: panes must hold the watermark",
    "output_timestamps": "a DoFn gives outputs new timestamps (TimestampedValue)",
    "late_output": "with_late_output(): elements dropped as late go to an output of their own",
    "drop_counters": "checks the counters dropped_due_to_lateness / dropped_due_to_closed_window",
    # state and timers
    "state": "a stateful DoFn: state per key and window",
    "value_state": "ValueState",
    "bag_state": "BagState",
    "map_state": "MapState",
    "combining_state": "CombiningState",
    "ttl": "StateTTL on a state cell (any time domain)",
    "processing_time_ttl": "StateTTL in processing time (expires by the script's clock)",
    "timers": "a DoFn with timers (any time domain)",
    "processing_time_timers": "processing-time timers (TimeDomain.REAL_TIME)",
    "looping_timers": "a timer callback that sets its own timer again",
    "on_window_expiration": "@on_window_expiration: a callback per key and window at expiry",
    # outputs
    "side_outputs": "ParDo(...).with_outputs(...): tagged outputs",
    "side_inputs": "a ParDo reads side inputs (AsSingleton, AsIter, AsList, AsDict)",
    "flatten": "Flatten of several PCollections",
}


class UnknownCapabilityError(ValueError):
    """A tag that is not in :data:`CAPABILITIES`."""


def check_tags(tags: Iterable[str], where: str) -> None:
    """Raise :class:`UnknownCapabilityError` naming ``where`` if a tag is not in the vocabulary."""
    unknown = sorted(set(tags) - set(CAPABILITIES))
    if unknown:
        raise UnknownCapabilityError(
            f"{where}: unknown capability tag(s) {', '.join(unknown)}; the vocabulary is in "
            "fluvial.testing.conformance.capabilities.CAPABILITIES"
        )


def missing_capabilities(runner: Any) -> dict[str, str]:
    """``tag -> reason`` for the capabilities ``runner`` declares it lacks (its
    ``missing_capabilities`` attribute; none declared: it supports every tag)."""
    declared: Mapping[str, str] = getattr(runner, "missing_capabilities", None) or {}
    name = getattr(runner, "name", type(runner).__name__)
    check_tags(declared, f"runner '{name}' missing_capabilities")
    return dict(declared)


def supported_capabilities(runner: Any) -> frozenset[str]:
    """The tags ``runner`` supports: the vocabulary minus what it declares missing."""
    return frozenset(CAPABILITIES) - set(missing_capabilities(runner))


def missing_for(runner: Any, tags: Iterable[str]) -> list[tuple[str, str]]:
    """``(tag, reason)`` for each of ``tags`` that ``runner`` lacks, in vocabulary order."""
    missing = missing_capabilities(runner)
    wanted = set(tags)
    return [(t, missing[t]) for t in CAPABILITIES if t in wanted and t in missing]
