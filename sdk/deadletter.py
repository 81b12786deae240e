"""Dead-letter records and error policies.

A transform's ``on_error`` policy decides what happens when user code (or a source's
deserializer) raises on one element:

- ``"fail"``: the pipeline fails with a :class:`fluvial.errors.UserCodeError` (the default);
- ``"dead_letter"``: a :class:`DeadLetterRecord` goes to the pipeline's dead-letter output,
  ``p.dead_letters()``, and processing continues;
- ``"skip"``: the element is dropped and counted in the metric ``fluvial/errors_skipped`` of the
  transform.

The policy is set per transform (``on_error=...``) or for the whole pipeline
(``--on-error dead_letter``); a transform's own setting wins. Records of every transform and
source go to one output, ``p.dead_letters()`` (the :class:`DeadLetters` primitive); a pipeline
that can produce dead letters must consume it, or it fails when it starts.

>>> rec = DeadLetterRecord.from_exception("Parse", ValueError("bad"), payload=b"x", timestamp_ms=5)
>>> (rec.transform, rec.error_type, rec.message, rec.timestamp_ms)
('Parse', 'ValueError', 'bad', 5)
>>> rec.to_dict()["payload"]
{'bytes_b64': 'eA=='}
"""

from __future__ import annotations

import base64
import traceback as tb
from typing import TYPE_CHECKING, Any

import attrs

from fluvial.ptransform import PrimitiveTransform

if TYPE_CHECKING:
    from fluvial.pipeline import Pipeline

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


def policy_applies(exc: BaseException) -> bool:
    """Whether a transform's error policy handles ``exc``: any exception of user code, and a
    :class:`~fluvial.errors.BadElementError` (an element whose data a grouping or stateful DoFn
    cannot take); not fluvial's other errors, which say the pipeline is used wrongly (an
    undeclared output tag, a malformed output) and always fail.

    >>> from fluvial.errors import FluvialError, NotKeyedError
    >>> policy_applies(ValueError("x")), policy_applies(NotKeyedError("G", 1, "GroupByKey"))
    (True, True)
    >>> policy_applies(FluvialError("undeclared tag"))
    False
    """
    from fluvial.errors import BadElementError, FluvialError

    return not isinstance(exc, FluvialError) or isinstance(exc, BadElementError)


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


class DeadLetters(PrimitiveTransform):
    """The pipeline's dead-letter output: a PCollection (global window) of
    :class:`DeadLetterRecord` from every ParDo, GroupByKey and CombinePerKey with policy
    ``"dead_letter"`` and every source that hands records to ``SourceContext.handle_error``. Apply it through ``p.dead_letters()``, which
    adds it once per pipeline; runners translate this node as a source fed during the run.

    >>> import fluvial as fl
    >>> p = fl.Pipeline(argv=[])
    >>> p.dead_letters() is p.dead_letters()
    True
    """

    def default_label(self) -> str:
        return "DeadLetters"

    def expand_primitive(self, node: Any, pipeline: Any) -> Any:
        from fluvial.windowing import Windowing

        # bounded when every source applied so far is (it ends when the other sources end);
        # a later unbounded source is refused at run time (_check_boundedness)
        bounded = all(
            pc.is_bounded
            for n in pipeline.primitives()
            if not n.inputs and n is not node
            for pc in n.outputs.values()
        )
        return pipeline.new_pcollection(node, Windowing(), bounded)


def effective_policy(transform_policy: str | None, options: Any) -> str:
    """The policy that applies: the transform's own, else the pipeline's ``on_error``, else
    ``"fail"``."""
    if transform_policy is not None:
        return transform_policy
    return getattr(options, "on_error", None) or "fail"


def dead_letter_descendants(pipeline: Pipeline) -> set[int]:
    """``id()`` of every node that consumes ``p.dead_letters()``, directly or further down."""
    node = dead_letters_node(pipeline)
    if node is None:
        return set()
    reach = {id(pc) for pc in node.outputs.values()}
    out: set[int] = set()
    for n in pipeline.primitives():  # in application order: producers before consumers
        if any(id(pc) in reach for pc in n.inputs):
            out.add(id(n))
            reach.update(id(pc) for pc in n.outputs.values())
    return out


