"""DirectRunner: fluvial's own in-process engine."""

from __future__ import annotations

from typing import Any

from fluvial.options import PipelineOptions
from fluvial.result import PipelineResult, PipelineState

from .checkpoint_dir import CheckpointDirectory
from .executor import Executor
from .restart import run_with_restarts
from .sigterm import sigterm_as_interrupt


class DirectRunner:
    """Runs a pipeline in this process. Deterministic under TestStream (processing time is the
    TestStream's clock); bounded and unbounded sources; checkpoints with ``--checkpoint-dir``.
    ``run_pipeline`` blocks until the input is exhausted and raises the pipeline's error.

    With ``--checkpoint-dir`` and ``--restart-attempts N`` a run failing at runtime is restarted
    from the latest checkpoint up to N times (see :mod:`fluvial.runners.direct.restart`);
    ``result.info["restarts"]`` counts the restarts and ``result.info["restart_causes"]`` lists
    the errors they healed; ``result.info["skipped_checkpoints"]`` lists damaged checkpoints the
    restore skipped for an older one. The checkpoint directory is locked for the whole run.
    Ctrl-C, and SIGTERM where the program installed no handler of its own
    (:mod:`fluvial.runners.direct.sigterm`), cancel the run: state ``CANCELLED``, nothing half
    done committed.

    >>> import fluvial as fl
    >>> r = fl.Pipeline(argv=["--runner", "direct"])
    >>> _ = r | fl.Create([1, 2])
    >>> r.run().info["restarts"]
    0
    """

    name = "direct"
    missing_capabilities: dict[str, str] = {}  # every capability tag of the conformance catalog
    known_deviations: dict[str, str] = {}

    def run_pipeline(self, pipeline: Any, options: PipelineOptions) -> PipelineResult:
        failures: list[str] = []
        # opened (verified and locked) once, held across restarts: no other pipeline can take
        # the directory between two attempts; an unsafe or busy directory is never retried
        store = CheckpointDirectory.open(options.checkpoint_dir) if options.checkpoint_dir else None
        try:
            # built outside the retry loop: an error while building the executor is never retried
            last: list[Executor] = [Executor(pipeline, options, store)]

            def attempt(n: int) -> str:
                if n > 0:
                    last[:] = [Executor(pipeline, options, store)]
                return last[0].run()

            with sigterm_as_interrupt():
                state = run_with_restarts(
                    attempt,
                    getattr(options, "restart_attempts", 0),
                    getattr(options, "restart_delay", 0.0),
                    store is not None,
                    failures,
                )
        finally:
            if store is not None:
                store.close()
        ex = last[0]
        info = {
            "checkpoints_taken": ex.checkpoints_taken,
            "restored_from": ex.restored_from,
            "skipped_checkpoints": ex.skipped_checkpoints,
            "restarts": len(failures),
            "restart_causes": failures,
        }
        return PipelineResult(PipelineState(state), ex.metrics, None, info)
