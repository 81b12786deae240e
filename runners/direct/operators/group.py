"""GroupByKey and CombinePerKey on the direct runner: fluvial's window driver over in-memory
keyed state (the general path for every window fn, trigger and accumulation mode)."""

from __future__ import annotations

from typing import Any

from fluvial.pane import NO_FIRING
from fluvial.values import WindowedValue
from fluvial.window_driver import WindowDriver
from fluvial.windowing import TimestampCombiner, Windowing

from ..keyed_store import KeyedWindowStore
from .base import Operator
from .errors import as_kv, unhashable_key, user_error


class _Sink:
    """Collects what the driver emits for the current key."""

    __slots__ = ("op", "key", "out", "late_out")

    def __init__(self, op: GroupOperator) -> None:
        self.op = op
        self.key: Any = None
        self.out: list[WindowedValue] = []
        self.late_out: list[WindowedValue] = []

    def emit(self, window: Any, value: Any, timestamp_ms: int, pane: Any) -> None:
        self.out.append(WindowedValue((self.key, value), timestamp_ms, (window,), pane))

    def late(self, value: Any, timestamp_ms: int, window: Any) -> None:
        if self.op.late_output:
            self.late_out.append(WindowedValue((self.key, value), timestamp_ms, (window,), NO_FIRING))

    def dropped(self, reason: str, count: int) -> None:
        self.op.count(reason, count)


class GroupOperator(Operator):
    def __init__(self, label: str, windowing: Windowing, combine_fn: Any = None, late_output: bool = False, what: str = "GroupByKey") -> None:
        super().__init__(label)
        self.driver = WindowDriver(windowing, combine_fn)
        self.store = KeyedWindowStore()
        self.sink = _Sink(self)
        self.late_output = late_output
        self.what = what
        self.uses_holds = windowing.timestamp_combiner is not TimestampCombiner.OUTPUT_AT_EOW

    def _flush(self) -> None:
        s = self.sink
        if s.out:
            out, s.out = s.out, []
            self.emit(out)
        if s.late_out:
            late, s.late_out = s.late_out, []
            self.emit(late, "late")

    def process(self, idx: int, batch: Any) -> None:
        store, sink, driver = self.store, self.sink, self.driver
        store.watermark = self.watermark
        store.processing_time = self.processing_time
        label = self.label
        for wv in batch:
            kv = as_kv(label, wv.value, self.what)
            key = kv[0]
            try:
                store.bind(key)
            except TypeError:
                raise unhashable_key(label, kv) from None
            sink.key = key
            try:
                driver.process_element(kv[1], wv.timestamp, wv.windows, store, sink)
            except Exception as e:
                raise user_error(label, kv, e) from e
        self._flush()
        if self.uses_holds:
            self.forward_watermark()  # a pane may have released a hold

    def _drain(self, pop: Any, fire: Any, t: int) -> None:
        store, sink = self.store, self.sink
        store.processing_time = self.processing_time
        store.watermark = self.watermark
        while True:
            got = pop(t)
            if got is None:
                break
            key, window = got
            store.bind(key)
            sink.key = key
            try:
                fire(window, store, sink)
            except Exception as e:
                raise user_error(self.label, f"<pane of key {key!r} in {window!r}>", e) from e
            if len(sink.out) > 4096:
                self._flush()
        self._flush()

    def on_watermark(self, wm: int) -> None:
        self._drain(self.store.pop_event_timer, self.driver.on_event_timer, wm)

    def output_watermark(self) -> int:
        if not self.uses_holds:
            return self.watermark
        h = self.store.min_hold()
        return self.watermark if h is None else min(self.watermark, h)

    def on_processing_time(self, now: int) -> None:
        self.processing_time = now
        self._drain(self.store.pop_processing_timer, self.driver.on_processing_timer, now)
        if self.uses_holds:
            self.forward_watermark()

    def next_processing_timer(self) -> int | None:
        return self.store.next_processing_timer()

    def snapshot(self) -> Any:
        st = super().snapshot()
        st["store"] = self.store.snapshot()
        return st

    def restore(self, st: Any) -> None:
        super().restore(st)
        self.store.restore(st["store"])
