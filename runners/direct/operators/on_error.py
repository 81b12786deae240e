"""A transform's error policy at run time: fail, send a dead-letter record, or skip and count.

Exceptions raised by user code per element (``process``, ``process_batch``, timer and
window-expiration callbacks, a CombineFn's methods) and elements a grouping cannot take
(:class:`~fluvial.errors.BadElementError`) go through here; errors fluvial raises about how a
DoFn is used (an undeclared output tag, a malformed output) always fail
(:func:`fluvial.deadletter.policy_applies`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fluvial.deadletter import DeadLetterRecord
from fluvial.errors import FluvialError
from fluvial.metrics import MetricKey, MetricsContainer
from fluvial.runners.common.failures import apply_policy


class ErrorHandler:
    """Applies ``policy`` ("fail", "dead_letter" or "skip") for the transform ``label``;
    ``push`` takes the dead-letter records (the runner's dead-letter source)."""

    __slots__ = ("label", "policy", "push", "metrics", "guarded", "_skipped")

    def __init__(
        self,
        label: str,
        policy: str = "fail",
        push: Callable[[DeadLetterRecord], None] | None = None,
    ) -> None:
        if policy == "dead_letter" and push is None:
            raise FluvialError(
                f"transform '{label}': on_error='dead_letter' but the pipeline has no consumed "
                "dead-letter output; add p.dead_letters() | WriteDeadLettersToJsonLines(path)"
            )
        self.label = label
        self.policy = policy
        self.push = push
        self.metrics: MetricsContainer | None = None
        self.guarded = policy != "fail"  # buffer each element's outputs, catch per element
        self._skipped = MetricKey(label, "fluvial", "errors_skipped")

    def handle(self, exc: BaseException, payload: Any, timestamp_ms: int | None,
               window: Any = None, where: str | None = None) -> None:
        """Called from an ``except`` block: raise (policy "fail", or a fluvial usage error),
        or record the failure and return so processing continues (``window``, the window being
        processed, is not part of the record: dead letters live in the global window).
        ``where`` describes a failure that concerns no single element (the UserCodeError of
        policy "fail" says it instead of "while processing element ...")."""
        record = apply_policy(self.label, self.policy, exc, payload, timestamp_ms, where)
        if record is None:  # skip
            if self.metrics is not None:
                self.metrics.inc(self._skipped)
            return
        self.push(record)  # type: ignore[misc]
