"""The pipeline graph as a runner translates it: the leaves in order, who consumes each
PCollection, which leaf produces it, each leaf's kind and error policy, and the dead-letter
wiring. Pure Python over the sdk's graph (:class:`fluvial.pipeline.AppliedTransform`); no
engine.

Rules:

* **Leaves** are the primitive nodes of the pipeline in application order (every node's inputs
  are produced by earlier leaves), except that a composite whose class the runner lists in
  ``native_composites`` is a leaf itself: the runner translates it whole and its parts are not
  visited (a runner replaces a composite only where the result is the same as its expansion).
* **Inputs.** A leaf's ``inputs`` are its main input(s) and then, for a ParDo, the
  PCollections of its side inputs, in the order of the ParDo's arguments
  (:mod:`fluvial.side_inputs`); ``consumers(pc)`` counts side-input readers too, so nothing
  fuses across a PCollection that is also read as a side input.
* **Kinds.** :func:`primitive_kind` names each primitive: ``create``, ``test_stream``,
  ``read``, ``pardo``, ``stateful_pardo`` (a DoFn with state, timers or a window-expiration
  callback), ``window_into``, ``group_by_key``, ``combine_per_key``, ``flatten``, ``write``,
  ``dead_letters``; a primitive of any other class is an error naming the transform.
* **Error policies** (:mod:`fluvial.deadletter`): a ParDo's, GroupByKey's or CombinePerKey's
  policy is its own ``on_error``, else the pipeline's ``--on-error``, else ``"fail"``; downstream of ``p.dead_letters()`` the
  pipeline's ``--on-error dead_letter`` does not apply and an own ``on_error="dead_letter"`` is
  an error (it would loop). A Read's policy is its source's ``on_error``, else the pipeline's.
  Every other leaf fails on error. Policies are computed (and the loop checked) when the graph is
  built, after :func:`~fluvial.deadletter.check_dead_letter_consumer`.
* **Dead letters.** ``p.dead_letters()`` is the leaf :attr:`TranslationGraph.dead_letters`; its
  producers are the leaves whose policy is ``"dead_letter"``. :meth:`TranslationGraph.order`
  puts it, with every leaf downstream of it, after all other leaves: the order a runner needs
  when it builds the dead-letter output from its producers' outputs (a Flatten of them). A
  runner that feeds it during the run instead (a source the producers push into) may translate
  in application order (:attr:`TranslationGraph.leaves`).

>>> import fluvial as fl
>>> p = fl.Pipeline(argv=[])
>>> nums = p | fl.Create(["1", "x"]) | "Parse" >> fl.Map(int, on_error="dead_letter")
>>> _ = p.dead_letters() | "Show" >> fl.Map(repr)
>>> g = TranslationGraph(p, p.options)
>>> [primitive_kind(n) for n in g.order()]
['create', 'pardo', 'dead_letters', 'pardo']
>>> [n.full_label for n in g.dead_letter_producers()]
['Parse/ParDo']
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fluvial.combine import CombinePerKey
from fluvial.create import Create
from fluvial.deadletter import (
    DeadLetters,
    check_dead_letter_consumer,
    effective_policy,
    node_policy,
)
from fluvial.errors import UnsupportedFeatureError
from fluvial.flatten import Flatten
from fluvial.gbk import GroupByKey
from fluvial.pardo import ParDo
from fluvial.sink import Write
from fluvial.source import Read
from fluvial.testing.test_stream import TestStream
from fluvial.windowinto import WindowInto

#: the primitives, by class, and the name of their kind (the translator's method name)
PRIMITIVE_KINDS: tuple[tuple[type, str], ...] = (
    (Create, "create"),
    (TestStream, "test_stream"),
    (Read, "read"),
    (ParDo, "pardo"),
    (WindowInto, "window_into"),
    (GroupByKey, "group_by_key"),
    (CombinePerKey, "combine_per_key"),
    (Flatten, "flatten"),
    (Write, "write"),
    (DeadLetters, "dead_letters"),
)

#: every kind name a translator may implement for a primitive
KINDS: tuple[str, ...] = (
    "create", "test_stream", "read", "pardo", "stateful_pardo", "window_into", "group_by_key",
    "combine_per_key", "flatten", "write", "dead_letters",
)


def primitive_kind(node: Any, runner: str = "?") -> str:
    """The kind of the primitive ``node`` (see the module rules); an unknown primitive raises
    :class:`~fluvial.errors.UnsupportedFeatureError` naming the transform and ``runner``."""
    t = node.transform
    for cls, kind in PRIMITIVE_KINDS:
        if isinstance(t, cls):
            if kind == "pardo" and t.signature is not None and t.signature.is_stateful:
                return "stateful_pardo"
            return kind
    names = ", ".join(cls.__name__ for cls, _ in PRIMITIVE_KINDS)
    raise UnsupportedFeatureError(
        runner, node.full_label,
        f"{type(t).__name__} is not one of fluvial's primitives ({names}); write it as a "
        "composite (a PTransform with expand()) of those",
    )


def _walk(node: Any, native: tuple[type, ...]) -> Iterator[Any]:
    for part in node.parts:
        if native and not part.is_primitive and isinstance(part.transform, native):
            yield part
        elif part.is_primitive:
            yield part
        else:
            yield from _walk(part, native)


class TranslationGraph:
    """The leaves of ``pipeline`` with their wiring, kinds and error policies (module rules).
    ``native_composites``: composite classes the runner translates whole."""

    def __init__(self, pipeline: Any, options: Any, native_composites: tuple[type, ...] = (),
                 runner: str = "?") -> None:
        check_dead_letter_consumer(pipeline, options)
        self.pipeline = pipeline
        self.options = options
        self.runner = runner
        self.native_composites = tuple(native_composites)
        #: the leaves in application order (inputs before consumers)
        self.leaves: list[Any] = list(_walk(pipeline.root, self.native_composites))
        self._consumers: dict[int, list[Any]] = {}
        self._producer: dict[int, Any] = {}
        for n in self.leaves:
            for pc in n.inputs:
                self._consumers.setdefault(id(pc), []).append(n)
            for pc in n.outputs.values():
                self._producer[id(pc)] = n
        #: the ``p.dead_letters()`` leaf, or None
        self.dead_letters: Any = next(
            (n for n in self.leaves if isinstance(n.transform, DeadLetters)), None)
        self._downstream = self._downstream_of(self.dead_letters)
        self._policy = {id(n): self._policy_of(n) for n in self.leaves}

    # -- wiring ------------------------------------------------------------------------------
    def consumers(self, pc: Any) -> list[Any]:
        """The leaves reading ``pc`` (as a main or a side input), in application order."""
        return self._consumers.get(id(pc), [])

    def producer(self, pc: Any) -> Any:
        """The leaf whose output ``pc`` is."""
        return self._producer[id(pc)]

    def is_native(self, node: Any) -> bool:
        """Whether ``node`` is a composite the runner translates whole."""
        return not node.is_primitive

    def kind(self, node: Any) -> str:
        """The primitive's kind (:func:`primitive_kind`); for a native composite, its class
        name."""
        if self.is_native(node):
            return type(node.transform).__name__
        return primitive_kind(node, self.runner)

    # -- dead letters ------------------------------------------------------------------------
    def _downstream_of(self, start: Any) -> set[int]:
        if start is None:
            return set()
        down = {id(start)}
        made = {id(pc) for pc in start.outputs.values()}
        for n in self.leaves:
            if any(id(pc) in made for pc in n.inputs):
                down.add(id(n))
                made.update(id(pc) for pc in n.outputs.values())
        return down

    def is_downstream_of_dead_letters(self, node: Any) -> bool:
        """Whether ``node`` is ``p.dead_letters()`` or reads it, directly or further down."""
        return id(node) in self._downstream

    def _policy_of(self, node: Any) -> str:
        t = node.transform
        if node.is_primitive and isinstance(t, (ParDo, GroupByKey, CombinePerKey)):
            handles = id(node) in self._downstream and node is not self.dead_letters
            return node_policy(t.on_error, self.options, node.full_label, handles)
        if node.is_primitive and isinstance(t, Read):
            return effective_policy(getattr(t.source, "on_error", None), self.options)
        return "fail"

    def policy(self, node: Any) -> str:
        """The error policy of ``node``: ``"fail"``, ``"dead_letter"`` or ``"skip"``."""
        return self._policy[id(node)]

    def dead_letter_producers(self) -> list[Any]:
        """The leaves whose failed elements go to ``p.dead_letters()``, in application order."""
        return [n for n in self.leaves if self._policy[id(n)] == "dead_letter"]

    def order(self) -> list[Any]:
        """The leaves with ``p.dead_letters()`` and everything downstream of it after every
        other leaf (each part keeps application order)."""
        down = self._downstream
        return ([n for n in self.leaves if id(n) not in down]
                + [n for n in self.leaves if id(n) in down])
