"""WindowInto, Flatten and Write on the direct runner."""

from __future__ import annotations

from typing import Any

from fluvial import metrics as m
from fluvial.pane import NO_FIRING
from fluvial.values import WindowedValue
from fluvial.window import FixedWindows, GlobalWindows, SlidingWindows

from .base import Operator
from .errors import user_error


class WindowIntoOperator(Operator):
    """Assigns windows by element timestamp; vectorised for fixed windows on columns."""

    def __init__(self, label: str, window_fn: Any) -> None:
        super().__init__(label)
        self.window_fn = window_fn

    def process(self, idx: int, batch: Any) -> None:
        fn = self.window_fn
        out = []
        if isinstance(fn, GlobalWindows):
            from fluvial.values import GLOBAL_WINDOWS

            for wv in batch:
                out.append(WindowedValue(wv.value, wv.timestamp, GLOBAL_WINDOWS, NO_FIRING))
        elif isinstance(fn, FixedWindows):
            from fluvial.window import IntervalWindow

            size, off = fn.size_ms, fn.offset_ms
            cache: dict[int, tuple] = {}
            for wv in batch:
                t = wv.timestamp
                start = t - (t - off) % size
                ws = cache.get(start)
                if ws is None:
                    ws = cache[start] = (IntervalWindow(start, start + size),)
                out.append(WindowedValue(wv.value, t, ws, NO_FIRING))
        else:
            assign = fn.assign
            for wv in batch:
                try:
                    ws = tuple(assign(wv.timestamp, wv.value))
                except Exception as e:
                    raise user_error(self.label, wv.value, e) from e
                out.append(WindowedValue(wv.value, wv.timestamp, ws, NO_FIRING))
        self.emit(out)


class FlattenOperator(Operator):
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
