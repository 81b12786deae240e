"""A TestStream script: the runner-neutral value that gives a pipeline deterministic unbounded
input, and the contract every runner follows to play it.

A :class:`TestScript` is an immutable sequence of steps that always ends with exactly one
:class:`EndOfInput`:

* :class:`ElementEvent` - elements, each a ``(value, timestamp_ms)`` pair;
* :class:`WatermarkEvent` - the source's watermark moves to ``watermark_ms``;
* :class:`ProcessingTimeEvent` - the processing-time clock moves forward by ``advance_ms``;
* :class:`EndOfInput` - the script is over.

Timestamps are int milliseconds (:mod:`fluvial.timeutil`); ``MAX_TIMESTAMP_MS`` is the end of
time. :class:`fluvial.testing.TestStream` builds a script with Beam's builder API and hands it to
a runner as ``TestStream.script``; nothing else about the transform is runner-relevant. A script
pickles, and :meth:`TestScript.to_json` / :meth:`TestScript.from_json` give a JSON form a
player in another language can read (:mod:`fluvial.testing.script_json`).

>>> from fluvial.timeutil import MAX_TIMESTAMP_MS
>>> s = TestScript((ElementEvent((("a", 1000),)), WatermarkEvent(60_000),
...                 ProcessingTimeEvent(5_000), WatermarkEvent(MAX_TIMESTAMP_MS)))
>>> [type(step).__name__ for step in s.steps]
['ElementEvent', 'WatermarkEvent', 'ProcessingTimeEvent', 'WatermarkEvent', 'EndOfInput']
>>> TestScript.from_json(s.to_json()) == s
True

The playing contract
--------------------

What a runner must do to play a script, so that every runner gives the conformance catalog's
golden output:

1. **One step at a time, in order.** A step's consequences are complete before the next step
   is played: its elements have gone through every transform they reach (triggers evaluated,
   panes fired, state written, outputs delivered downstream), and so has a watermark or clock
   advance (panes fired, timers run, windows expired). A runner whose engine is asynchronous
   waits for that, or shows that its ordering gives the same result.
2. **Elements.** An :class:`ElementEvent`'s elements enter the pipeline in the order given, each
   at its own event timestamp, in the global window, with no pane. Each element is visible to
   triggers on its own: fluvial evaluates a window's trigger after every element, so
   ``AfterCount(2)`` fires after the second element even when five arrive in one step. A runner
   may hand a step's elements over in one batch only if the result equals handing them over one
   by one. Between two elements of a step neither the watermark nor the clock moves. An element
   behind the watermark is emitted as it is - it is late data downstream; the source never
   drops, re-stamps or reorders elements.
3. **Watermark exactly at the steps.** The source's output watermark is ``MIN_TIMESTAMP_MS``
   until the first :class:`WatermarkEvent`, then exactly the latest one's ``watermark_ms``. It
   moves only at watermark steps: never periodically, never from element timestamps, with no
   out-of-orderness bound and no idleness. Watermark steps never go backwards (such a script is
   refused when it is built); a step to the current watermark changes nothing. Downstream the
   model applies: a window's ON_TIME pane fires once the watermark passes its max timestamp
   (end - 1 ms), an event-time timer at ``t`` fires once the watermark is ``>= t``, a window
   expires once the watermark passes max timestamp + allowed lateness, and a transform with
   several inputs has the minimum of their watermarks.
4. **Advance to infinity.** ``WatermarkEvent(MAX_TIMESTAMP_MS)``
   (``advance_watermark_to_infinity()``) is the end of event time: every window, the global
   window included, is past its end and expires (its final pane is emitted, its state cleared),
   and every event-time timer fires, including the timers those callbacks set. A runner maps it
   to its engine's end of time (Beam: ``advance_watermark_to_infinity``; Flink:
   ``Long.MAX_VALUE``). Elements after it are late for every window.
5. **Processing time only from the script.** The processing time that triggers, timers and
   state TTL see is the script's clock: it starts at 0 ms when the pipeline starts and moves
   only at :class:`ProcessingTimeEvent` steps, by ``advance_ms > 0``; the wall clock is never
   read. Elements before such a step see the old clock, elements after it the new one. At the
   step every processing-time timer and trigger deadline at or before the new clock fires
   before the next step is played. A pipeline has one clock.
6. **End of input.** At :class:`EndOfInput` the watermark goes to infinity if it is not there
   yet (as in 4), then the source is finished. The clock does not move at the end: processing-
   time timers and trigger deadlines still pending never fire (a window waiting for one is
   emitted by its expiry at infinity).
7. **Unbounded.** The output PCollection is unbounded, although the script is finite:
   groupings run in streaming mode and fire as the script plays (Beam: ``--streaming``), and a
   grouping in the global window with the default trigger is refused when the pipeline is
   built, as for any unbounded input.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Union

import attrs

from fluvial.errors import PipelineConstructionError
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS


def _check_time(what: str, ms: Any) -> int:
    if isinstance(ms, bool) or not isinstance(ms, int):
        raise PipelineConstructionError(f"TestStream: {what} must be int milliseconds, got {ms!r}")
    if not MIN_TIMESTAMP_MS <= ms <= MAX_TIMESTAMP_MS:
        raise PipelineConstructionError(
            f"TestStream: {what} {ms} ms is outside [{MIN_TIMESTAMP_MS}, {MAX_TIMESTAMP_MS}] ms"
        )
    return ms


def _elements(pairs: Iterable[tuple[Any, int]]) -> tuple[tuple[Any, int], ...]:
    out = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise PipelineConstructionError(
                f"TestStream: an element step holds (value, timestamp_ms) pairs, got {pair!r}"
            )
        out.append((pair[0], _check_time("an element timestamp", pair[1])))
    return tuple(out)


@attrs.frozen
class ElementEvent:
    """Elements entering the pipeline in this order, each ``(value, timestamp_ms)``."""

    elements: tuple[tuple[Any, int], ...] = attrs.field(converter=_elements)


@attrs.frozen
class WatermarkEvent:
    """The source's watermark moves to ``watermark_ms`` (``MAX_TIMESTAMP_MS``: infinity)."""

    watermark_ms: int

    def __attrs_post_init__(self) -> None:
        _check_time("a watermark", self.watermark_ms)

    @property
    def is_infinity(self) -> bool:
        return self.watermark_ms >= MAX_TIMESTAMP_MS


