"""Pipeline: builds the graph of applied transforms and runs it on the chosen runner.

>>> import fluvial as fl
>>> from fluvial.transforms import Map
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     _ = p | fl.Create([1, 2]) | Map(lambda x: x + 1)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fluvial.errors import PipelineConstructionError
from fluvial.options import PipelineOptions
from fluvial.ptransform import PrimitiveTransform, PTransform
from fluvial.pvalue import DoOutputsTuple, PCollection
from fluvial.windowing import Windowing


class AppliedTransform:
    """A node of the graph: a transform applied to inputs, with its outputs and sub-nodes."""

    def __init__(self, parent: AppliedTransform | None, transform: PTransform | None, full_label: str, inputs: Sequence[PCollection]) -> None:
        self.parent = parent
        self.transform = transform
        self.full_label = full_label
        self.inputs: list[PCollection] = list(inputs)
        self.outputs: dict[str | None, PCollection] = {}
        self.parts: list[AppliedTransform] = []

    @property
    def is_primitive(self) -> bool:
        return isinstance(self.transform, PrimitiveTransform)

    def __repr__(self) -> str:
        return f"<AppliedTransform {self.full_label} {type(self.transform).__name__}>"


def pipeline_of(pvalueish: Any) -> Pipeline:
    if isinstance(pvalueish, (PCollection, DoOutputsTuple)):
        return pvalueish.pipeline
    if isinstance(pvalueish, dict):
        pvalueish = list(pvalueish.values())
    if isinstance(pvalueish, (list, tuple)) and pvalueish:
        return pipeline_of(pvalueish[0])
    raise TypeError(f"cannot apply a transform to {pvalueish!r}; expected a PCollection or a Pipeline")


def _flatten_inputs(pvalueish: Any) -> list[PCollection]:
    if isinstance(pvalueish, PCollection):
        return [pvalueish]
    if isinstance(pvalueish, DoOutputsTuple):
        return [pvalueish.main]
    if isinstance(pvalueish, dict):
        return [p for v in pvalueish.values() for p in _flatten_inputs(v)]
    if isinstance(pvalueish, (list, tuple)):
        return [p for v in pvalueish for p in _flatten_inputs(v)]
    return []


class Pipeline:
    """A graph of transforms. Use as a context manager (runs on exit) or call :meth:`run`.

    ``options`` are a :class:`PipelineOptions`; when omitted they are parsed from ``argv``
    (default: ``sys.argv[1:]``), so ``python my_pipeline.py --runner direct`` works. An
    unknown option is an error; a script declares its own flags with ``add_arguments`` (a
    function that calls ``parser.add_argument``) and finds their values in ``p.options.args``.

    >>> def add_arguments(parser):
    ...     parser.add_argument("--factor", type=int, default=2, help="what to multiply by")
    >>> p = Pipeline(argv=["--factor", "3"], add_arguments=add_arguments)
    >>> p.options.args.factor
    3
    """

    def __init__(self, options: PipelineOptions | None = None, argv: Sequence[str] | None = None,
                 runner: Any = None, add_arguments: Callable[[Any], None] | None = None) -> None:
        if options is None:
            options = PipelineOptions.from_argv(argv, add_arguments=add_arguments)
        elif argv is not None or add_arguments is not None:
            raise TypeError("pass either options, or argv (and add_arguments) to parse them from")
        if not isinstance(options, PipelineOptions):
            raise TypeError(f"options must be PipelineOptions, got {options!r}")
        self.options = options
        self._runner = runner
        self.root = AppliedTransform(None, None, "", [])
        self._stack: list[AppliedTransform] = [self.root]
        self._labels: set[str] = set()
        self._result: Any = None
        self._dead_letters: PCollection | None = None

    # -- construction ------------------------------------------------------------------------
    def apply(self, transform: Any, pvalueish: Any = None, label: str | None = None) -> Any:
        if not isinstance(transform, PTransform):
            raise TypeError(
                f"expected a PTransform, got {transform!r}; wrap functions as Map(fn) or ParDo(DoFn)"
            )
        if pvalueish is None:
            pvalueish = self
        inputs = _flatten_inputs(pvalueish)
        for pc in inputs:
            if pc.pipeline is not self:
                raise PipelineConstructionError(
                    f"transform '{label or transform.label or transform.default_label()}' is applied "
                    f"to {pc!r}, which belongs to another pipeline; build each pipeline from its own "
                    "PCollections"
                )
        parent = self._stack[-1]
        short = label or transform.label or transform.default_label()
        full = f"{parent.full_label}/{short}" if parent.full_label else short
        if full in self._labels:
            raise PipelineConstructionError(
                f"transform label '{full}' is used twice in this pipeline; give each application a "
                f"unique label: pcoll | 'MyLabel' >> {transform.default_label()}"
            )
        self._labels.add(full)
        node = AppliedTransform(parent, transform, full, inputs)
        parent.parts.append(node)
        self._stack.append(node)
        try:
            if isinstance(transform, PrimitiveTransform):
                out = transform.expand_primitive(node, pvalueish)  # type: ignore[attr-defined]
            else:
                out = transform.expand(pvalueish if pvalueish is not self else self)
        finally:
            self._stack.pop()
        for tag, pc in _outputs_of(out):
            node.outputs.setdefault(tag, pc)
        return out

    def dead_letters(self) -> PCollection:
        """The PCollection (global window) of :class:`fluvial.deadletter.DeadLetterRecord` of
        every transform and source of this pipeline whose error policy is ``"dead_letter"``.
        Added once; later calls return the same PCollection.

        >>> import fluvial as fl
        >>> from fluvial.transforms import Map
        >>> p = fl.Pipeline(argv=[])
        >>> _ = p | fl.Create(["1", "x"]) | Map(int, on_error="dead_letter")
        >>> errors = p.dead_letters()  # then: errors | WriteDeadLettersToJsonLines("dlq/errors")
        """
        if self._dead_letters is None:
            from fluvial.deadletter import DeadLetters

            saved, self._stack = self._stack, [self.root]  # a top-level node, wherever called
            try:
                self._dead_letters = self.apply(DeadLetters(), self)
            finally:
                self._stack = saved
        return self._dead_letters

    def new_pcollection(self, node: AppliedTransform, windowing: Windowing, is_bounded: bool, tag: str | None = None) -> PCollection:
        pc = PCollection(self, node, windowing, is_bounded, tag)
        node.outputs[tag] = pc
        return pc

    def __or__(self, transform: Any) -> Any:
        return self.apply(transform, self)

    # -- traversal ---------------------------------------------------------------------------
    def primitives(self) -> Iterator[AppliedTransform]:
        """Primitive nodes in application order (inputs come before consumers)."""

        def walk(n: AppliedTransform) -> Iterator[AppliedTransform]:
            for part in n.parts:
                if part.is_primitive:
                    yield part
                else:
                    yield from walk(part)

        yield from walk(self.root)

    def fingerprint(self) -> str:
        """A digest of the primitive graph: labels, kinds and wiring."""
        h = hashlib.sha256()
        for n in self.primitives():
            h.update(n.full_label.encode())
            h.update(type(n.transform).__name__.encode())
            for pc in n.inputs:
                h.update(pc.label.encode())
            h.update(b"|")
        return h.hexdigest()[:16]

    # -- running -----------------------------------------------------------------------------
    def run(self) -> Any:
        from fluvial.deadletter import check_dead_letter_consumer
        from fluvial.registry import get_runner

        check_dead_letter_consumer(self)
        runner = self._runner if self._runner is not None else get_runner(self.options.runner)
        self._result = runner.run_pipeline(self, self.options)
        return self._result

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.run().wait_until_finish()


def _outputs_of(out: Any) -> list[tuple[str | None, PCollection]]:
    if isinstance(out, PCollection):
        return [(out.tag, out)]
    if isinstance(out, DoOutputsTuple):
        return [(pc.tag, pc) for pc in out]
    if isinstance(out, dict):
        return [(str(k), v) for k, v in out.items() if isinstance(v, PCollection)]
    if isinstance(out, (list, tuple)):
        return [(str(i), v) for i, v in enumerate(out) if isinstance(v, PCollection)]
    return []
