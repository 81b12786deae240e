"""Rows: the direct runner's batch of elements as parallel columns, without a wrapper object per
element.

A batch of ``n`` elements is ``values`` (a list), ``stamps`` (a list of int ms), ``windows`` and
``panes``. ``windows`` is either one tuple of windows shared by every element (a source's
``(GlobalWindow(),)``) or a list of ``n`` tuples; ``panes`` is either one PaneInfo shared by
every element or a list of ``n``. Stateless stages replace ``values`` and pass the other
columns on as they are (the same list objects: columns are never mutated once built), so a
fused Map → Filter → Map chain allocates no per-element wrapper.

Operators that take Rows say so (``Operator.accepts_rows``); the others receive lists of
:class:`~fluvial.values.WindowedValue`, converted once per batch where the two meet
(:func:`as_windowed_values`), e.g. at a sink, whose API is a list of WindowedValue.

>>> from fluvial.values import GLOBAL_WINDOWS
>>> r = Rows(["a", "b"], [1000, 2000], GLOBAL_WINDOWS)
>>> [wv.value for wv in r.to_windowed_values()], len(r)
(['a', 'b'], 2)
>>> r.take([False, True]).values
['b']
"""

from __future__ import annotations

from itertools import chain, compress, repeat
from typing import Any

from fluvial.columnar import ColumnBatch
from fluvial.pane import NO_FIRING, PaneInfo
from fluvial.values import GLOBAL_WINDOWS, WindowedValue


class Rows:
    __slots__ = ("values", "stamps", "windows", "panes")

    def __init__(self, values: list, stamps: list, windows: Any = GLOBAL_WINDOWS,
                 panes: Any = NO_FIRING) -> None:
        self.values = values
        self.stamps = stamps
        self.windows = windows  # a tuple shared by all, or a list of tuples
        self.panes = panes  # a PaneInfo shared by all, or a list of PaneInfo

    def __len__(self) -> int:
        return len(self.values)

    def __bool__(self) -> bool:
        return bool(self.values)

    def window_list(self) -> list:
        """The windows of every element (a list of tuples)."""
        w = self.windows
        return w if type(w) is list else [w] * len(self.values)

    def pane_list(self) -> list:
        """The pane of every element."""
        p = self.panes
        return p if type(p) is list else [p] * len(self.values)

    def element(self, i: int) -> WindowedValue:
        w, p = self.windows, self.panes
        return WindowedValue(self.values[i], self.stamps[i], w[i] if type(w) is list else w,
                             p[i] if type(p) is list else p)

    def to_windowed_values(self) -> list[WindowedValue]:
        w, p = self.windows, self.panes
        if type(w) is not list and type(p) is not list:
            return list(map(WindowedValue, self.values, self.stamps, repeat(w), repeat(p)))
        return [WindowedValue(v, t, ws, pn)
                for v, t, ws, pn in zip(self.values, self.stamps, self.window_list(), self.pane_list())]

    def take(self, keep: list) -> Rows:
        """The elements whose ``keep`` entry is truthy."""
        w, p = self.windows, self.panes
        return Rows(
            list(compress(self.values, keep)),
            list(compress(self.stamps, keep)),
            list(compress(w, keep)) if type(w) is list else w,
            list(compress(p, keep)) if type(p) is list else p,
        )

    def gather(self, values: list, index: list) -> Rows:
        """New ``values``, the i-th taking the timestamp, windows and pane of element
        ``index[i]`` (one element's several outputs, as a FlatMap's)."""
        get_t = self.stamps.__getitem__
        w, p = self.windows, self.panes
        return Rows(
            values,
            list(map(get_t, index)),
            list(map(w.__getitem__, index)) if type(w) is list else w,
            list(map(p.__getitem__, index)) if type(p) is list else p,
        )

    def repeat_each(self, values: list, counts: list) -> Rows:
        """New ``values``: ``counts[i]`` consecutive ones take element i's timestamp, windows
        and pane."""
        w, p = self.windows, self.panes
        return Rows(
            values,
            list(chain.from_iterable(map(repeat, self.stamps, counts))),
            list(chain.from_iterable(map(repeat, w, counts))) if type(w) is list else w,
            list(chain.from_iterable(map(repeat, p, counts))) if type(p) is list else p,
        )

    @staticmethod
    def from_windowed_values(batch: list) -> Rows:
        if not batch:
            return Rows([], [])
        first = batch[0]
        w0, p0 = first.windows, first.pane
        windows: Any = w0
        panes: Any = p0
        for wv in batch:
            if wv.windows is not w0:
                windows = [wv.windows for wv in batch]
                break
        for wv in batch:
            if wv.pane is not p0:
                panes = [wv.pane for wv in batch]
                break
        return Rows([wv.value for wv in batch], [wv.timestamp for wv in batch], windows, panes)

    @staticmethod
    def concat(parts: list[Rows]) -> Rows:
        parts = [r for r in parts if r]
        if not parts:
            return Rows([], [])
        if len(parts) == 1:
            return parts[0]
        values: list = []
        stamps: list = []
        for r in parts:
            values.extend(r.values)
            stamps.extend(r.stamps)
        w0, p0 = parts[0].windows, parts[0].panes
        if all(type(r.windows) is not list and r.windows == w0 for r in parts):
            windows: Any = w0
        else:
            windows = [w for r in parts for w in r.window_list()]
        if all(type(r.panes) is not list and r.panes == p0 for r in parts):
            panes: Any = p0
        else:
            panes = [p for r in parts for p in r.pane_list()]
        return Rows(values, stamps, windows, panes)

    def __repr__(self) -> str:
        return f"Rows({len(self)} elements)"


def as_rows(batch: Any) -> Rows:
    """A batch (Rows, a list of WindowedValue or a ColumnBatch) as Rows."""
    if type(batch) is Rows:
        return batch
    if isinstance(batch, ColumnBatch):
        return Rows(list(zip(batch.keys.tolist(), batch.values.tolist())),
                    batch.timestamps.tolist())
    return Rows.from_windowed_values(batch)


def as_windowed_values(batch: Any) -> list:
    """A batch (Rows, a list of WindowedValue or a ColumnBatch) as a list of WindowedValue."""
    if type(batch) is Rows:
        return batch.to_windowed_values()
    if isinstance(batch, ColumnBatch):
        return batch.to_windowed_values()
    return batch


__all__ = ["Rows", "as_rows", "as_windowed_values", "PaneInfo"]
