"""The window/trigger driver: Beam's GroupByKey-with-windowing semantics for one key, written
once over an injected per-key state store and timer service.

A runner calls :meth:`WindowDriver.process_element` for each element of the current key,
:meth:`WindowDriver.on_event_timer` when the input watermark passes a timer it registered and
:meth:`WindowDriver.on_processing_timer` when processing time reaches one. The driver emits panes
through a :class:`PaneSink`. Rules, as documented in docs/concepts.md:

* A window ``w`` expires when ``w.max_timestamp + allowed_lateness < watermark``. Elements whose
  assigned window has expired are dropped (counted, or sent to the late-data output).
* The end-of-window moment is ``watermark > w.max_timestamp``; the window is garbage-collected
  when it expires. If both happen in one watermark advance, the pane fired then is the last.
* A pane is emitted when its trigger fires and elements arrived since the previous pane, or when
  it is the ON_TIME pane fired at the end of the window (emitted even if empty). At expiry,
  elements not yet emitted form a final pane.
* Timing: EARLY while ``watermark <= w.max_timestamp``; afterwards the first non-early pane is
  ON_TIME if fired at the end of the window or if it holds elements that arrived before the
  watermark passed the end; every other pane is LATE.
* A finished trigger closes the window: later elements for it are dropped and counted.
* Merged windows (Sessions) combine contents and trigger state; pane indices continue from the
  largest index among the merged windows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from fluvial.pane import PaneInfo, PaneTiming
from fluvial.timeutil import MAX_TIMESTAMP_MS
from fluvial.triggers import ROOT, AccumulationMode
from fluvial.windowing import TimestampCombiner, Windowing

EOW, GC, ELEMENT, PROC = 0, 1, 2, 3


class WindowState:
    """Everything the driver keeps for one (key, window)."""

    __slots__ = (
        "contents",
        "trig",
        "index",
        "nonspec",
        "closed",
        "has_new",
        "ontime_pending",
        "eow_done",
        "hold_min",
        "hold_max",
    )

    def __init__(self, contents: Any) -> None:
        self.contents = contents
        self.trig: dict[str, Any] = {}
        self.index = 0
        self.nonspec = 0
        self.closed = False
        self.has_new = False
        self.ontime_pending = False
        self.eow_done = False
        self.hold_min: int | None = None
        self.hold_max: int | None = None

    def __getstate__(self):
        return tuple(getattr(self, s) for s in self.__slots__)

    def __setstate__(self, st):
        for s, v in zip(self.__slots__, st):
            setattr(self, s, v)


class WindowStore(Protocol):
    """Per-key state and timers, bound to the key being processed."""

    watermark: int
    processing_time: int

    def get(self, window: Any) -> WindowState | None: ...
    def put(self, window: Any, ws: WindowState) -> None: ...
    def remove(self, window: Any) -> None: ...
    def windows(self) -> Iterable[Any]: ...
    def set_event_timer(self, window: Any, t: int) -> None: ...
    def set_processing_timer(self, window: Any, t: int) -> None: ...
    def set_hold(self, window: Any, t: int | None) -> None: ...


class PaneSink(Protocol):
    def emit(self, window: Any, value: Any, timestamp_ms: int, pane: PaneInfo) -> None: ...
    def late(self, value: Any, timestamp_ms: int, window: Any) -> None: ...
    def dropped(self, reason: str, count: int) -> None: ...


class Contents:
    """How a pane's contents are kept: a list (GroupByKey) or a combiner accumulator."""

    def __init__(self, combine_fn: Any = None) -> None:
        self.fn = combine_fn

    def create(self) -> Any:
        return [] if self.fn is None else self.fn.create_accumulator()

    def add(self, contents: Any, value: Any) -> Any:
        if self.fn is None:
            contents.append(value)
            return contents
        return self.fn.add_input(contents, value)

    def merge(self, parts: list[Any]) -> Any:
        if self.fn is None:
            out: list[Any] = []
            for p in parts:
                out.extend(p)
            return out
        return self.fn.merge_accumulators(parts)

    def extract(self, contents: Any) -> Any:
        if self.fn is None:
            return list(contents)
        return self.fn.extract_output(contents)


class _Ctx:
    """The trigger context handed to trigger methods for one window."""

    __slots__ = ("store", "window", "watermark", "processing_time")

    def __init__(self, store: WindowStore, window: Any) -> None:
        self.store = store
        self.window = window
        self.watermark = store.watermark
        self.processing_time = store.processing_time

    def set_processing_timer(self, t: int) -> None:
        self.store.set_processing_timer(self.window, t)