def node_policy(transform_policy: str | None, options: Any, label: str, handles_dead_letters: bool) -> str:
    """The policy of a transform. A transform that processes dead letters cannot send its own
    failures back to the dead-letter output (they would loop): there, ``--on-error
    dead_letter`` does not apply (the transform fails), and its own ``on_error="dead_letter"``
    is an error."""
    if not handles_dead_letters:
        return effective_policy(transform_policy, options)
    if transform_policy == "dead_letter":
        from fluvial.errors import PipelineConstructionError

        raise PipelineConstructionError(
            f"transform '{label}' processes p.dead_letters() and sends its own failures there "
            "(on_error='dead_letter'), which would loop; use on_error='fail' or 'skip'"
        )
    return transform_policy or "fail"


def dead_letter_users(pipeline: Pipeline, options: Any = None) -> list[str]:
    """Labels of the transforms that may produce dead letters: ParDos, GroupByKeys and
    CombinePerKeys whose own policy is ``"dead_letter"``, and Reads whose source (Writes whose
    sink) declares ``on_error = "dead_letter"``; with the pipeline option ``--on-error
    dead_letter``, ``["--on-error dead_letter"]`` as well."""
    from fluvial.combine import CombinePerKey
    from fluvial.gbk import GroupByKey
    from fluvial.pardo import ParDo
    from fluvial.sink import Write
    from fluvial.source import Read

    options = pipeline.options if options is None else options
    users = []
    if getattr(options, "on_error", None) == "dead_letter":
        users.append("--on-error dead_letter")
    for n in pipeline.primitives():
        t = n.transform
        if isinstance(t, (ParDo, GroupByKey, CombinePerKey)):
            own = t.on_error
        elif isinstance(t, Read):
            own = getattr(t.source, "on_error", None)
        elif isinstance(t, Write):
            own = getattr(t.sink, "on_error", None)
        else:
            continue
        if own == "dead_letter":
            users.append(n.full_label)
    return users


def dead_letters_node(pipeline: Pipeline) -> Any:
    """The pipeline's DeadLetters node, or None."""
    for n in pipeline.primitives():
        if isinstance(n.transform, DeadLetters):
            return n
    return None


def _check_boundedness(pipeline: Pipeline) -> None:
    """``p.dead_letters()`` is bounded when every source applied before it is; an unbounded
    source applied after it would leave it wrongly marked bounded."""
    node = dead_letters_node(pipeline)
    if node is None or not node.outputs[None].is_bounded:
        return
    for n in pipeline.primitives():
        if n.inputs or n is node:
            continue
        if any(not pc.is_bounded for pc in n.outputs.values()):
            from fluvial.errors import PipelineConstructionError

            raise PipelineConstructionError(
                f"p.dead_letters() was taken before the unbounded source '{n.full_label}' was "
                "applied, so it was marked bounded; call p.dead_letters() after applying every "
                "source"
            )


def check_dead_letter_consumer(pipeline: Pipeline, options: Any = None) -> None:
    """Raise if a transform (or the pipeline option) routes errors to dead letters but nothing
    consumes ``p.dead_letters()``: records would be lost silently. ``options`` default to the
    pipeline's."""
    _check_boundedness(pipeline)
    users = dead_letter_users(pipeline, options)
    if not users:
        return
    node = dead_letters_node(pipeline)
    if node is not None:
        out = node.outputs[None]
        if any(pc is out for n in pipeline.primitives() for pc in n.inputs):
            return
    from fluvial.errors import PipelineConstructionError

    raise PipelineConstructionError(
        f"transform '{users[0]}' sends failed elements to the dead-letter output (on_error="
        "'dead_letter'), but nothing reads p.dead_letters(); write them somewhere, e.g. "
        "p.dead_letters() | WriteDeadLettersToJsonLines('errors/dlq') or p.dead_letters() | "
        "DeadLettersToDicts() | WriteToKafka(..., value_serializer='json') "
        "(from fluvial.transforms.deadletter), or choose on_error='fail' or 'skip'"
    )
