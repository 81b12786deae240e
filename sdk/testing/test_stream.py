"""TestStream: a deterministic unbounded source for tests, built with Beam's builder API.

The transform only collects a :class:`~fluvial.testing.test_script.TestScript`; a runner reads
``TestStream.script`` and plays it by the contract written in :mod:`fluvial.testing.test_script`
(steps in order, the watermark exactly at the watermark steps, processing time only from the
script's clock, which starts at 0).

>>> ts = (TestStream()
...       .add_elements([TimestampedValue("a", 1), TimestampedValue("b", 2)])
...       .advance_watermark_to(60)
...       .advance_processing_time(5)
...       .advance_watermark_to_infinity())
>>> len(ts.events), len(ts.script.steps)
(4, 5)
>>> TestStream(ts.script).script == ts.script
True
"""

from __future__ import annotations

from typing import Any

from fluvial.errors import PipelineConstructionError
from fluvial.ptransform import PrimitiveTransform
from fluvial.testing.test_script import (
    ElementEvent,
    EndOfInput,
    ProcessingTimeEvent,
    TestScript,
    WatermarkEvent,
)
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, to_millis
from fluvial.values import TimestampedValue
from fluvial.windowing import Windowing

__all__ = [
    "ElementEvent",
    "EndOfInput",
    "ProcessingTimeEvent",
    "TestScript",
    "TestStream",
    "WatermarkEvent",
]


class TestStream(PrimitiveTransform):
    """Builds a :class:`TestScript` step by step (each method returns the TestStream), or plays
    the ``script`` it is given. Its output is unbounded, in the global window."""

    __test__ = False  # not a pytest class

    def __init__(self, script: TestScript | None = None) -> None:
        self._steps: list[Any] = []
        self._watermark = MIN_TIMESTAMP_MS
        if script is not None:
            if not isinstance(script, TestScript):
                raise PipelineConstructionError(
                    f"TestStream(script) needs a TestScript, got {script!r}; build one with "
                    "TestStream().add_elements(...).advance_watermark_to(...)"
                )
            self._steps = list(script.steps[:-1])
            self._watermark = script.watermark_before(len(script.steps))

    @property
    def script(self) -> TestScript:
        """The steps added so far, ending with :class:`EndOfInput`: what a runner plays."""
        return TestScript(tuple(self._steps))

    @property
    def events(self) -> tuple[Any, ...]:
        """The steps added so far, without the final :class:`EndOfInput`."""
        return tuple(self._steps)

    def add_elements(self, elements: Any, event_timestamp: Any = None) -> TestStream:
        """Add elements; plain values get ``event_timestamp`` (seconds) or, if not given, the
        current watermark of the stream (0 before any watermark advance)."""
        if isinstance(elements, (str, bytes)) or not hasattr(elements, "__iter__"):
            raise PipelineConstructionError("TestStream.add_elements needs a list of elements")
        default = (
            to_millis(event_timestamp)
            if event_timestamp is not None
            else (0 if self._watermark == MIN_TIMESTAMP_MS else self._watermark)
        )
        out = []
        for e in elements:
            if isinstance(e, TimestampedValue):
                out.append((e.value, e.timestamp_ms))
            else:
                out.append((e, default))
        self._steps.append(ElementEvent(tuple(out)))
        return self

    def advance_watermark_to(self, timestamp: Any) -> TestStream:
        ms = to_millis(timestamp)
        if ms < self._watermark:
            raise PipelineConstructionError(
                f"TestStream: the watermark cannot move backwards (from {self._watermark} ms to {ms} ms)"
            )
        self._watermark = ms
        self._steps.append(WatermarkEvent(ms))
        return self

    def advance_watermark_to_infinity(self) -> TestStream:
        self._watermark = MAX_TIMESTAMP_MS
        self._steps.append(WatermarkEvent(MAX_TIMESTAMP_MS))
        return self

    def advance_processing_time(self, advance_by: Any) -> TestStream:
        ms = to_millis(advance_by)
        if ms <= 0:
            raise PipelineConstructionError(
                f"TestStream.advance_processing_time needs a positive duration in seconds, got {advance_by!r}"
            )
        self._steps.append(ProcessingTimeEvent(ms))
        return self

    def expand_primitive(self, node, pipeline):
        return pipeline.new_pcollection(node, Windowing(), False)

