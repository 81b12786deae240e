"""The capabilities the Flink runner lacks, with the reason: the conformance harness reports a
case needing one as unsupported without running it.

None today. Watermark holds, which a Python keyed function cannot place, are held in Java
right after each grouping (``fluvial.flink.GroupHolds``, :mod:`fluvial.runners.flink.group_holds`).

Cases that run but whose output differs from the model are not missing capabilities: they are
listed in :mod:`fluvial.runners.flink.deviations`.
"""

from __future__ import annotations

MISSING_CAPABILITIES: dict[str, str] = {}
