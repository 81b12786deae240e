"""Sink guarantees on Beam: exactly-once sinks are refused unless the user accepts at-least-once.

fluvial's exactly-once sinks (the file sinks, ``WriteToSqlite``, ``WriteToKafka(delivery=
"exactly_once")``) commit their pending output when a checkpoint that covers it is durable
(``notify_checkpoint_complete``). Beam Python gives a DoFn no such callback: the Write
translation commits at the end of each bundle, and a bundle Beam retries (a worker lost after
the commit, before Beam recorded the bundle as done) is written again. That is at-least-once, so
translating such a sink silently would break its promise. The translation refuses it with
:class:`~fluvial.errors.UnsupportedFeatureError` unless the pipeline passes
``--beam-sink-guarantee at_least_once``.

A sink declares its promise with ``exactly_once = True`` (see :class:`fluvial.Sink`); a sink
whose promise depends on its configuration overrides ``exactly_once_promise``.

>>> sink_guarantee(["--beam-sink-guarantee", "at_least_once"])
'at_least_once'
>>> sink_guarantee([]) is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fluvial.errors import PipelineConstructionError, UnsupportedFeatureError

from .convert import RUNNER
from .options import flag_value

FLAG = "--beam-sink-guarantee"
CHOICES = ("at_least_once",)


def sink_guarantee(extra_args: Sequence[str]) -> str | None:
    """The value of ``--beam-sink-guarantee`` in the pipeline's unparsed flags, or None."""
    args = list(extra_args)
    value: str | None = None
    for i, a in enumerate(args):
        if a.partition("=")[0] not in (FLAG, "--beam_sink_guarantee"):
            continue
        value, _ = flag_value(args, i)
        if value not in CHOICES:
            raise PipelineConstructionError(
                f"pipeline options: {FLAG} accepts {', '.join(CHOICES)}, got {value!r}; pass "
                f"{FLAG} at_least_once to run exactly-once sinks at-least-once on Beam"
            )
    return value


def exactly_once_promise(sink: Any) -> str | None:
    """What in ``sink`` promises exactly-once output (the sink says: Sink.exactly_once_promise),
    or None when it promises no more than at-least-once."""
    return sink.exactly_once_promise()


def check_sink(sink: Any, label: str, accepted: str | None) -> None:
    """Refuse an exactly-once sink unless at-least-once was accepted."""
    promise = exactly_once_promise(sink)
    if promise is None or accepted == "at_least_once":
        return
    raise UnsupportedFeatureError(
        RUNNER, label,
        f"exactly-once sink: {promise}. Beam Python gives a DoFn no 'checkpoint complete' "
        "callback, so the sink commits at the end of each bundle and a bundle Beam retries is "
        f"written again (at-least-once). Pass {FLAG} at_least_once to accept that, or run on "
        "the direct runner for exactly-once output",
    )
