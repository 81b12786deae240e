"""Stateful ParDo on the direct runner: per key-and-window state cells (with TTL), event- and
processing-time timers, and the window-expiration callback.

Under the error policies "dead_letter" and "skip" a failing ``process`` call or timer callback
contributes no outputs (they are buffered per call); state it changed before raising stays
changed. A timer's dead-letter payload is ``{"key", "timer", "window", "timestamp_ms"}``."""

from __future__ import annotations

import heapq
from typing import Any

from fluvial import metrics as m
from fluvial.dofn_invoker import Invocation, bind_kwargs
from fluvial.errors import FluvialError, UserCodeError
from fluvial.pane import NO_FIRING
from fluvial.runners.common.state_cells import StateTable
from fluvial.timeutil import MAX_TIMESTAMP_MS, TimeDomain, to_millis
from fluvial.values import WindowedValue
from fluvial.windowing import Windowing

from .base import Operator
from .errors import as_kv, unhashable_key, user_error
from .pardo import DoFnCaller, merge_outputs

_GC = "\x00gc"


class TimerHandle:
    """``set(t)`` (seconds: event time, or absolute processing time) and ``clear()``."""

    __slots__ = ("op", "key", "window", "spec", "element_ts")

    def __init__(self, op: StatefulParDoOperator, key: Any, window: Any, spec: Any, element_ts: int) -> None:
        self.op = op
        self.key = key
        self.window = window
        self.spec = spec
        self.element_ts = element_ts

    def set(self, t: Any) -> None:
        self.op.set_timer(self.key, self.window, self.spec, to_millis(t), self.element_ts)

    def clear(self) -> None:
        self.op.clear_timer(self.key, self.window, self.spec.name)


