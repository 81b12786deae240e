"""PipelineResult: what ``Pipeline.run()`` returns."""

from __future__ import annotations

import enum
from typing import Any

from fluvial.metrics import MetricQueryResults, MetricsContainer


class PipelineState(enum.Enum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class PipelineResult:
    """The outcome of a run: ``state``, ``wait_until_finish()`` and ``metrics()``."""

    def __init__(self, state: PipelineState, metrics: MetricsContainer, error: BaseException | None = None, info: dict[str, Any] | None = None) -> None:
        self._state = state
        self._metrics = metrics
        self._error = error
        self.info = info or {}

    @property
    def state(self) -> PipelineState:
        return self._state

    def wait_until_finish(self, duration: float | None = None) -> PipelineState:
        if self._error is not None:
            raise self._error
        return self._state

    def metrics(self) -> MetricsContainer:
        return self._metrics

    def counters(self) -> MetricQueryResults:
        return self._metrics.query()
