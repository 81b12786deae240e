"""Translate a pipeline into direct-runner operators on the shared skeleton
(:mod:`fluvial.runners.common.translator`), fusing where the result is provably the same:
chains of stateless ParDos (one operator, the batch passes every stage without intermediate
buffers), and WindowInto + a grouping (GroupByKey, CombinePerKey) where a specialised operator
computes what the window driver does. Which operator a grouping or a stateful ParDo gets is
:mod:`.fast_paths`' choice. Each ParDo stage keeps its own label and error policy, fused or not.

``p.dead_letters()`` is a DeadLetterSource created before the walk: ParDos, groupings
(GroupByKey, CombinePerKey) and Read sources push their dead-letter records into it during the
run, so the walk keeps application order.
A stateless ParDo with side inputs is an operator of its own with one input per side input
(:mod:`.operators.side_inputs`)."""

from __future__ import annotations

from typing import Any

from fluvial.runners.common.fusion import (
    ParDoChain,
    WindowedCombine,
    fuse_pardo_chains,
    fuse_windowed_combines,
)
from fluvial.runners.common.translator import Translator
from fluvial.source import SourceContext

from .fast_paths import fuse_window_into, grouping, stateful_pardo
from .operators.base import Operator
from .operators.on_error import ErrorHandler
from .operators.pardo import DoFnCaller, ParDoOperator
from .operators.side_inputs import SideInputParDoOperator
from .operators.simple import FlattenOperator, WindowIntoOperator, WriteOperator
from .sources import CreateSource, DeadLetterSource, ReadSource, SourceOperator, TestStreamSource


class Graph:
    """The operators of a translated pipeline, in translation order, and its sources."""

    def __init__(self) -> None:
        self.ops: list[Operator] = []
        self.sources: list[SourceOperator] = []


class DirectTranslator(Translator):
    """One operator per step; see the module docstring."""

    runner = "direct"

    def __init__(self, pipeline: Any, options: Any, executor: Any) -> None:
        super().__init__(pipeline, options)
        self.executor = executor
        self.result = Graph()
        dl = self.graph.dead_letters
        self.dlq = DeadLetterSource(dl.full_label) if dl is not None else None
        self.push = self.dlq.push if self.dlq is not None else None
        self._fused: dict[int, Operator] = {}  # grouping node id -> its fused operator

    def plan(self) -> list[Any]:
        # application order: the dead-letter source exists before its producers
        steps = fuse_windowed_combines(self.graph, self.graph.leaves, self._fusable)
        return fuse_pardo_chains(self.graph, steps)

    def _fusable(self, window_into: Any, grouping: Any) -> bool:
        op = fuse_window_into(window_into.full_label, window_into.transform.windowing, grouping,
                              self.options, self._errors(grouping))
        if op is not None:
            self._fused[id(grouping)] = op
        return op is not None

    def translate(self) -> DirectTranslator:
        super().translate()
        if self.dlq is not None:
            self.dlq.others = [s for s in self.result.sources if s is not self.dlq]
        return self

    # -- helpers -------------------------------------------------------------------------------
    def _source_ctx(self, label: str) -> SourceContext:
        ex = self.executor
        return SourceContext(self.options, ex.clock, label, ex.metrics, self.push)

    def _add(self, op: Operator, first: Any, last: Any | None = None) -> None:
        """Subscribe ``op`` to the inputs of ``first``, record it as the producer of the outputs
        of ``last`` (default: ``first``)."""
        for i, pc in enumerate(first.inputs):
            src, tag = self.handle(pc)
            src.add_consumer(tag, op, i)
        for tag in (last or first).outputs:
            self.set_output(last or first, (op, tag), tag)
        self.result.ops.append(op)
        if isinstance(op, SourceOperator):
            self.result.sources.append(op)

    def _errors(self, node: Any) -> ErrorHandler:
        """The error handler of a ParDo, GroupByKey or CombinePerKey node."""
        return ErrorHandler(node.full_label, self.graph.policy(node), self.push)

    def _caller(self, node: Any) -> DoFnCaller:
        return DoFnCaller(node.full_label, node.transform, self._errors(node))

    # -- sources -------------------------------------------------------------------------------
    def create(self, node: Any) -> None:
        self._add(CreateSource(node.full_label, node.transform.values), node)

    def test_stream(self, node: Any) -> None:
        self._add(TestStreamSource(node.full_label, node.transform.script, self.executor), node)

    def read(self, node: Any) -> None:
        t, label = node.transform, node.full_label
        self._add(ReadSource(label, t.source, self._source_ctx(label), t.watermark_strategy),
                  node)

    def dead_letters(self, node: Any) -> None:
        self._add(self.dlq, node)  # type: ignore[arg-type]

    # -- element-wise --------------------------------------------------------------------------
    def pardo(self, node: Any) -> None:
        if node.transform.side_inputs:
            op: Operator = SideInputParDoOperator(
                node.full_label, self._caller(node), node.transform.side_args,
                node.inputs[0].windowing.allowed_lateness_ms)
        else:
            op = ParDoOperator(node.full_label, [self._caller(node)])
        self._add(op, node)

    def pardo_chain(self, chain: ParDoChain) -> None:
        callers = [self._caller(n) for n in chain.nodes]
        self._add(ParDoOperator(chain.first.full_label, callers), chain.first, chain.last)

    def stateful_pardo(self, node: Any) -> None:
        self._add(stateful_pardo(node.full_label, self._caller(node), node.inputs[0].windowing,
                                 self.options), node)

    def window_into(self, node: Any) -> None:
        self._add(WindowIntoOperator(node.full_label, node.transform.windowing.window_fn), node)

    def flatten(self, node: Any) -> None:
        self._add(FlattenOperator(node.full_label, n_inputs=len(node.inputs)), node)

    # -- groupings -----------------------------------------------------------------------------
    def group_by_key(self, node: Any) -> None:
        self._add(grouping(node.full_label, node.inputs[0].windowing, node.transform,
                           self.options, self._errors(node)), node)

    combine_per_key = group_by_key

    def windowed_combine(self, group: WindowedCombine) -> None:
        """A WindowInto and its grouping, fused (the operator :meth:`_fusable` chose)."""
        self._add(self._fused.pop(id(group.combine)), group.window_into, group.combine)

    # -- sinks ---------------------------------------------------------------------------------
    def write(self, node: Any) -> None:
        label = node.full_label
        self._add(WriteOperator(label, node.transform.sink, self._source_ctx(label)), node)


def translate(pipeline: Any, options: Any, executor: Any) -> Graph:
    """The operators of ``pipeline`` on the direct runner."""
    return DirectTranslator(pipeline, options, executor).translate().result
