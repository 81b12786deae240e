"""The translation skeleton every runner uses: walk the pipeline's leaves, optionally fuse, and
dispatch each step to one method per primitive kind. The runner writes what is specific to its
engine (how a ParDo becomes an operator, a Beam transform, a Flink function); the walk, the
consumers and producers of each PCollection, the error policies, the dead-letter wiring and the
fusion rules are written once, here and in :mod:`~fluvial.runners.common.graph` and
:mod:`~fluvial.runners.common.fusion`.

How a runner plugs in
=====================

Subclass :class:`Translator`, set ``runner`` (the runner's name, for error messages) and write
one method per primitive kind, each taking the leaf (an
:class:`~fluvial.pipeline.AppliedTransform`: ``.transform``, ``.full_label``, ``.inputs``,
``.outputs``):

``create``, ``test_stream``, ``read``, ``pardo``, ``stateful_pardo``, ``window_into``,
``group_by_key``, ``combine_per_key``, ``flatten``, ``write``, ``dead_letters``.

Then ``Translator(pipeline, options).translate()`` calls them in the order of :meth:`plan`.
Inside a method:

* ``self.input(node, i)`` is the runner's handle (whatever the runner stored: a Beam
  PCollection, an ``(operator, tag)`` pair, a Flink DataStream) of the node's i-th input;
  ``self.set_output(node, handle, tag)`` stores the handle of its output ``tag`` (None: the main
  output). A ParDo's inputs are its main input then its side inputs
  (``self.side_inputs(node)`` pairs each side-input view with its handle).
* ``self.graph.policy(node)`` is the node's error policy (``"fail"``, ``"dead_letter"`` or
  ``"skip"``). A runner that builds ``p.dead_letters()`` from its producers' dead-letter outputs
  appends each such output to ``self.dead_letter_outputs``; :meth:`plan` translates
  ``p.dead_letters()`` after all of them (``dead_letters`` then reads the list). A runner that
  feeds the dead letters during the run (a source the producers push into) overrides
  :meth:`plan` to use application order, ``self.graph.leaves``.
* Fusion is a pass the runner chooses in :meth:`plan` (:mod:`~fluvial.runners.common.fusion`):
  a :class:`~fluvial.runners.common.fusion.ParDoChain` step goes to the method ``pardo_chain``,
  a :class:`~fluvial.runners.common.fusion.WindowedCombine` to ``windowed_combine``.
* A composite the runner translates whole is named in ``native_composites`` (class -> method
  name); for example the Beam runner maps ``Reshuffle`` to Beam's own.

A kind the runner has no method for, and a primitive fluvial does not know, raise
:class:`~fluvial.errors.UnsupportedFeatureError` naming the runner and the transform label.
The direct runner (``runners/direct/translate.py``), the Beam runner
(``runners/beam/translate.py``) and the Flink runner (``runners/flink/translate.py``) are
complete examples.

A toy runner that counts the primitives of a pipeline by kind:

>>> import fluvial as fl
>>> class CountingTranslator(Translator):
...     runner = "counting"
...     def __init__(self, pipeline, options):
...         super().__init__(pipeline, options)
...         self.counts = {}
...     def count(self, node):
...         kind = self.graph.kind(node)
...         self.counts[kind] = self.counts.get(kind, 0) + 1
...     create = pardo = group_by_key = window_into = combine_per_key = count
>>> class CountingRunner:
...     name = "counting"
...     def run_pipeline(self, pipeline, options):
...         return CountingTranslator(pipeline, options).translate().counts
>>> p = fl.Pipeline(argv=[], runner=CountingRunner())
>>> words = p | fl.Create(["a", "b", "a"]) | fl.Map(lambda w: (w, 1))
>>> _ = words | fl.WindowInto(fl.FixedWindows(60)) | fl.CombinePerKey(sum)
>>> _ = words | fl.GroupByKey()
>>> p.run()
{'create': 1, 'pardo': 1, 'window_into': 1, 'combine_per_key': 1, 'group_by_key': 1}

Without a ``flatten`` method, a Flatten is refused, naming the transform:

>>> p2 = fl.Pipeline(argv=[], runner=CountingRunner())
>>> a, b = p2 | "A" >> fl.Create([1]), p2 | "B" >> fl.Create([2])
>>> _ = (a, b) | "Both" >> fl.Flatten()
>>> p2.run()
Traceback (most recent call last):
...
fluvial.errors.UnsupportedFeatureError: runner 'counting' cannot run transform 'Both': \
flatten (Flatten) has no translation on this runner (no method 'flatten')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fluvial.errors import UnsupportedFeatureError

from .fusion import ParDoChain, WindowedCombine
from .graph import TranslationGraph


class Translator:
    """The skeleton (see the module docstring). Subclasses set ``runner``, optionally
    ``native_composites`` (composite class -> method name), and write the per-kind methods."""

    runner: str = "?"
    native_composites: Mapping[type, str] = {}

    def __init__(self, pipeline: Any, options: Any) -> None:
        self.pipeline = pipeline
        self.options = options
        self.graph = TranslationGraph(pipeline, options, tuple(self.native_composites),
                                      self.runner)
        self._handles: dict[int, Any] = {}
        #: handles of the dead-letter outputs of the producers translated so far
        self.dead_letter_outputs: list[Any] = []

    # -- the plan ------------------------------------------------------------------------------
    def plan(self) -> list[Any]:
        """The steps in translation order: by default the graph's leaves with
        ``p.dead_letters()`` after its producers, unfused. Override to run fusion passes."""
        return self.graph.order()

    def translate(self) -> Translator:
        """Translate every step of :meth:`plan`; returns ``self``."""
        for step in self.plan():
            self.translate_step(step)
        return self

    def step_method(self, step: Any) -> str:
        """The name of the method that translates ``step``."""
        if isinstance(step, ParDoChain):
            return "pardo_chain"
        if isinstance(step, WindowedCombine):
            return "windowed_combine"
        if self.graph.is_native(step):
            for cls, name in self.native_composites.items():
                if isinstance(step.transform, cls):
                    return name
        return self.graph.kind(step)

    def translate_step(self, step: Any) -> None:
        """Dispatch ``step`` to its method; a missing method is an error naming the transform."""
        name = self.step_method(step)
        method = getattr(self, name, None)
        if method is None:
            node = getattr(step, "first", step)
            raise UnsupportedFeatureError(
                self.runner, node.full_label,
                f"{name} ({type(node.transform).__name__}) has no translation on this runner "
                f"(no method '{name}')",
            )
        method(step)

    # -- handles -------------------------------------------------------------------------------
    def set_output(self, node: Any, handle: Any, tag: str | None = None) -> None:
        """Record ``handle`` as the runner's form of ``node``'s output ``tag``."""
        self._handles[id(node.outputs[tag])] = handle

    def handle(self, pc: Any) -> Any:
        """The runner's handle of the PCollection ``pc`` (its producer was translated)."""
        try:
            return self._handles[id(pc)]
        except KeyError:
            raise RuntimeError(
                f"runner '{self.runner}': {pc!r} has no translation yet; its producer "
                f"'{pc.producer.full_label if pc.producer else '?'}' must be translated first "
                "(did its method call set_output?)"
            ) from None

    def input(self, node: Any, i: int = 0) -> Any:
        """The handle of ``node``'s i-th input."""
        return self.handle(node.inputs[i])

    def side_inputs(self, node: Any) -> list[tuple[Any, Any]]:
        """``(view, handle)`` for each side input of the ParDo ``node``, in argument order."""
        views = getattr(node.transform, "side_inputs", ())
        return [(v, self.handle(v.pvalue)) for v in views]
