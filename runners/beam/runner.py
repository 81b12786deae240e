"""BeamRunner: runs a fluvial pipeline on Apache Beam.

A failure inside Beam raises what fluvial raised there (a user-code failure as
:class:`~fluvial.errors.UserCodeError` naming the transform and the element), found in Beam's
exception chain (:func:`fluvial_error_in`); Beam's own log output is silenced unless
``--beam-log-level`` asks for it (:mod:`.logs`).

Beam runner choice: ``--beam-runner NAME`` if given (any Beam runner: DirectRunner, FlinkRunner,
SparkRunner, DataflowRunner, ...; ``--beam-option key=value`` sets Beam options). Otherwise:
pipelines with a TestStream run on Beam's BundleBasedDirectRunner (the one that executes
TestStream with its processing-time clock), bounded pipelines on the FnApiRunner. PrismRunner is
never chosen by default: it downloads a binary when it starts.
"""

from __future__ import annotations

from typing import Any

from fluvial.errors import FluvialError, UnsupportedFeatureError
from fluvial.options import PipelineOptions
from fluvial.result import PipelineResult, PipelineState

from .capabilities import MISSING_CAPABILITIES
from .deviations import KNOWN_DEVIATIONS
from .logs import beam_log_level, level_of
from .metrics import collect
from .options import FN_API_RUNNER, beam_pipeline_options, parse_beam_args


def _beam_runner_object(name: str) -> Any:
    if name == FN_API_RUNNER:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    if name == "BundleBasedDirectRunner":
        from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

        return BundleBasedDirectRunner()
    from apache_beam.runners import create_runner

    try:
        return create_runner(name)
    except (ValueError, ImportError) as e:
        raise FluvialError(
            f"--beam-runner {name}: Beam cannot create this runner ({e}); use a Beam runner name "
            "such as DirectRunner, FnApiRunner, FlinkRunner, SparkRunner or DataflowRunner"
        ) from None


class BeamRunner:
    """Translates a fluvial pipeline to apache_beam and runs it; ``run_pipeline`` blocks until
    the Beam pipeline finishes.

    >>> import fluvial as fl
    >>> from fluvial.transforms import Map
    >>> p = fl.Pipeline(argv=["--runner", "beam"])
    >>> _ = p | fl.Create([1, 2]) | Map(lambda x: x + 1)
    >>> p.run().state.value
    'DONE'
    """

    name = "beam"
    missing_capabilities: dict[str, str] = MISSING_CAPABILITIES
    known_deviations: dict[str, str] = KNOWN_DEVIATIONS

    def choose_runner(self, has_test_stream: bool, requested: str | None) -> str:
        if requested:
            return requested
        return "BundleBasedDirectRunner" if has_test_stream else FN_API_RUNNER

    def run_pipeline(self, pipeline: Any, options: PipelineOptions) -> PipelineResult:
        level = level_of(options.extra_args)
        with beam_log_level(level):
            return self._run(pipeline, options)

    def _run(self, pipeline: Any, options: PipelineOptions) -> PipelineResult:
        import apache_beam as beam

        requested, argv = parse_beam_args(options.extra_args)
        from fluvial.testing.test_stream import TestStream

        from .translate import translate

        has_ts = any(isinstance(n.transform, TestStream) for n in pipeline.primitives())
        runner_name = self.choose_runner(has_ts, requested)
        if has_ts and runner_name == FN_API_RUNNER:
            raise UnsupportedFeatureError(
                "beam", "TestStream",
                "Beam's FnApiRunner does not execute TestStream; use --beam-runner "
                "BundleBasedDirectRunner (the default for TestStream pipelines)",
            )
        if has_ts and not any(a.startswith(("--streaming", "--no_streaming")) for a in argv):
            argv = ["--streaming", *argv]  # unbounded input: Beam's streaming GroupByKey
        bopts = beam_pipeline_options(argv)
        bp = beam.Pipeline(runner=_beam_runner_object(runner_name), options=bopts)
        tr = translate(pipeline, bp, options, runner_name)
        try:
            try:
                result = bp.run()
                state = result.wait_until_finish()
            except Exception as e:
                if isinstance(e, TypeError) and "must derive from BaseException" in str(e):
                    # Beam's DirectRunner reports a stalled pipeline with a malformed exception
                    raise FluvialError(
                        f"Beam's {runner_name} stopped: pipeline stall (the watermark can no "
                        "longer advance: a window holds elements its trigger will never fire "
                        "and Beam Python's trigger driver has no end-of-window garbage "
                        "collection)"
                    ) from None
                err = fluvial_error_in(e)
                if err is None:
                    raise
                # the error user code (or fluvial) raised, as on the direct runner, with its cause
                raise err from err.__cause__
            done = str(state).upper().endswith("DONE")
            if done:
                for check in tr.checks:
                    check.run()
        finally:
            for check in tr.checks:
                check.cleanup()
        metrics = collect(result, tr.labels)
        return PipelineResult(
            PipelineState.DONE if done else PipelineState.RUNNING, metrics, None,
            {"beam_runner": runner_name, "beam_state": str(state)},
        )


def fluvial_error_in(exc: BaseException) -> FluvialError | None:
    """The error fluvial (or user code, as :class:`~fluvial.errors.UserCodeError`) raised inside
    Beam, found in the chain of exceptions Beam raised for it (``__cause__`` first, then
    ``__context__``), or None. Beam re-raises a failure as a RuntimeError (or a copy of the
    original with " [while running 'step']" added, tagged ``_tagged_with_step``); the original
    is further down the chain when the failing worker ran in this process (Beam's local
    runners). Runners that report errors as text keep Beam's exception."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, FluvialError) and not getattr(cur, "_tagged_with_step", False):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None