@attrs.frozen
class ProcessingTimeEvent:
    """The processing-time clock moves forward by ``advance_ms`` (> 0)."""

    advance_ms: int

    def __attrs_post_init__(self) -> None:
        ms = self.advance_ms
        if isinstance(ms, bool) or not isinstance(ms, int) or ms <= 0:
            raise PipelineConstructionError(
                f"TestStream: a processing-time step advances by positive int milliseconds, "
                f"got {ms!r}"
            )


@attrs.frozen
class EndOfInput:
    """The end of the script: the watermark goes to infinity and the source finishes."""


Step = Union[ElementEvent, WatermarkEvent, ProcessingTimeEvent, EndOfInput]
STEP_TYPES = (ElementEvent, WatermarkEvent, ProcessingTimeEvent, EndOfInput)


def _steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    out = tuple(steps)
    for i, step in enumerate(out):
        if not isinstance(step, STEP_TYPES):
            raise PipelineConstructionError(
                f"TestStream: step {i} is {step!r}; a script holds ElementEvent, WatermarkEvent, "
                "ProcessingTimeEvent and a final EndOfInput"
            )
        if isinstance(step, EndOfInput) and i != len(out) - 1:
            raise PipelineConstructionError(
                f"TestStream: EndOfInput is step {i} of {len(out)}; it can only be the last step"
            )
    if not out or not isinstance(out[-1], EndOfInput):
        out = (*out, EndOfInput())
    watermark = MIN_TIMESTAMP_MS
    for step in out:
        if isinstance(step, WatermarkEvent):
            if step.watermark_ms < watermark:
                raise PipelineConstructionError(
                    f"TestStream: the watermark cannot move backwards (from {watermark} ms to "
                    f"{step.watermark_ms} ms)"
                )
            watermark = step.watermark_ms
    return out


@attrs.frozen
class TestScript:
    """The steps of a TestStream, ending with one :class:`EndOfInput` (added when missing).

    >>> TestScript(()).steps
    (EndOfInput(),)
    """

    __test__ = False  # not a pytest class

    steps: tuple[Step, ...] = attrs.field(converter=_steps)

    @property
    def uses_processing_time(self) -> bool:
        """Whether the script advances the processing-time clock."""
        return any(isinstance(s, ProcessingTimeEvent) for s in self.steps)

    def watermark_before(self, index: int) -> int:
        """The source's watermark when step ``index`` is played."""
        wm = MIN_TIMESTAMP_MS
        for step in self.steps[:index]:
            if isinstance(step, WatermarkEvent):
                wm = step.watermark_ms
        return wm

    def to_json(self) -> str:
        """The JSON form (see :mod:`fluvial.testing.script_json`)."""
        from fluvial.testing.script_json import script_to_json

        return script_to_json(self)

    @staticmethod
    def from_json(text: str) -> TestScript:
        """The script written by :meth:`to_json`."""
        from fluvial.testing.script_json import script_from_json

        return script_from_json(text)
