"""Translate a pipeline's primitives into direct-runner operators, fusing where the result is
provably the same: chains of stateless ParDos, and WindowInto + CombinePerKey(built-in
combiner) under the default trigger (the sliced, vectorised path). Each ParDo stage keeps its
own label and error policy, fused or not; ``p.dead_letters()`` becomes a DeadLetterSource that
ParDos, groupings (GroupByKey, CombinePerKey) and Read sources push their dead-letter records
into."""

from __future__ import annotations

from typing import Any

from fluvial.combine import CombinePerKey
from fluvial.create import Create
from fluvial.deadletter import (
    DeadLetters,
    check_dead_letter_consumer,
    dead_letter_descendants,
    dead_letters_node,
    node_policy,
)
from fluvial.errors import PipelineConstructionError
from fluvial.flatten import Flatten
from fluvial.gbk import GroupByKey
from fluvial.pardo import ParDo
from fluvial.sink import Write
from fluvial.source import Read, SourceContext
from fluvial.testing.test_stream import TestStream
from fluvial.windowinto import WindowInto

from .operators.base import Operator
from .operators.group import GroupOperator
from .operators.on_error import ErrorHandler
from .operators.pardo import DoFnCaller, ParDoOperator
from .operators.simple import FlattenOperator, WindowIntoOperator, WriteOperator
from .operators.sliced_combine import SlicedCombineOperator, can_slice
from .operators.stateful import StatefulParDoOperator
from .sources import CreateSource, DeadLetterSource, ReadSource, SourceOperator, TestStreamSource


class Graph:
    def __init__(self) -> None:
        self.ops: list[Operator] = []
        self.sources: list[SourceOperator] = []


def translate(pipeline: Any, options: Any, executor: Any) -> Graph:
    nodes = list(pipeline.primitives())
    consumers: dict[int, list[Any]] = {}
    for n in nodes:
        for pc in n.inputs:
            consumers.setdefault(id(pc), []).append(n)

    g = Graph()
    where: dict[int, tuple[Operator, str | None]] = {}  # pcoll id -> (op emitting it, tag)
    fused_into: dict[int, Operator] = {}  # node id -> op already created for it
    chain_tail: dict[int, ParDoOperator] = {}  # pcoll id -> fused ParDo op whose last stage makes it

    check_dead_letter_consumer(pipeline, options)
    handles_dead_letters = dead_letter_descendants(pipeline)
    dl_node = dead_letters_node(pipeline)
    dlq = DeadLetterSource(dl_node.full_label) if dl_node is not None else None
    push = dlq.push if dlq is not None else None

    def source_ctx(label: str) -> SourceContext:
        return SourceContext(options, executor.clock, label, executor.metrics, push)

    def errors_of(node: Any) -> ErrorHandler:
        """The error handler of a ParDo, GroupByKey or CombinePerKey node."""
        label = node.full_label
        policy = node_policy(node.transform.on_error, options, label,
                             id(node) in handles_dead_letters)
        return ErrorHandler(label, policy, push)

    def subscribe(op: Operator, node: Any) -> None:
        for i, pc in enumerate(node.inputs):
            src, tag = where[id(pc)]
            src.add_consumer(tag, op, i)

    for node in nodes:
        t = node.transform
        label = node.full_label
        if id(node) in fused_into:
            op = fused_into[id(node)]
            for tag, pc in node.outputs.items():
                where[id(pc)] = (op, tag)
            continue
        if isinstance(t, Create):
            op: Operator = CreateSource(label, t.values)
        elif isinstance(t, TestStream):
            op = TestStreamSource(label, t.script, executor)
        elif isinstance(t, Read):
            op = ReadSource(label, t.source, source_ctx(label), t.watermark_strategy)
        elif isinstance(t, DeadLetters):
            op = dlq  # type: ignore[assignment]
        elif isinstance(t, ParDo):
            caller = DoFnCaller(label, t, errors_of(node))
            if caller.sig.is_stateful:
                op = StatefulParDoOperator(label, caller, node.inputs[0].windowing)
            else:
                pc_in = node.inputs[0]
                prev = chain_tail.get(id(pc_in))
                if prev is not None and len(consumers.get(id(pc_in), [])) == 1:
                    prev.callers.append(caller)
                    prev.labels.append(label)
                    chain_tail.pop(id(pc_in))
                    for tag, pc in node.outputs.items():
                        where[id(pc)] = (prev, tag)
                    if not t.output_tags:
                        chain_tail[id(node.outputs[None])] = prev
                    continue
                op = ParDoOperator(label, [caller])
                if not t.output_tags:
                    chain_tail[id(node.outputs[None])] = op  # type: ignore[assignment]
        elif isinstance(t, WindowInto):
            out_pc = node.outputs[None]
            cons = consumers.get(id(out_pc), [])
            if (
                len(cons) == 1
                and isinstance(cons[0].transform, CombinePerKey)
                and not cons[0].transform.late_output
                and can_slice(t.windowing, cons[0].transform.combine_fn)
            ):
                c = cons[0]
                op = SlicedCombineOperator(c.full_label, label, t.windowing, c.transform.combine_fn,
                                           errors_of(c))
                fused_into[id(c)] = op
                subscribe(op, node)
                g.ops.append(op)
                continue
            op = WindowIntoOperator(label, t.windowing.window_fn)
        elif isinstance(t, GroupByKey):
            op = GroupOperator(label, node.inputs[0].windowing, None, t.late_output, "GroupByKey",
                               errors_of(node))
        elif isinstance(t, CombinePerKey):
            op = GroupOperator(label, node.inputs[0].windowing, t.combine_fn, t.late_output,
                               "CombinePerKey", errors_of(node))
        elif isinstance(t, Flatten):
            op = FlattenOperator(label, n_inputs=len(node.inputs))
        elif isinstance(t, Write):
            op = WriteOperator(label, t.sink, source_ctx(label))
        else:
            raise PipelineConstructionError(
                f"transform '{label}': the direct runner does not know primitive {type(t).__name__}"
            )
        if node.inputs:
            subscribe(op, node)
        for tag, pc in node.outputs.items():
            where[id(pc)] = (op, tag)
        g.ops.append(op)
        if isinstance(op, SourceOperator):
            g.sources.append(op)
    if dlq is not None:
        dlq.others = [s for s in g.sources if s is not dlq]
    return g
