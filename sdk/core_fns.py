"""Small DoFns the sdk's own composites are built from."""

from __future__ import annotations

from typing import Any

from fluvial.dofn import DoFn
from fluvial.pardo import ParDo
from fluvial.ptransform import PTransform


class _EmptyMarker:
    _inst = None

    def __new__(cls):
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __reduce__(self):
        return (_EmptyMarker, ())

    def __repr__(self) -> str:
        return "<empty>"


EMPTY_MARKER = _EmptyMarker()


class _KeyWithNone(DoFn):
    def process(self, x):
        yield (None, x)

    def process_batch(self, xs):
        return [(None, x) for x in xs]


class _DropKey(DoFn):
    def process(self, kv):
        yield kv[1]

    def process_batch(self, kvs):
        return [kv[1] for kv in kvs]


class KeyWithNone(PTransform):
    def expand(self, pcoll):
        return pcoll | "KeyWithNone" >> ParDo(_KeyWithNone())


class DropKey(PTransform):
    def expand(self, pcoll):
        return pcoll | "DropKey" >> ParDo(_DropKey())


def insert_default_if_empty(keyed: Any) -> Any:
    """Flatten in one (None, EMPTY_MARKER) element so that an empty input still fires."""
    from fluvial.create import Create
    from fluvial.flatten import Flatten

    marker = keyed.pipeline | "DefaultMarker" >> Create([(None, EMPTY_MARKER)])
    return (keyed, marker) | "WithDefault" >> Flatten()
