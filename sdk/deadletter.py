"""Dead-letter records and error policies.

A transform's ``on_error`` policy decides what happens when user code (or a source's
deserializer) raises on one element:

- ``"fail"``: the pipeline fails with a :class:`fluvial.errors.UserCodeError` (the default);
- ``"dead_letter"``: a :class:`DeadLetterRecord` goes to the pipeline's dead-letter output,
  ``p.dead_letters()``, and processing continues;
- ``"skip"``: the element is dropped and counted in the metric ``fluvial/errors_skipped`` of the
  transform.

The policy is set per transform (``on_error=...``) or for the whole pipeline
(``--on-error dead_letter``); a transform's own setting wins.

>>> rec = DeadLetterRecord.from_exception("Parse", ValueError("bad"), payload=b"x", timestamp_ms=5)
>>> (rec.transform, rec.error_type, rec.message, rec.timestamp_ms)
('Parse', 'ValueError', 'bad', 5)
>>> rec.to_dict()["payload"]
{'bytes_b64': 'eA=='}
"""

from __future__ import annotations

import base64
import traceback as tb
from typing import Any

import attrs

POLICIES = ("fail", "dead_letter", "skip")


def check_policy(policy: str | None, where: str) -> str | None:
    """``policy`` if it is one of :data:`POLICIES` (or None: use the pipeline's), else an error
    naming ``where``."""
    if policy is None or policy in POLICIES:
        return policy
    from fluvial.errors import PipelineConstructionError

    raise PipelineConstructionError(
        f"{where}: on_error must be one of {', '.join(repr(p) for p in POLICIES)}, got {policy!r}"
    )


def _json_safe(value: Any) -> Any:
    """The payload in a form json.dumps accepts without losing bytes."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes_b64": base64.b64encode(bytes(value)).decode("ascii")}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return {"repr": repr(value)}


@attrs.frozen
class DeadLetterRecord:
    """One element that could not be processed, with where and why.

    ``payload`` is the original input (for a source: the raw record value, bytes); ``topic``,
    ``partition`` and ``offset`` are set when the element came from a partitioned log such as
    Kafka; ``key`` is the raw record key when known.
    """

    transform: str
    error_type: str
    message: str
    traceback: str
    payload: Any
    timestamp_ms: int | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: Any = None

    @classmethod
    def from_exception(cls, transform: str, exc: BaseException, payload: Any, **where: Any) -> DeadLetterRecord:
        cause = getattr(exc, "cause", None) or exc  # unwrap fluvial's UserCodeError
        text = "".join(tb.format_exception(type(cause), cause, cause.__traceback__))
        return cls(transform, type(cause).__name__, str(cause), text, payload, **where)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (bytes as ``{"bytes_b64": ...}``, other objects as ``{"repr": ...}``)."""
        d = attrs.asdict(self)
        d["payload"] = _json_safe(self.payload)
        d["key"] = _json_safe(self.key)
        return d
