"""Sink guarantees on Flink: exactly-once sinks are refused unless the user accepts
at-least-once.

fluvial's exactly-once sinks (the file sinks, ``WriteToSqlite``, ``WriteToKafka(delivery=
"exactly_once")``) commit pending output when a checkpoint that covers it completes. The Flink
runner does not take Flink checkpoints yet, and a Python function gets no "checkpoint
complete" callback from PyFlink: the Write translation commits every batch it hands to the
writer (see :class:`~fluvial.runners.flink.functions.WriteFunction`), and a rerun after a
failure writes again what was committed. That is at-least-once, so translating such a sink
silently would break its promise: it is refused with
:class:`~fluvial.errors.UnsupportedFeatureError` unless the pipeline passes
``--flink-sink-guarantee at_least_once``.

>>> check_sink(type("S", (), {"exactly_once_promise": lambda self: None})(), "Write", None)
"""

from __future__ import annotations

from typing import Any

from fluvial.errors import UnsupportedFeatureError

FLAG = "--flink-sink-guarantee"


def check_sink(sink: Any, label: str, accepted: str | None) -> None:
    """Refuse an exactly-once sink unless at-least-once was accepted."""
    promise = sink.exactly_once_promise()
    if promise is None or accepted == "at_least_once":
        return
    raise UnsupportedFeatureError(
        "flink", label,
        f"exactly-once sink: {promise}. On Flink the sink commits every batch it writes (the "
        "runner takes no Flink checkpoints yet), so output is at-least-once. Pass "
        f"{FLAG} at_least_once to accept that, or run on the direct runner for exactly-once "
        "output",
    )
