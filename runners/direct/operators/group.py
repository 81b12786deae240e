"""GroupByKey and CombinePerKey on the direct runner: fluvial's window driver over in-memory
keyed state (the general path for every window fn, trigger and accumulation mode).

Error policy (the transform's ``on_error``, else ``--on-error``; :mod:`.on_error`): an element
that is not a (key, value) pair or whose key is not hashable, and an element the CombineFn
cannot add (reported per window by the driver), go to the policy with the element as payload;
a CombineFn failing when a pane fires goes to it with ``{"key", "window", "error_in"}`` (the
driver drops that pane and moves on). Under "dead_letter" and "skip" the driver folds with
``combine_fn.isolating()``, so a failing element leaves the accumulator as it was.
"""

from __future__ import annotations

from typing import Any

from fluvial.errors import FluvialError, NotKeyedError, UserCodeError, bounded_repr
from fluvial.pane import NO_FIRING
from fluvial.values import WindowedValue
from fluvial.window_driver import WindowDriver
from fluvial.windowing import Windowing

from ..keyed_store import KeyedWindowStore
from .base import Operator
from .errors import as_kv, unhashable_key, user_error
from .on_error import ErrorHandler


class _Sink:
    """Collects what the driver emits; :meth:`for_key` tells it the key of the next calls."""

    __slots__ = ("op", "key", "out", "late_out")

    def __init__(self, op: GroupOperator) -> None:
        self.op = op
        self.key: Any = None
        self.out: list[WindowedValue] = []
        self.late_out: list[WindowedValue] = []

    def for_key(self, key: Any) -> _Sink:
        self.key = key
        return self

    def emit(self, window: Any, value: Any, timestamp_ms: int, pane: Any) -> None:
        self.out.append(WindowedValue((self.key, value), timestamp_ms, (window,), pane))
        if len(self.out) > 4096:
            self.op._flush()

    def late(self, value: Any, timestamp_ms: int, window: Any) -> None:
        if self.op.late_output:
            self.late_out.append(WindowedValue((self.key, value), timestamp_ms, (window,), NO_FIRING))

    def dropped(self, reason: str, count: int) -> None:
        self.op.count(reason, count)

    def element_failed(self, value: Any, timestamp_ms: int, window: Any, error: Any) -> None:
        """The CombineFn could not add ``value`` (in ``window``): the element, whole, goes to
        the policy."""
        self.op.errors.handle(error.cause, (self.key, value), timestamp_ms)

    def pane_failed(self, window: Any, timestamp_ms: int, pane: Any, error: Any) -> None:
        """The CombineFn failed when a pane of ``window`` fired (the pane is dropped)."""
        key, method = self.key, error.method
        payload = {"key": key, "window": repr(window), "error_in": method}
        self.op.errors.handle(
            error.cause, payload, timestamp_ms,
            where=f"in {method} of key {bounded_repr(key)}, window {window!r}, when its "
                  f"{pane.timing.value} pane fired")


class GroupOperator(Operator):
    def __init__(self, label: str, windowing: Windowing, combine_fn: Any = None, late_output: bool = False, what: str = "GroupByKey", errors: ErrorHandler | None = None) -> None:
        super().__init__(label)
        self.errors = errors if errors is not None else ErrorHandler(label)
        if combine_fn is not None and self.errors.guarded:
            combine_fn = combine_fn.isolating()  # a failing add leaves the accumulator as it was
        self.driver = WindowDriver(windowing, combine_fn)
        self.store = KeyedWindowStore()
        self.sink = _Sink(self)
        self.late_output = late_output
        self.what = what

    def open(self, metrics: Any) -> None:
        super().open(metrics)
        self.errors.metrics = metrics

    def _flush(self) -> None:
        s = self.sink
        if s.out:
            out, s.out = s.out, []
            self.emit(out)
        if s.late_out:
            late, s.late_out = s.late_out, []
            self.emit(late, "late")

    def _times(self) -> KeyedWindowStore:
        store = self.store
        store.watermark = self.watermark
        store.output_watermark = self.out_wm
        store.processing_time = self.processing_time
        return store

    def process(self, idx: int, batch: Any) -> None:
        store, sink, driver = self._times(), self.sink, self.driver
        label, what, handle = self.label, self.what, self.errors.handle
        for wv in batch:
            kv = wv.value
            if type(kv) is not tuple or len(kv) != 2:
                try:
                    kv = as_kv(label, kv, what)
                except NotKeyedError as e:
                    handle(e, kv, wv.timestamp)
                    continue
            try:
                store.process(kv[0], kv[1], wv.timestamp, wv.windows, driver, sink)
            except TypeError as e:
                if _hashable(kv[0]):
                    raise user_error(label, kv, e) from e
                handle(unhashable_key(label, wv.value), wv.value, wv.timestamp)
            except Exception as e:
                raise user_error(label, kv, e) from e
        self._flush()
        self.forward_watermark()  # a pane may have released a hold

    def _fire(self, advance: Any, t: int) -> None:
        try:
            advance(t, self.driver, self.sink)
        except FluvialError:  # the error policy "fail" (pane_failed), naming the transform
            raise
        except Exception as e:
            key = self.sink.key
            raise UserCodeError(self.label, {"key": key}, e,
                                f"while firing a pane of key {bounded_repr(key)}") from e
        self._flush()

    def on_watermark(self, wm: int) -> None:
        self._times()
        self._fire(self.store.advance_watermark, wm)

    def output_watermark(self) -> int:
        h = self.store.min_hold()
        return self.watermark if h is None else min(self.watermark, h)

    def on_processing_time(self, now: int) -> None:
        self.processing_time = now
        self._times()
        self._fire(self.store.advance_processing_time, now)
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


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True
