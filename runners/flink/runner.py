"""FlinkRunner: runs a fluvial pipeline on Apache Flink through PyFlink's DataStream API, in a
local mini-cluster in this process's JVM (the first run in a process starts the JVM; later runs
reuse it), or on a running cluster with ``--flink-master HOST:PORT``.

Flags (see :mod:`.options`): ``--flink-mode thread|process``, ``--parallelism N``,
``--flink-master HOST:PORT``, ``--flink-jars``, ``--flink-sink-guarantee at_least_once``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from typing import Any

from fluvial.errors import FluvialError, RunnerNotFoundError
from fluvial.options import PipelineOptions
from fluvial.result import PipelineResult, PipelineState

from .capabilities import MISSING_CAPABILITIES
from .options import parse_flink_args
from .sidechannel import SideChannel


def require_pyflink() -> None:
    if importlib.util.find_spec("pyflink") is None:
        raise RunnerNotFoundError(
            "runner 'flink' needs the Python package 'pyflink', which is not installed; "
            "install it with: pip install 'fluvial[flink]'"
        )


def _root_cause(e: BaseException) -> str:
    """The innermost Java cause of a failed job, as text."""
    j = getattr(e, "java_exception", None)
    if j is None:
        return f"{type(e).__name__}: {e}"
    try:
        while j.getCause() is not None and j.getCause() is not j:
            j = j.getCause()
        return str(j.toString())
    except Exception:  # noqa: BLE001 - the gateway is gone
        return f"{type(e).__name__}: {e}"


class FlinkRunner:
    """Translates a fluvial pipeline to a PyFlink DataStream job and runs it; ``run_pipeline``
    blocks until the job ends and raises the pipeline's error (a failing user function raises
    the same :class:`~fluvial.errors.UserCodeError` as on the other runners).

    >>> import fluvial as fl
    >>> from fluvial.transforms import Map
    >>> p = fl.Pipeline(argv=["--runner", "flink"])
    >>> _ = p | fl.Create([1, 2]) | Map(lambda x: x + 1)
    >>> p.run().state.value  # doctest: +SKIP
    'DONE'
    """

    name = "flink"
    known_deviations: dict[str, str] = {}
    missing_capabilities: dict[str, str] = MISSING_CAPABILITIES

    def run_pipeline(self, pipeline: Any, options: PipelineOptions) -> PipelineResult:
        fopts = parse_flink_args(options.extra_args)
        require_pyflink()
        from .environment import create_environment
        from .translate import has_test_stream, translate

        # scripted input runs with parallelism 1: identical output on every run
        parallelism = 1 if has_test_stream(pipeline) else fopts.parallelism
        workdir = tempfile.mkdtemp(prefix="fluvial-flink-")
        try:
            channel = SideChannel(os.path.join(workdir, "side"))
            os.makedirs(channel.path)
            env = create_environment(fopts, workdir, parallelism)
            tr = translate(pipeline, env, options, fopts, channel.path)
            try:
                job = env.execute(_job_name(pipeline))
            except Exception as e:  # noqa: BLE001 - the job failed: find out why
                err = channel.error()
                if err is not None:
                    raise err from None
                raise FluvialError(f"the Flink job failed: {_root_cause(e)}") from None
            info = {
                "flink_mode": fopts.mode,
                "parallelism": parallelism,
                "job_id": str(job.get_job_id()),
                "net_runtime_ms": int(job.get_net_runtime()),
                "transforms": len(tr.labels),
            }
            return PipelineResult(PipelineState.DONE, channel.metrics(), None, info)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _job_name(pipeline: Any) -> str:
    return f"fluvial-{pipeline.fingerprint()}"
