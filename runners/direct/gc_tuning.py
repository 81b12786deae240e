"""Garbage collection while the direct runner runs a pipeline.

The runner works in batches: a batch's elements, their outputs and the state they create are
allocated together and live until the batch is done. With CPython's default thresholds
(a young collection every 700 allocations) each batch triggers several young collections that
find almost nothing to free, promote the whole batch to older generations and so make the
older collections, which scan all of the operators' state, frequent. While a pipeline runs the
runner raises the thresholds to :data:`THRESHOLDS` (never lowers one) and restores the previous
ones when the run ends, however it ends. Reference counting still frees every object that is not
part of a cycle as soon as it is unused; only the collection of cyclic garbage is later.

>>> import gc
>>> before = gc.get_threshold()
>>> with batch_gc():
...     gc.get_threshold()[0] >= THRESHOLDS[0]
True
>>> gc.get_threshold() == before
True
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (50_000, 20, 20)


@contextmanager
def batch_gc() -> Iterator[None]:
    """Collection thresholds raised to at least :data:`THRESHOLDS` inside the block."""
    old = gc.get_threshold()
    gc.set_threshold(*(max(a, b) for a, b in zip(old, THRESHOLDS)))
    try:
        yield
    finally:
        gc.set_threshold(*old)
