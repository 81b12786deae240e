"""The translation of ``Write(Sink)`` (every sink but Kafka's, see :mod:`.kafka`) and the source
facts the sink guarantees depend on.

``Write(Sink)`` -> fluvial's Java ``CheckpointMarkers`` (parallelism 1) -> the Python
:class:`~.committing.CommittingWrite` (parallelism 1, its own task), committing as
:func:`~.guarantees.sink_mode` decides. Both get stable operator ids derived from the
transform label, so a changed pipeline fails to restore loudly rather than mapping state to the
wrong operator.
"""

from __future__ import annotations

from typing import Any

from fluvial.source import Read
from fluvial.testing.test_stream import TestStream

from .boot import boot
from .committing import CommittingWrite
from .guarantees import check_resumable, sink_mode

PERIODIC_S = 1.0


def uid(kind: str, label: str) -> str:
    """A stable Flink operator id for fluvial's operator ``kind`` of transform ``label``."""
    return f"fluvial/{kind}/{label}"


def is_resumable_source(transform: Any) -> bool:
    """Whether a source transform resumes from a Flink checkpoint (Create and ReadFromKafka do;
    a TestStream or a Read of a Python source is read in one function and does not)."""
    if isinstance(transform, TestStream):
        return False
    if isinstance(transform, Read):
        from .kafka import is_kafka_source

        return is_kafka_source(transform.source)
    return True


def non_resumable_sources(pipeline: Any, node: Any) -> list[str]:
    """The labels of the sources upstream of ``node`` that cannot resume from a checkpoint
    (every source of the pipeline when ``p.dead_letters()`` is upstream: it is fed by all)."""
    from fluvial.deadletter import DeadLetters

    sources: list[Any] = []
    seen: set[int] = set()
    todo = [node]
    while todo:
        n = todo.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n.transform, DeadLetters):
            sources = [m for m in pipeline.primitives() if not m.inputs]
            break
        if not n.inputs:
            sources.append(n)
        todo.extend(pc.producer for pc in n.inputs if pc.producer is not None)
    return sorted({m.full_label for m in sources if not is_resumable_source(m.transform)})


def translate_write(tr: Any, node: Any, sink: Any, label: str) -> None:
    """Add the Write of ``sink`` (transform ``label``) to the job of translator ``tr``."""
    from pyflink.datastream import DataStream

    settings = tr.checkpoints
    accepted = tr.fopts.sink_guarantee
    mode = sink_mode(sink, label, accepted, settings.enabled, node.inputs[0].is_bounded)
    if settings.enabled:
        check_resumable(sink.exactly_once_promise(), label, accepted,
                        non_resumable_sources(tr.pipeline, node))
    src = tr.wire(tr.stream_of(node.inputs[0]))
    markers = tr.jvm.fluvial.flink.CheckpointMarkers()
    j = src.ds._j_data_stream.transform(f"{label}#checkpoints",
                                        tr.script_type.get_java_type_info(), markers)
    j = j.setParallelism(1).uid(uid("checkpoints", label))
    fn = CommittingWrite(label, sink, tr.options, tr.channel,
                         getattr(tr.options, "batch_size", 4096),
                         settings.flink_dir if mode == "checkpointed" else None,
                         PERIODIC_S if mode == "periodic" else None)
    (DataStream(j).process(boot(fn), tr.pickled).name(label).set_parallelism(1)
     .disable_chaining().uid(uid("write", label)))
    tr.result.sinks[label] = sink
