"""DirectRunner: fluvial's own in-process engine."""

from __future__ import annotations

from typing import Any

from fluvial.options import PipelineOptions
from fluvial.result import PipelineResult, PipelineState

from .executor import Executor


class DirectRunner:
    """Runs a pipeline in this process. Deterministic under TestStream (processing time is the
    TestStream's clock); bounded and unbounded sources; checkpoints with ``--checkpoint-dir``.
    ``run_pipeline`` blocks until the input is exhausted and raises the pipeline's error."""

    name = "direct"
    known_deviations: dict[str, str] = {}

    def run_pipeline(self, pipeline: Any, options: PipelineOptions) -> PipelineResult:
        ex = Executor(pipeline, options)
        state = ex.run()
        info = {
            "checkpoints_taken": ex.checkpoints_taken,
            "restored_from": ex.restored_from,
        }
        return PipelineResult(PipelineState(state), ex.metrics, None, info)
