"""Running the translated job: submit it, watch it, and turn its end into fluvial's outcome.

The job is submitted asynchronously and its status polled every :data:`POLL_S` seconds:

* each passage through ``RESTARTING`` is a restart made by Flink's restart strategy
  (``--restart-attempts``; counted as observed, so restarts shorter than the poll interval may
  be missed when ``--restart-delay`` is 0);
* a failure a restart cannot heal (a fluvial error recorded in the side channel that
  :func:`~fluvial.runners.common.restart_policy.is_restartable` refuses: a bad record, a
  configuration error) makes the runner cancel the job at once and raise that error, instead of
  letting Flink retry it;
* when the job fails, the error recorded by fluvial's functions is raised (the same
  :class:`~fluvial.errors.UserCodeError` as on the other runners), else a FluvialError naming
  Flink's root cause.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from fluvial.errors import FluvialError
from fluvial.runners.common.restart_policy import is_restartable

from .sidechannel import SideChannel

POLL_S = 0.2
_TERMINAL = ("FINISHED", "FAILED", "CANCELED")


@attrs.define
class JobOutcome:
    """A job that finished: its id, Flink's net runtime, and the restarts it went through."""

    job_id: str
    net_runtime_ms: int
    restarts: int
    restart_causes: list[str]


def root_cause(e: BaseException) -> str:
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


def _status(client: Any) -> str | None:
    try:
        return client.get_job_status().result().name
    except Exception:  # noqa: BLE001 - a per-job mini-cluster is gone once the job ended
        return None


def run_job(env: Any, job_name: str, channel: SideChannel) -> JobOutcome:
    """Run the job of ``env`` to its end (see the module docstring)."""
    try:
        client = env.execute_async(job_name)
    except Exception as e:  # noqa: BLE001 - submission failed: say why
        raise FluvialError(f"the Flink job could not be submitted: {root_cause(e)}") from None
    restarts = 0
    last = None
    while True:
        st = _status(client)
        if st == "RESTARTING" and last != "RESTARTING":
            restarts += 1
        if st is not None:
            last = st
        err = channel.error()
        if err is not None and not is_restartable(err) and st not in _TERMINAL:
            try:
                client.cancel().result()
            except Exception:  # noqa: BLE001 - it may have ended meanwhile
                pass
            raise err
        if st is None or st in _TERMINAL:
            break
        time.sleep(POLL_S)
    try:
        result = client.get_job_execution_result().result()
    except Exception as e:  # noqa: BLE001 - the job failed: find out why
        err = channel.error()
        if err is not None:
            raise err from None
        raise FluvialError(f"the Flink job failed: {root_cause(e)}") from None
    causes = [f"{type(x).__name__}: {x}" for x in channel.errors()] if restarts else []
    return JobOutcome(str(result.get_job_id()), int(result.get_net_runtime()), restarts, causes)
