"""The capabilities the Beam runner lacks, with the reason: the conformance harness reports a
case needing one as unsupported without running it, and the translation refuses the feature
with the same reason (:class:`~fluvial.errors.UnsupportedFeatureError` naming the transform).

Cases that run but whose output differs from the model are not missing capabilities: they are
listed in :mod:`fluvial.runners.beam.deviations`.
"""

from __future__ import annotations

LATE_OUTPUT = (
    "Beam's GroupByKey drops late elements inside its trigger driver and exposes neither the "
    "dropped elements nor a hook to route them"
)
PROCESSING_TIME_TTL = (
    "a Beam Python DoFn cannot read the current processing time, so the expiry of a "
    "processing-time StateTTL cannot be computed"
)

MISSING_CAPABILITIES: dict[str, str] = {
    "late_output": LATE_OUTPUT,
    "processing_time_ttl": PROCESSING_TIME_TTL,
}
