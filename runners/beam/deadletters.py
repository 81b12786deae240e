"""Error policies and the dead-letter output on Beam.

A ParDo (or Read) whose effective policy is ``"dead_letter"`` gets one more tagged output,
:data:`DLQ_TAG`; a failing element's :class:`~fluvial.deadletter.DeadLetterRecord` goes there
(at the element's timestamp, in its window) and ``p.dead_letters()`` becomes a Flatten of every
such output re-windowed into the global window. ``"skip"`` drops the element and counts
``fluvial/errors_skipped`` under the transform's step; ``"fail"`` raises UserCodeError. Records
are built exactly as on the direct runner (:meth:`DeadLetterRecord.from_exception`).

>>> out = ErrorPolicy("Parse", "dead_letter").handle(ValueError("bad"), "x", 5)
>>> [(o.tag, o.value.value.payload, o.value.value.error_type) for o in out]
[('__fluvial_dead_letters__', 'x', 'ValueError')]
"""

from __future__ import annotations

from typing import Any

from apache_beam.pvalue import TaggedOutput as BeamTaggedOutput
from apache_beam.transforms.window import TimestampedValue as BeamTimestampedValue
from apache_beam.utils.windowed_value import PANE_INFO_UNKNOWN
from apache_beam.utils.windowed_value import WindowedValue as BeamWindowedValue

from fluvial.deadletter import DeadLetterRecord
from fluvial.metrics import MetricKey
from fluvial.runners.common.failures import apply_policy
from fluvial.timeutil import MIN_TIMESTAMP_MS

from .convert import to_beam_ts
from .metrics import STEP_BRIDGE

DLQ_TAG = "__fluvial_dead_letters__"


def dead_letter_output(record: DeadLetterRecord, window: Any = None) -> Any:
    """What a Beam DoFn yields to send ``record`` to the dead-letter output (counted in
    ``fluvial/dead_letters`` under the producing step, as on the direct runner). ``window``:
    the Beam window being processed (Beam calls a DoFn per window when it declares
    ``WindowParam``; a TimestampedValue output would land in all the element's windows)."""
    STEP_BRIDGE.inc(MetricKey(record.transform, "fluvial", "dead_letters"))
    ts = to_beam_ts(record.timestamp_ms if record.timestamp_ms is not None else MIN_TIMESTAMP_MS)
    if window is None:
        return BeamTaggedOutput(DLQ_TAG, BeamTimestampedValue(record, ts))
    return BeamTaggedOutput(DLQ_TAG, BeamWindowedValue(record, ts, [window], PANE_INFO_UNKNOWN))


class ErrorPolicy:
    """Applies ``policy`` ("fail", "dead_letter", "skip") for the transform ``label`` to an
    exception user code raised on one element; ``handle`` returns the Beam outputs that replace
    the element's (nothing, or the dead-letter record)."""

    __slots__ = ("label", "policy", "guarded")

    def __init__(self, label: str, policy: str = "fail") -> None:
        self.label = label
        self.policy = policy
        self.guarded = policy != "fail"

    def handle(self, exc: BaseException, payload: Any, timestamp_ms: int | None,
               window: Any = None, where: str | None = None) -> list:
        """Call from an ``except`` block: raise (policy "fail", or a fluvial usage error), or
        return the outputs for the failed element (``window``: the Beam window processed;
        ``where``: a failure that concerns no single element, said by the "fail" error)."""
        rec = apply_policy(self.label, self.policy, exc, payload, timestamp_ms, where)
        if rec is None:  # skip
            STEP_BRIDGE.inc(MetricKey(self.label, "fluvial", "errors_skipped"))
            return []
        return [dead_letter_output(rec, window)]
