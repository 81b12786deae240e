"""WindowInto, Flatten and Write on the direct runner."""

from __future__ import annotations

from typing import Any

from fluvial import metrics as m
from fluvial.pane import NO_FIRING
from fluvial.values import GLOBAL_WINDOWS
from fluvial.window import FixedWindows, GlobalWindows, SlidingWindows

from ..rows import Rows, as_rows
from .base import Operator
from .errors import user_error


class WindowIntoOperator(Operator):
    """Assigns windows by element timestamp. Fixed and sliding windows depend on the timestamp's
    slice only (:meth:`fluvial.window.WindowFn.slicing`): one tuple of windows per slice is
    made once and shared by its elements."""

    accepts_rows = True

    def __init__(self, label: str, window_fn: Any) -> None:
        super().__init__(label)
        self.window_fn = window_fn
        sl = window_fn.slicing() if type(window_fn) in (FixedWindows, SlidingWindows) else None
        self.slicing = sl
        self.cache: dict[int, tuple] = {}

    def process(self, idx: int, batch: Any) -> None:
        rows = as_rows(batch)
        fn = self.window_fn
        if isinstance(fn, GlobalWindows):
            self.emit(Rows(rows.values, rows.stamps, GLOBAL_WINDOWS, NO_FIRING))
            return
        sl = self.slicing
        if sl is not None:
            cache = self.cache
            if len(cache) > 4096:
                cache.clear()
            off, period = sl.offset_ms, sl.period_ms
            windows = []
            append = windows.append
            for t in rows.stamps:
                si = (t - off) // period
                ws = cache.get(si)
                if ws is None:
                    ws = cache[si] = tuple(fn.assign(t, None))
                append(ws)
        else:
            assign = fn.assign
            windows = []
            for v, t in zip(rows.values, rows.stamps):
                try:
                    windows.append(tuple(assign(t, v)))
                except Exception as e:
                    raise user_error(self.label, v, e) from e
        self.emit(Rows(rows.values, rows.stamps, windows, NO_FIRING))


class FlattenOperator(Operator):
    accepts_rows = True

    def process(self, idx: int, batch: Any) -> None:
        self.emit(batch)


class WriteOperator(Operator):
    """Hands batches to a sink writer; takes part in checkpoints (two-phase commit hooks)."""

    def __init__(self, label: str, sink: Any, ctx: Any) -> None:
        super().__init__(label)
        self.sink = sink
        self.ctx = ctx
        self.writer: Any = None

    def open(self, metrics: Any) -> None:
        super().open(metrics)
        m.set_step(self.label)
        self.writer = self.sink.open(self.ctx)

    def process(self, idx: int, batch: Any) -> None:
        m.set_step(self.label)
        try:
            self.writer.write(batch)
        except Exception as e:
            raise user_error(self.label, batch[0].value if batch else None, e) from e
        self.count("elements_written", len(batch))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


__all__ = ["WindowIntoOperator", "FlattenOperator", "WriteOperator", "SlidingWindows"]