class WindowDriver:
    """Runs one windowing strategy over elements of one key at a time."""

    def __init__(self, windowing: Windowing, combine_fn: Any = None) -> None:
        self.windowing = windowing
        self.window_fn = windowing.window_fn
        self.trigger = windowing.trigger
        self.lateness = windowing.allowed_lateness_ms
        self.discarding = windowing.accumulation_mode is AccumulationMode.DISCARDING
        self.tc = windowing.timestamp_combiner
        self.contents = Contents(combine_fn)
        self.merging = bool(getattr(self.window_fn, "is_merging", False))

    # -- helpers ------------------------------------------------------------------------------
    def gc_time(self, window: Any) -> int:
        return min(window.max_timestamp_ms + self.lateness, MAX_TIMESTAMP_MS - 1)

    def is_expired(self, window: Any, watermark: int) -> bool:
        # capped like the expiry timer, so the global window expires at the end of input even
        # with more than a day of allowed lateness
        return self.gc_time(window) < watermark

    def _new_state(self, window: Any, store: WindowStore) -> WindowState:
        ws = WindowState(self.contents.create())
        if store.watermark > window.max_timestamp_ms:
            ws.eow_done = True
        else:
            store.set_event_timer(window, window.max_timestamp_ms)
        store.set_event_timer(window, self.gc_time(window))
        return ws

    # -- elements -----------------------------------------------------------------------------
    def process_element(
        self, value: Any, timestamp_ms: int, windows: Iterable[Any], store: WindowStore, sink: PaneSink
    ) -> None:
        wm = store.watermark
        live = []
        for w in windows:
            if self.is_expired(w, wm):
                sink.dropped("dropped_due_to_lateness", 1)
                sink.late(value, timestamp_ms, w)
            else:
                live.append(w)
        if not live:
            return
        if self.merging:
            live = self._merge(live, store, sink)
        for w in live:
            self._add(w, value, timestamp_ms, store, sink)

    def _add(self, w: Any, value: Any, ts: int, store: WindowStore, sink: PaneSink) -> None:
        ws = store.get(w)
        if ws is None:
            ws = self._new_state(w, store)
        elif ws.closed:
            sink.dropped("dropped_due_to_closed_window", 1)
            return
        ws.contents = self.contents.add(ws.contents, value)
        ws.has_new = True
        if store.watermark <= w.max_timestamp_ms:
            ws.ontime_pending = True
            if self.tc is not TimestampCombiner.OUTPUT_AT_EOW:
                if ws.hold_min is None or ts < ws.hold_min:
                    ws.hold_min = ts
                    store.set_hold(w, ts)
        if self.tc is not TimestampCombiner.OUTPUT_AT_EOW:
            if ws.hold_max is None or ts > ws.hold_max:
                ws.hold_max = ts
            if ws.hold_min is None:
                ws.hold_min = ts
        ctx = _Ctx(store, w)
        self.trigger.on_element(ROOT, ws.trig, w, ctx)
        if self.trigger.should_fire(ROOT, ws.trig, w, ctx):
            self._fire(w, ws, ELEMENT, False, store, sink)
        else:
            store.put(w, ws)

    def _merge(self, new_windows: list[Any], store: WindowStore, sink: PaneSink) -> list[Any]:
        existing = list(store.windows())
        candidates = set(existing) | set(new_windows)
        mapping: dict[Any, Any] = {}
        for members, result in self.window_fn.merge(candidates):
            states = [s for s in (store.get(m) for m in members) if s is not None]
            if result in existing and len(states) == 1 and store.get(result) is not None:
                for m in members:
                    mapping[m] = result
                continue
            merged = WindowState(self.contents.merge([s.contents for s in states if s.contents is not None]))
            ctx = _Ctx(store, result)
            self.trigger.merge_state(ROOT, merged.trig, [s.trig for s in states], result, ctx)
            merged.index = max((s.index for s in states), default=0)
            merged.nonspec = max((s.nonspec for s in states), default=0)
            merged.closed = any(s.closed for s in states)
            merged.has_new = any(s.has_new for s in states)
            merged.ontime_pending = any(s.ontime_pending for s in states)
            mins = [s.hold_min for s in states if s.hold_min is not None]
            maxs = [s.hold_max for s in states if s.hold_max is not None]
            merged.hold_min = min(mins) if mins else None
            merged.hold_max = max(maxs) if maxs else None
            for m in members:
                if store.get(m) is not None:
                    store.remove(m)
                    store.set_hold(m, None)
                mapping[m] = result
            if store.watermark > result.max_timestamp_ms:
                merged.eow_done = True
            else:
                store.set_event_timer(result, result.max_timestamp_ms)
            store.set_event_timer(result, self.gc_time(result))
            if merged.hold_min is not None and merged.ontime_pending:
                store.set_hold(result, merged.hold_min)
            store.put(result, merged)
        out = []
        for w in new_windows:
            r = mapping.get(w, w)
            if r not in out:
                out.append(r)
        return out

    # -- timers -------------------------------------------------------------------------------
    def on_event_timer(self, window: Any, store: WindowStore, sink: PaneSink) -> None:
        """The watermark passed a timer of ``window``: end of window and/or expiry."""
        ws = store.get(window)
        if ws is None:
            return
        wm = store.watermark
        final_now = self.is_expired(window, wm)
        if not ws.eow_done and wm > window.max_timestamp_ms:
            ws.eow_done = True
            if not ws.closed:
                ctx = _Ctx(store, window)
                if self.trigger.should_fire(ROOT, ws.trig, window, ctx):
                    self._fire(window, ws, EOW, final_now, store, sink)
                    if final_now or store.get(window) is None:
                        return
                    ws = store.get(window)
                    assert ws is not None
        if final_now:
            if not ws.closed and ws.has_new:
                self._emit_final(window, ws, store, sink)
            store.remove(window)
            store.set_hold(window, None)
        else:
            store.put(window, ws)

    def on_processing_timer(self, window: Any, store: WindowStore, sink: PaneSink) -> None:
        ws = store.get(window)
        if ws is None or ws.closed:
            return
        ctx = _Ctx(store, window)
        if self.trigger.should_fire(ROOT, ws.trig, window, ctx):
            self._fire(window, ws, PROC, False, store, sink)

    # -- firing -------------------------------------------------------------------------------
    def _timing(self, window: Any, ws: WindowState, reason: int, wm: int) -> PaneTiming:
        if ws.nonspec == 0:
            if wm <= window.max_timestamp_ms:
                return PaneTiming.EARLY
            if reason == EOW or ws.ontime_pending:
                return PaneTiming.ON_TIME
        return PaneTiming.LATE

    def _emit(self, window: Any, ws: WindowState, timing: PaneTiming, is_last: bool, sink: PaneSink) -> None:
        nonspec = -1 if timing is PaneTiming.EARLY else ws.nonspec
        pane = PaneInfo(ws.index == 0, is_last, timing, ws.index, nonspec)
        if self.tc is TimestampCombiner.OUTPUT_AT_EOW or ws.hold_min is None:
            ts = window.max_timestamp_ms
        elif self.tc is TimestampCombiner.OUTPUT_AT_EARLIEST:
            ts = ws.hold_min
        else:
            ts = ws.hold_max if ws.hold_max is not None else window.max_timestamp_ms
        sink.emit(window, self.contents.extract(ws.contents), ts, pane)
        ws.index += 1
        if timing is not PaneTiming.EARLY:
            ws.nonspec += 1

    def _fire(
        self, window: Any, ws: WindowState, reason: int, final: bool, store: WindowStore, sink: PaneSink
    ) -> None:
        wm = store.watermark
        ctx = _Ctx(store, window)
        finished = self.trigger.on_fire(ROOT, ws.trig, window, ctx)
        is_last = finished or final
        timing = self._timing(window, ws, reason, wm)
        if ws.has_new or (timing is PaneTiming.ON_TIME and reason == EOW):
            self._emit(window, ws, timing, is_last, sink)
        self._after_pane(window, ws, is_last, final, store)

    def _emit_final(self, window: Any, ws: WindowState, store: WindowStore, sink: PaneSink) -> None:
        timing = self._timing(window, ws, GC, store.watermark)
        self._emit(window, ws, timing, True, sink)

    def _after_pane(self, window: Any, ws: WindowState, is_last: bool, final: bool, store: WindowStore) -> None:
        ws.has_new = False
        ws.ontime_pending = False
        ws.hold_min = ws.hold_max = None
        store.set_hold(window, None)
        if final:
            store.remove(window)
            return
        if is_last:
            ws.closed = True
            ws.contents = None
            ws.trig = {}
        elif self.discarding:
            ws.contents = self.contents.create()
        store.put(window, ws)