class StatefulParDoOperator(Operator):
    def __init__(self, label: str, caller: DoFnCaller, windowing: Windowing) -> None:
        super().__init__(label)
        self.caller = caller
        self.sig = caller.sig
        self.lateness = windowing.allowed_lateness_ms
        self.table = StateTable()
        # timers: heap entries (t, seq, key, window, name, output_ts); current[(key, window, name)] = seq
        self.event_heap: list[tuple] = []
        self.proc_heap: list[tuple] = []
        self.gc_heap: list[tuple] = []
        self.current: dict[tuple, int] = {}
        self.live: set[tuple] = set()  # (key, window) with a registered expiry
        self._seq = 0
        self.out: dict[str | None, list] = {}

    def open(self, metrics: Any) -> None:
        super().open(metrics)
        self.caller.errors.metrics = metrics
        m.set_step(self.label)
        self.caller.setup()

    def close(self) -> None:
        self.caller.teardown()

    # timers ---------------------------------------------------------------------------------
    def set_timer(self, key: Any, window: Any, spec: Any, t: int, element_ts: int) -> None:
        proc = spec.time_domain is TimeDomain.REAL_TIME
        expiry = window.max_timestamp_ms + self.lateness
        if not proc and t > expiry:
            raise FluvialError(
                f"transform '{self.label}': event-time timer '{spec.name}' set to {t} ms, after "
                f"window {window!r} expires ({expiry} ms = its max timestamp + allowed lateness); "
                "it could never fire. Set it within the window, or use a larger window or lateness."
            )
        self._seq += 1
        ck = (key, window, spec.name)
        self.current[ck] = self._seq
        out_ts = element_ts if proc else t
        entry = (t, self._seq, key, window, spec.name, out_ts)
        heapq.heappush(self.proc_heap if proc else self.event_heap, entry)

    def clear_timer(self, key: Any, window: Any, name: str) -> None:
        self.current.pop((key, window, name), None)

    def _ensure_expiry(self, key: Any, window: Any) -> None:
        kw = (key, window)
        if kw not in self.live:
            self.live.add(kw)
            t = min(window.max_timestamp_ms + self.lateness, MAX_TIMESTAMP_MS - 1)
            self._seq += 1
            self.current[(key, window, _GC)] = self._seq
            heapq.heappush(self.gc_heap, (t, self._seq, key, window, _GC, window.max_timestamp_ms))

    # invocation -----------------------------------------------------------------------------
    def _state(self, key: Any, window: Any):
        table = self.table
        return lambda spec: table.cell(spec, key, window)

    def _timers(self, key: Any, window: Any, element_ts: int):
        return lambda spec: TimerHandle(self, key, window, spec, element_ts)

    def process(self, idx: int, batch: Any) -> None:
        m.set_step(self.label)
        clock = self.table.clock
        clock.watermark = self.watermark
        clock.processing_time = self.processing_time
        caller = self.caller
        caller.start_bundle()
        out = self.out
        for wv in batch:
            kv = as_kv(self.label, wv.value, "stateful DoFn")
            key = kv[0]
            try:
                hash(key)
            except TypeError:
                raise unhashable_key(self.label, kv) from None
            for w in wv.windows:
                if w.max_timestamp_ms + self.lateness < self.watermark:
                    self.count("dropped_due_to_lateness")
                    continue
                self._ensure_expiry(key, w)
                clock.write_ts = wv.timestamp
                single = WindowedValue(kv, wv.timestamp, (w,), wv.pane)
                caller.call(single, out, key, self._state(key, w), self._timers(key, w, wv.timestamp))
        caller.finish_bundle(out)
        self._flush()
        self.forward_watermark()  # timers set or cleared change the hold

    def _flush(self) -> None:
        if self.out:
            out, self.out = self.out, {}
            for tag, b in out.items():
                self.emit(b, tag)

    def _fire(self, entry: tuple) -> None:
        t, seq, key, window, name, out_ts = entry
        if self.current.get((key, window, name)) != seq:
            return
        del self.current[(key, window, name)]
        clock = self.table.clock
        clock.write_ts = out_ts
        if name == _GC:
            self._expire(key, window)
            return
        cb, params = self.sig.timer_callbacks[name]
        self._invoke(cb, params, key, window, out_ts, t, name)

    def _invoke(self, cb: Any, params: list, key: Any, window: Any, out_ts: int, fire_ts: int,
                name: str) -> None:
        inv = Invocation(None, window, key, self._state(key, window), self._timers(key, window, out_ts), fire_ts)
        errors = self.caller.errors
        dest: dict = {} if errors.guarded else self.out
        try:
            kw = bind_kwargs(params, inv, self.label)
            self.caller.route(cb(**kw), out_ts, (window,), NO_FIRING, key, dest)
        except (FluvialError, UserCodeError):
            raise
        except Exception as e:
            if not errors.guarded:
                raise user_error(self.label, f"<timer callback for key {key!r}>", e) from e
            payload = {"key": key, "timer": name, "window": repr(window), "timestamp_ms": fire_ts}
            errors.handle(e, payload, out_ts)
            return
        if errors.guarded:
            merge_outputs(dest, self.out)

    def _expire(self, key: Any, window: Any) -> None:
        if self.sig.expiration is not None:
            cb, params = self.sig.expiration
            end = window.max_timestamp_ms
            self._invoke(cb, params, key, window, end, end, "<window expiration>")
        self.table.clear_window(key, window, iter(self.sig.state_specs))
        self.live.discard((key, window))
        for name in self.sig.timer_specs:
            self.current.pop((key, window, name), None)

    def on_watermark(self, wm: int) -> None:
        m.set_step(self.label)
        clock = self.table.clock
        clock.watermark = wm
        clock.processing_time = self.processing_time
        eh, gh = self.event_heap, self.gc_heap
        while True:
            a = eh[0] if eh and eh[0][0] <= wm else None
            b = gh[0] if gh and gh[0][0] < wm else None
            if a is None and b is None:
                break
            if b is None or (a is not None and a[0] <= b[0]):
                self._fire(heapq.heappop(eh))
            else:
                self._fire(heapq.heappop(gh))
            if len(self.out.get(None, ())) > 4096:
                self._flush()
        self.table.sweep()
        self._flush()

    def on_processing_time(self, now: int) -> None:
        self.processing_time = now
        m.set_step(self.label)
        clock = self.table.clock
        clock.processing_time = now
        clock.watermark = self.watermark
        h = self.proc_heap
        while h and h[0][0] <= now:
            self._fire(heapq.heappop(h))
        self.table.sweep()
        self._flush()
        self.forward_watermark()

    def next_processing_timer(self) -> int | None:
        h = self.proc_heap
        while h and self.current.get((h[0][2], h[0][3], h[0][4])) != h[0][1]:
            heapq.heappop(h)
        return h[0][0] if h else None

    def output_watermark(self) -> int:
        h = self.event_heap
        while h and self.current.get((h[0][2], h[0][3], h[0][4])) != h[0][1]:
            heapq.heappop(h)
        return min(self.watermark, h[0][0]) if h else self.watermark

    def snapshot(self) -> Any:
        st = super().snapshot()
        st.update(table=self.table.snapshot(), event_heap=self.event_heap, gc_heap=self.gc_heap, proc_heap=self.proc_heap,
                  current=self.current, live=self.live, seq=self._seq)
        return st

    def restore(self, st: Any) -> None:
        super().restore(st)
        self.table.restore(st["table"])
        self.event_heap = st["event_heap"]
        self.proc_heap = st["proc_heap"]
        self.gc_heap = st["gc_heap"]
        self.current = st["current"]
        self.live = st["live"]
        self._seq = st["seq"]
