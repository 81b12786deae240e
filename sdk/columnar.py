"""ColumnBatch: a batch of (key, value) elements as NumPy columns, all in the global window.

Sources that can produce columns (synthetic generators, vectorised readers) hand these to the
runner; operators that understand them (built-in combiners on fixed/sliding windows) skip
per-element Python work. Everything else sees ordinary elements.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from fluvial.pane import NO_FIRING
from fluvial.values import GLOBAL_WINDOWS, WindowedValue


class ColumnBatch:
    __slots__ = ("keys", "values", "timestamps")

    def __init__(self, keys: np.ndarray, values: np.ndarray, timestamps: np.ndarray) -> None:
        if not (len(keys) == len(values) == len(timestamps)):
            raise ValueError("ColumnBatch columns must have equal lengths")
        self.keys = keys
        self.values = values
        self.timestamps = timestamps.astype(np.int64, copy=False)

    def __len__(self) -> int:
        return len(self.keys)

    def to_windowed_values(self) -> list[WindowedValue]:
        ks = self.keys.tolist()
        vs = self.values.tolist()
        ts = self.timestamps.tolist()
        return [WindowedValue((k, v), t, GLOBAL_WINDOWS, NO_FIRING) for k, v, t in zip(ks, vs, ts)]

    def rows(self) -> Iterator[tuple[Any, Any, int]]:
        return zip(self.keys.tolist(), self.values.tolist(), self.timestamps.tolist())
