"""TestStream: a deterministic unbounded source for tests. Its events run in order; processing
time is the stream's own clock (starting at 0), so processing-time triggers and timers are
deterministic on every runner that supports it.

>>> ts = (TestStream()
...       .add_elements([TimestampedValue("a", 1), TimestampedValue("b", 2)])
...       .advance_watermark_to(60)
...       .advance_processing_time(5)
...       .advance_watermark_to_infinity())
>>> len(ts.events)
4
"""

from __future__ import annotations

from typing import Any

import attrs

from fluvial.errors import PipelineConstructionError
from fluvial.ptransform import PrimitiveTransform
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, to_millis
from fluvial.values import TimestampedValue
from fluvial.windowing import Windowing


@attrs.frozen
class ElementEvent:
    elements: tuple[tuple[Any, int], ...]  # (value, timestamp_ms)


@attrs.frozen
class WatermarkEvent:
    watermark_ms: int


@attrs.frozen
class ProcessingTimeEvent:
    advance_ms: int


class TestStream(PrimitiveTransform):
    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._watermark = MIN_TIMESTAMP_MS

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
        self.events.append(ElementEvent(tuple(out)))
        return self

    def advance_watermark_to(self, timestamp: Any) -> TestStream:
        ms = to_millis(timestamp)
        if ms < self._watermark:
            raise PipelineConstructionError(
                f"TestStream: the watermark cannot move backwards (from {self._watermark} ms to {ms} ms)"
            )
        self._watermark = ms
        self.events.append(WatermarkEvent(ms))
        return self

    def advance_watermark_to_infinity(self) -> TestStream:
        self._watermark = MAX_TIMESTAMP_MS
        self.events.append(WatermarkEvent(MAX_TIMESTAMP_MS))
        return self

    def advance_processing_time(self, advance_by: Any) -> TestStream:
        ms = to_millis(advance_by)
        if ms <= 0:
            raise PipelineConstructionError(
                f"TestStream.advance_processing_time needs a positive duration in seconds, got {advance_by!r}"
            )
        self.events.append(ProcessingTimeEvent(ms))
        return self

    def expand_primitive(self, node, pipeline):
        return pipeline.new_pcollection(node, Windowing(), False)
