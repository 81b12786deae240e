"""Sink guarantees on Flink: how each Write commits, and what is refused.

fluvial's exactly-once sinks (the file sinks, ``WriteToSqlite``, any sink whose class sets
``exactly_once = True``) run their two-phase commit on Flink's checkpoints (see
:mod:`.committing`); ``WriteToKafka(delivery="exactly_once")`` becomes Flink's KafkaSink with
Kafka transactions (see :mod:`.kafka`). Per Write (:func:`sink_mode`):

* with ``--checkpoint-dir``: committed when a Flink checkpoint covering the output completes
  (``"checkpointed"``): exactly-once for exactly-once sinks, at-least-once sinks flush there;
* without it, on a bounded input: committed once when the input ends (``"once"``); a failed
  run commits nothing, as on the direct runner;
* without it, on an unbounded input: an exactly-once sink would never commit, so it is refused
  (:class:`~fluvial.errors.UnsupportedFeatureError`) unless the pipeline passes
  ``--flink-sink-guarantee at_least_once`` (then committed every batch or second,
  ``"periodic"``); at-least-once sinks are always committed that way.

A restore replays every source from the restored checkpoint, so exactly-once needs sources that
resume from Flink's checkpoints: ``ReadFromKafka`` (Flink's KafkaSource) and ``Create`` do. A
``TestStream`` or a ``Read`` of a Python source does not (PyFlink has no Python source API: the
runner reads it in one function, without a position to checkpoint), so with ``--checkpoint-dir``
such a source ahead of an exactly-once sink is refused (:func:`check_resumable`) unless the
pipeline accepts at-least-once.

>>> class S:
...     def exactly_once_promise(self): return "files committed exactly once"
>>> sink_mode(S(), "Write", None, checkpointed=False, bounded=True)
'once'
>>> sink_mode(S(), "Write", "at_least_once", checkpointed=False, bounded=False)
'periodic'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fluvial.errors import UnsupportedFeatureError

FLAG = "--flink-sink-guarantee"


def sink_mode(sink: Any, label: str, accepted: str | None, checkpointed: bool,
              bounded: bool) -> str:
    """``"checkpointed"``, ``"once"`` or ``"periodic"`` (module docstring); refuses an
    exactly-once sink on an unbounded input without checkpoints unless at-least-once was
    accepted."""
    if checkpointed:
        return "checkpointed"
    promise = sink.exactly_once_promise()
    if promise is None:
        return "periodic"
    if bounded:
        return "once"
    if accepted == "at_least_once":
        return "periodic"
    raise UnsupportedFeatureError(
        "flink", label,
        f"exactly-once sink on an unbounded input: {promise}. Its output is committed at Flink "
        "checkpoints, and without --checkpoint-dir the run takes none, so it would never "
        f"commit. Pass --checkpoint-dir DIR, or {FLAG} at_least_once to commit every batch "
        "(at-least-once)",
    )


def check_resumable(promise: str | None, label: str, accepted: str | None,
                    not_resumable: Sequence[str]) -> None:
    """Under ``--checkpoint-dir``: refuse an exactly-once sink (``promise``) when a source of
    the pipeline cannot resume from a checkpoint, unless at-least-once was accepted."""
    if promise is None or not not_resumable or accepted == "at_least_once":
        return
    raise UnsupportedFeatureError(
        "flink", label,
        f"exactly-once sink ({promise}) with --checkpoint-dir, but the source(s) "
        f"{', '.join(repr(s) for s in not_resumable)} cannot resume from a Flink checkpoint "
        "(PyFlink has no Python source API: the runner reads a TestStream or a Python Read in "
        "one function, without a position to checkpoint), so a restore would replay them and "
        "write their output again. Read from Kafka (ReadFromKafka) or Create, run without "
        f"--checkpoint-dir (the output is committed once, at the end), or pass {FLAG} "
        "at_least_once",
    )
