"""The capabilities the Flink runner lacks, with the reason: the conformance harness reports a
case needing one as unsupported without running it.

Cases that run but whose output differs from the model are not missing capabilities: they are
listed in :mod:`fluvial.runners.flink.deviations`.
"""

from __future__ import annotations

WATERMARK_HOLDS = (
    "Flink has no watermark holds: a keyed operator forwards its input watermark as soon as "
    "the timers it passed have fired, and a Python KeyedProcessFunction cannot hold it back, "
    "so a pane stamped before its window's end (OUTPUT_AT_EARLIEST / OUTPUT_AT_LATEST) or an "
    "element behind the output watermark can arrive behind the watermark at a downstream "
    "grouping, which then treats it as late. Groupings run the sdk's window driver with a "
    "store that reports its input watermark as output watermark (supports_holds = False)"
)

MISSING_CAPABILITIES: dict[str, str] = {
    "watermark_holds": WATERMARK_HOLDS,
}
