"""ParDo: apply a DoFn to every element; tagged side outputs with ``with_outputs``.

>>> from fluvial import DoFn, TaggedOutput
>>> class Parity(DoFn):
...     def process(self, x):
...         yield x if x % 2 == 0 else TaggedOutput("odd", x)
>>> # pcoll | ParDo(Parity()).with_outputs("odd", main="even")

``on_error`` ("fail", "dead_letter" or "skip"; None: the pipeline's ``--on-error``) decides
what an exception in ``process`` (or ``process_batch``, or a timer callback) does; see
:mod:`fluvial.deadletter`.

Extra arguments may be side-input views (``AsSingleton``, ``AsIter``, ``AsList``, ``AsDict``;
:mod:`fluvial.side_inputs`): the applied node's inputs are then the main input followed by the
side inputs' PCollections, in argument order (positional, then keyword).
"""

from __future__ import annotations

from typing import Any

from fluvial.deadletter import check_policy
from fluvial.dofn import DoFn
from fluvial.errors import PipelineConstructionError
from fluvial.ptransform import PrimitiveTransform
from fluvial.pvalue import DoOutputsTuple
from fluvial.side_inputs import SideArgs


class ParDo(PrimitiveTransform):
    """Applies ``fn`` to every element; extra arguments go to every ``process`` call.

    ``on_error`` is this transform's error policy (keyword only): ``"fail"`` (a
    UserCodeError stops the run), ``"dead_letter"`` (a DeadLetterRecord goes to
    ``p.dead_letters()``, outputs already yielded for that element are discarded) or ``"skip"``
    (the element is dropped and counted in ``fluvial/errors_skipped``); None uses the
    pipeline's ``--on-error``.

    >>> from fluvial import DoFn
    >>> class Parse(DoFn):
    ...     def process(self, line):
    ...         yield int(line)
    >>> t = ParDo(Parse(), on_error="skip")
    """

    def __init__(self, fn: DoFn, *args: Any, on_error: str | None = None, **kwargs: Any) -> None:
        if isinstance(fn, type) and issubclass(fn, DoFn):
            raise PipelineConstructionError(
                f"ParDo needs a DoFn instance: ParDo({fn.__name__}()), not the class"
            )
        if not isinstance(fn, DoFn):
            raise PipelineConstructionError(
                f"ParDo needs a DoFn, got {fn!r}; for a plain function use Map, FlatMap or Filter"
            )
        self.fn = fn
        self.on_error = check_policy(on_error, f"transform '{self.default_label()}'")
        self.args = args
        self.kwargs = kwargs
        #: the extra arguments with their side-input views (:class:`fluvial.side_inputs.SideArgs`)
        self.side_args = SideArgs(args, kwargs)
        #: the side-input views, in argument order
        self.side_inputs = tuple(self.side_args.views)
        self.output_tags: tuple[str, ...] = ()
        self.main_tag: str | None = None
        self.signature: Any = None

    def with_outputs(self, *tags: str, main: str | None = None) -> ParDo:
        for t in tags:
            if not isinstance(t, str):
                raise PipelineConstructionError(f"ParDo.with_outputs: tags must be strings, got {t!r}")
        if main is not None and main in tags:
            raise PipelineConstructionError(
                f"ParDo.with_outputs: the main output's name {main!r} is also a tag; name it apart"
            )
        self.output_tags = tuple(tags)
        self.main_tag = main
        return self

    def default_label(self) -> str:
        return f"ParDo({self.fn.default_label()})"

    def expand_primitive(self, node, pcoll):
        from fluvial.dofn_invoker import DoFnSignature
        from fluvial.pvalue import PCollection

        if not isinstance(pcoll, PCollection):
            raise PipelineConstructionError(
                f"transform '{node.full_label}': ParDo is applied to a PCollection, got {pcoll!r}"
            )
        self.signature = DoFnSignature(self.fn, node.full_label)
        p = pcoll.pipeline
        for view in self.side_inputs:
            if view.pvalue.pipeline is not p:
                raise PipelineConstructionError(
                    f"transform '{node.full_label}': side input {view!r} belongs to another "
                    "pipeline; build each pipeline from its own PCollections"
                )
            node.inputs.append(view.pvalue)
        if self.side_inputs and self.signature.is_stateful:
            raise PipelineConstructionError(
                f"transform '{node.full_label}': a stateful DoFn (state or timers) cannot take "
                f"side inputs ({', '.join(map(repr, self.side_inputs))}); read the side input "
                "in a stateless ParDo before it, or keep the values in state"
            )
        main = p.new_pcollection(node, pcoll.windowing, pcoll.is_bounded)
        if not self.output_tags and self.main_tag is None:
            return main
        tagged = {t: p.new_pcollection(node, pcoll.windowing, pcoll.is_bounded, tag=t) for t in self.output_tags}
        return DoOutputsTuple(main, tagged, self.main_tag)
