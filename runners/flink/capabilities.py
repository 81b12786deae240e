"""The capabilities the Flink runner lacks so far, with the reason: the conformance harness
reports a case needing one as unsupported without running it, and the translation refuses the
feature with the same reason (:class:`~fluvial.errors.UnsupportedFeatureError` naming the
transform).

All four are pending, not impossible: groupings will run the sdk's window driver, and stateful
DoFns the sdk's stateful-DoFn driver, inside a Flink keyed process function.
"""

from __future__ import annotations

GROUPING = (
    "pending on the Flink runner: groupings will run the sdk's window driver (triggers, "
    "lateness, panes) inside a Flink keyed process function, not built yet; run this pipeline "
    "on the direct or the beam runner for now"
)
STATEFUL = (
    "pending on the Flink runner: stateful DoFns will run the sdk's stateful-DoFn driver on "
    "Flink keyed state and timers, not built yet; run this pipeline on the direct or the beam "
    "runner for now"
)

SIDE_INPUTS = (
    "pending on the Flink runner: side inputs (AsSingleton, AsIter, AsList, AsDict) are not "
    "translated yet; run this pipeline on the direct or the beam runner for now"
)

MISSING_CAPABILITIES: dict[str, str] = {
    "side_inputs": SIDE_INPUTS,
    "group_by_key": GROUPING,
    "combine_per_key": GROUPING,
    "state": STATEFUL,
    "timers": STATEFUL,
}
