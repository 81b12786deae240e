"""The window/trigger driver: Beam's GroupByKey-with-windowing semantics for one key, written
once over an injected per-key store (:class:`WindowStore`) and an output (:class:`PaneSink`).

Every runner that groups in Python runs this code; only the store differs. The in-memory
reference store is :class:`fluvial.window_store.InMemoryWindowStore`; the store-contract kit
:mod:`fluvial.testing.store_contract` checks any store against scripted timelines without an
engine.

How a runner drives it
======================

* For each element of key ``k``: bind the store to ``k``, set ``store.watermark``,
  ``store.output_watermark`` and ``store.processing_time``, then call
  :meth:`WindowDriver.process_element` with the element's value, timestamp and windows.
  Or, while the watermarks and processing time stand still, hand one key's elements of one
  window over at once with :meth:`WindowDriver.process_elements` (non-merging window fns): the
  same panes, late elements, counters, holds and timers as one element at a time, with one
  metadata read and write per run of elements the trigger cannot fire within
  (:meth:`fluvial.triggers.Trigger.quiet`). Elements of different keys and windows are
  independent there, so a batch may be regrouped by key and window (in arrival order within
  each).
* When the input watermark passes a time ``t`` given to ``store.set_event_timer(window, t)``,
  call :meth:`WindowDriver.on_event_timer` for that key and window, with ``store.watermark`` set
  to the new watermark. This must happen before the runner forwards a watermark greater than
  ``t`` downstream, so the panes it emits precede that watermark.
* When processing time reaches ``t`` given to ``store.set_processing_timer(window, t)``, call
  :meth:`WindowDriver.on_processing_timer`, with ``store.processing_time >= t``.

The semantics (Beam's model; docs/concepts.md states them for users)
====================================================================

* Time is integer milliseconds. A window ``w`` *ends* once ``watermark > w.max_timestamp`` and
  *expires* once ``watermark > expiry_time(w, allowed_lateness)``
  (:func:`fluvial.window.expiry_time`). Elements of an expired window are dropped, counted as
  ``dropped_due_to_lateness`` (per window) and handed to ``sink.late``.
* Triggers are evaluated after every element and on every timer of their window. A pane is
  emitted when the trigger fires and elements arrived since the previous pane, or when it is the
  ON_TIME pane fired at the end of the window (emitted even if empty). At expiry, elements not yet
  emitted form a final pane. If the end and the expiry happen in one watermark advance, the pane
  fired then is the last.
* Timing: EARLY while ``watermark <= w.max_timestamp``; afterwards the first non-early pane is
  ON_TIME if fired at the end of the window or if it holds elements that arrived before the
  watermark passed the end; every other pane is LATE.
* A finished trigger closes the window: its later elements are dropped and counted as
  ``dropped_due_to_closed_window``.
* Merged windows (Sessions) combine contents, trigger state and holds; pane indices continue from
  the largest index among the merged windows.
* Watermark holds and pane timestamps (Beam Java's ``WatermarkHold``). An element's *output
  time* is its timestamp (EARLIEST, LATEST) or its window's max timestamp (EOW). The element
  places an *element hold* at its output time only if its window has not ended and the output
  time is not behind ``store.output_watermark`` (a hold there could not be respected);
  otherwise it places a *garbage-collection hold* at the window's expiry time. A window's
  element hold is the earliest (EARLIEST, EOW) or latest (LATEST) of its holding elements since
  the previous pane; its store hold is the earlier of that and its garbage-collection hold. The
  pane is stamped with the element hold, or with the window's max timestamp when no element
  holds (late panes, empty ON_TIME panes, panes of elements behind the output watermark). A pane
  releases both holds; merging windows keeps the combined element hold and places a
  garbage-collection hold. So no pane leaves the grouping stamped behind its output watermark
  unless none of its elements could hold, and then the output watermark has not passed the
  window's expiry: a downstream grouping with the same windowing never drops it.

The store contract
==================

:class:`WindowStore` is bound to one key by the runner. Its members:

``watermark``
    The input watermark in ms: every element with a smaller timestamp has arrived. The driver's
    convention is that a time ``t`` has *passed* when ``watermark > t``. A backend whose timers
    fire at ``watermark >= t`` (Flink, Beam) registers its timer at ``t + 1`` and passes its
    watermark through unchanged.
``output_watermark``
    The watermark this operator has already published downstream (the minimum of its input
    watermark and its holds when last computed). A store that cannot hold the output watermark
    reports the input watermark here.
``processing_time``
    Processing time in ms (a scripted clock under TestStream).
``get_meta(window)``
    The window's :class:`WindowMeta`, or None if the window has no state for this key. May
    return a copy: the driver writes every change back with ``put_meta``.
``put_meta(window, meta)``
    Store the window's metadata (small: pane indices, flags, hold, trigger state).
``windows()``
    The windows with metadata for this key (used to merge windows).
``remove(window)``
    Forget the window: its metadata and its contents.
``append(window, value)`` / ``read_bag(window)``
    GroupByKey contents: an append-only bag; ``read_bag`` returns the values in any order (a new
    list). A serialising backend maps these onto a list/bag state so one element costs O(1).
``append_all(window, values)`` (optional)
    The same as ``append`` of each value in order; the driver calls ``append`` per value for a
    store without it.
``get_accumulator(window, default)`` / ``put_accumulator(window, acc)``
    CombinePerKey contents: one accumulator cell (``default`` when absent).
``clear_contents(window)``
    Drop the window's contents (bag or accumulator), keep its metadata.
``set_event_timer(window, t)``
    Ask for :meth:`WindowDriver.on_event_timer` once ``watermark > t``. Timers are never
    deleted: the driver tolerates stale and repeated calls (of windows merged away, expired, or
    already fired) and re-checks every condition against the watermark, so a spurious call is
    harmless and a store may coalesce equal ``(window, t)`` requests. A missing call is a bug.
    On the final watermark (end of input) every pending timer is due.
``set_processing_timer(window, t)``
    Ask for :meth:`WindowDriver.on_processing_timer` once ``processing_time >= t``; the same
    tolerance applies.
``set_hold(window, t | None)``
    Hold this key's output watermark at or below ``t`` for ``window`` (None releases it). The
    output watermark of the operator is the minimum of its input watermark and all holds. A
    store of a backend without holds ignores the call (and reports ``output_watermark`` as the
    input watermark); EARLIEST/LATEST pane timestamps may then be late downstream.

:class:`PaneSink` receives what the driver produces for the bound key:
``emit(window, value, timestamp_ms, pane)`` one pane (the list of values for GroupByKey, the
extracted output for CombinePerKey); ``late(value, timestamp_ms, window)`` an element dropped
for lateness; ``dropped(reason, count)`` a counter increment (``dropped_due_to_lateness`` or
``dropped_due_to_closed_window``); ``element_failed(value, timestamp_ms, window, error)`` and
``pane_failed(window, timestamp_ms, pane, error)``, failures of the CombineFn (below). Each may
raise (the runner's error policy "fail"); the driver's state is then undefined and the runner
must stop.

Failures of the CombineFn
=========================

The driver calls the CombineFn only through its contents, which wrap what the CombineFn raises
in :class:`fluvial.combine.CombineFnError` (``method``, ``cause``); the driver catches that
alone, so its state stays consistent and processing can go on under the runner's error policy:

* ``add_input`` (or ``create_accumulator``) raises for an element in one of its windows: the
  element is not part of that window (no contents, no trigger call, no hold, no new window);
  ``sink.element_failed(value, timestamp_ms, window, error)``. Its other windows are processed
  as usual, so an element failing in several windows is reported once per window.
  ``add_input`` must leave the accumulator as it was when it raises
  (:meth:`fluvial.combine.CombineFn.isolating`).
* ``merge_accumulators`` raises when windows merge on an element's arrival (Sessions): nothing
  of that merge is changed, the element is not added anywhere;
  ``sink.element_failed(value, timestamp_ms, None, error)``.
* ``extract_output`` raises when a pane fires: the pane is not emitted but counts as fired
  (pane index, accumulation, holds and trigger state move on as if it had been, so the next
  pane's index shows the gap); ``sink.pane_failed(window, timestamp_ms, pane, error)`` with
  the timestamp and pane info it would have had.

>>> from fluvial.window import FixedWindows
>>> from fluvial.windowing import Windowing
>>> from fluvial.window_store import InMemoryWindowStore
>>> store, out = InMemoryWindowStore(), []
>>> driver = WindowDriver(Windowing(FixedWindows(10)))
>>> class Sink:
...     def for_key(self, key): return self
...     def emit(self, window, value, ts, pane): out.append((value, ts, pane.timing.value))
...     def late(self, value, ts, window): pass
...     def dropped(self, reason, n): pass
...     def element_failed(self, value, ts, window, error): raise error.cause
...     def pane_failed(self, window, ts, pane, error): raise error.cause
>>> store.process("k", 1, 5_000, FixedWindows(10).assign(5_000, 1), driver, Sink())
>>> store.advance_watermark(10_000, driver, Sink())
>>> out
[([1], 9999, 'ON_TIME')]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from fluvial.combine import CombineFn, CombineFnError
from fluvial.pane import PaneInfo, PaneTiming
from fluvial.timeutil import MAX_TIMESTAMP_MS
from fluvial.triggers import ROOT, AccumulationMode, DefaultTrigger
from fluvial.window import expiry_time
from fluvial.windowing import TimestampCombiner, Windowing

EOW, GC, ELEMENT, PROC = 0, 1, 2, 3


class WindowMeta:
    """The driver's small per-(key, window) state: pane indices, flags, the watermark hold and
    the trigger's state. Contents live apart, in the store's bag or accumulator cell."""

    __slots__ = ("trig", "index", "nonspec", "closed", "has_new", "ontime_pending", "eow_done",
                 "hold", "gc_hold")

    def __init__(self) -> None:
        self.trig: dict[str, Any] = {}
        self.index = 0  # panes emitted so far
        self.nonspec = 0  # non-early panes emitted so far
        self.closed = False  # the trigger finished: later elements are dropped
        self.has_new = False  # elements arrived since the previous pane
        self.ontime_pending = False  # some of them arrived before the window ended
        self.eow_done = False  # the end of the window has been handled
        self.hold: int | None = None  # combined element hold since the previous pane
        self.gc_hold = False  # a garbage-collection hold is placed

    def copy(self) -> WindowMeta:
        m = WindowMeta()
        for s in self.__slots__:
            setattr(m, s, getattr(self, s))
        m.trig = dict(self.trig)
        return m

    def __getstate__(self):
        return tuple(getattr(self, s) for s in self.__slots__)

    def __setstate__(self, st):
        for s, v in zip(self.__slots__, st):
            setattr(self, s, v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WindowMeta) and self.__getstate__() == other.__getstate__()

    def __repr__(self) -> str:
        return "WindowMeta(" + ", ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__) + ")"


class WindowStore(Protocol):
    """Per-key state, timers and holds of one grouping, bound to the key being processed. The
    members' contract is in this module's docstring."""

    watermark: int
    output_watermark: int
    processing_time: int

    def get_meta(self, window: Any) -> WindowMeta | None: ...
    def put_meta(self, window: Any, meta: WindowMeta) -> None: ...
    def windows(self) -> Iterable[Any]: ...
    def remove(self, window: Any) -> None: ...
    def append(self, window: Any, value: Any) -> None: ...
    def read_bag(self, window: Any) -> list: ...
    def get_accumulator(self, window: Any, default: Any) -> Any: ...
    def put_accumulator(self, window: Any, acc: Any) -> None: ...
    def clear_contents(self, window: Any) -> None: ...
    def set_event_timer(self, window: Any, t: int) -> None: ...
    def set_processing_timer(self, window: Any, t: int) -> None: ...
    def set_hold(self, window: Any, t: int | None) -> None: ...


class PaneSink(Protocol):
    """Where the driver's panes, late elements and drop counts go (see the module docstring)."""

    def emit(self, window: Any, value: Any, timestamp_ms: int, pane: PaneInfo) -> None: ...
    def late(self, value: Any, timestamp_ms: int, window: Any) -> None: ...
    def dropped(self, reason: str, count: int) -> None: ...
    def element_failed(self, value: Any, timestamp_ms: int, window: Any,
                       error: CombineFnError) -> None: ...
    def pane_failed(self, window: Any, timestamp_ms: int, pane: PaneInfo,
                    error: CombineFnError) -> None: ...


_ABSENT = object()


class BagContents:
    """GroupByKey: the window's values in an append-only bag; a pane is their list. Merging
    moves the sources' values into the target's bag (the target keeps its own)."""

    def add(self, store: WindowStore, window: Any, value: Any) -> None:
        store.append(window, value)

    def add_all(self, store: WindowStore, window: Any, values: list) -> list:
        """Add ``values`` in order; the failures, as ``(index, CombineFnError)``: none here."""
        append_all = getattr(store, "append_all", None)
        if append_all is not None:
            append_all(window, values)
        else:
            for v in values:
                store.append(window, v)
        return []

    def extract(self, store: WindowStore, window: Any) -> Any:
        return store.read_bag(window)

    def merge_into(self, store: WindowStore, sources: list[Any], target: Any) -> None:
        values = [v for s in sources for v in store.read_bag(s)]
        for s in sources:
            store.clear_contents(s)
        for v in values:
            store.append(target, v)


class CombiningContents:
    """CombinePerKey: one accumulator per window, folded with the CombineFn. Merging merges the
    target's and the sources' accumulators into the target."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        # a built-in combiner's own add_inputs (a pure function of the accumulator: when it
        # raises, the accumulator is as it was) takes a run at once
        self.bulk = (getattr(fn, "fast_kind", None) is not None
                     and type(fn).add_inputs is not CombineFn.add_inputs)

    def add(self, store: WindowStore, window: Any, value: Any) -> None:
        acc = store.get_accumulator(window, _ABSENT)
        fn = self.fn
        try:
            if acc is _ABSENT:
                acc = fn.create_accumulator()
            acc = fn.add_input(acc, value)
        except Exception as e:
            raise CombineFnError("add_input", e) from e
        store.put_accumulator(window, acc)

    def add_all(self, store: WindowStore, window: Any, values: list) -> list:
        """Add ``values`` in order, each as :meth:`add` would (an element ``add_input`` cannot
        take leaves the accumulator as it was); the failures, as ``(index,
        CombineFnError)``."""
        fn = self.fn
        acc = store.get_accumulator(window, _ABSENT)
        try:
            if acc is _ABSENT:
                acc = fn.create_accumulator()
        except Exception as e:
            err = CombineFnError("add_input", e)
            return [(i, err) for i in range(len(values))]
        if self.bulk:
            try:
                store.put_accumulator(window, fn.add_inputs(acc, values))
                return []
            except Exception:  # noqa: BLE001 - one element at a time finds the failing ones
                pass
        add = fn.add_input
        failures = []
        for i, v in enumerate(values):
            try:
                acc = add(acc, v)
            except Exception as e:
                failures.append((i, CombineFnError("add_input", e)))
        if len(failures) < len(values):
            store.put_accumulator(window, acc)
        return failures

    def extract(self, store: WindowStore, window: Any) -> Any:
        acc = store.get_accumulator(window, _ABSENT)
        fn = self.fn
        try:
            if acc is _ABSENT:
                acc = fn.create_accumulator()
            return fn.extract_output(acc)
        except Exception as e:
            raise CombineFnError("extract_output", e) from e

    def merge_into(self, store: WindowStore, sources: list[Any], target: Any) -> None:
        """Merged before anything is cleared: when ``merge_accumulators`` raises, the store
        is as it was."""
        cells = [target, *sources]
        accs = [a for a in (store.get_accumulator(c, _ABSENT) for c in cells) if a is not _ABSENT]
        merged: Any = _ABSENT
        if accs:
            try:
                merged = accs[0] if len(accs) == 1 else self.fn.merge_accumulators(accs)
            except Exception as e:
                raise CombineFnError("merge_accumulators", e) from e
        for s in sources:
            store.clear_contents(s)
        if merged is not _ABSENT:
            store.put_accumulator(target, merged)


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
    """Runs one windowing strategy over the elements of one key at a time; ``combine_fn`` None
    groups values into lists (GroupByKey), else folds them (CombinePerKey)."""

    def __init__(self, windowing: Windowing, combine_fn: Any = None) -> None:
        self.windowing = windowing
        self.window_fn = windowing.window_fn
        self.trigger = windowing.trigger
        self.lateness = windowing.allowed_lateness_ms
        self.discarding = windowing.accumulation_mode is AccumulationMode.DISCARDING
        self.tc = windowing.timestamp_combiner
        self.eow = self.tc is TimestampCombiner.OUTPUT_AT_EOW
        self.latest = self.tc is TimestampCombiner.OUTPUT_AT_LATEST
        self.contents: Any = BagContents() if combine_fn is None else CombiningContents(combine_fn)
        self.merging = bool(getattr(self.window_fn, "is_merging", False))
        self._panes: dict[tuple, PaneInfo] = {}

    # -- helpers ------------------------------------------------------------------------------
    def gc_time(self, window: Any) -> int:
        """The instant after which ``window`` expires (:func:`fluvial.window.expiry_time`)."""
        return expiry_time(window, self.lateness)

    def is_expired(self, window: Any, watermark: int) -> bool:
        return expiry_time(window, self.lateness) < watermark

    def _new_meta(self, window: Any, store: WindowStore) -> WindowMeta:
        meta = WindowMeta()
        if store.watermark > window.max_timestamp_ms:
            meta.eow_done = True
        else:
            store.set_event_timer(window, window.max_timestamp_ms)
        store.set_event_timer(window, self.gc_time(window))
        return meta

    def _combine_hold(self, a: int | None, b: int) -> int:
        if a is None:
            return b
        return (a if a >= b else b) if self.latest else (a if a <= b else b)

    def _store_hold(self, window: Any, meta: WindowMeta) -> int | None:
        """The hold the store keeps for ``window``: the earlier of its element hold and its
        garbage-collection hold."""
        if not meta.gc_hold:
            return meta.hold
        gc = self.gc_time(window)
        return gc if meta.hold is None or meta.hold > gc else meta.hold

    def _add_hold(self, w: Any, ts: int, meta: WindowMeta, store: WindowStore) -> None:
        before = self._store_hold(w, meta)
        out = w.max_timestamp_ms if self.eow else ts
        if store.watermark <= w.max_timestamp_ms and out >= store.output_watermark:
            meta.hold = self._combine_hold(meta.hold, out)
        else:
            meta.gc_hold = True
        after = self._store_hold(w, meta)
        if after != before:
            store.set_hold(w, after)

    def end_of_window_pane(self, window: Any) -> tuple[PaneInfo, int]:
        """The pane info and timestamp the default trigger gives ``window``'s first pane when
        every element arrived on time and the watermark reached the window's end: what a fast
        path emitting one result per window at its end must produce. A window ending after the
        end of time (its max timestamp at or past ``MAX_TIMESTAMP_MS``) is never passed by the
        watermark: its pane comes when the input ends and the window expires, EARLY and last.
        Only for the default trigger with the OUTPUT_AT_EOW timestamp combiner."""
        if not isinstance(self.trigger, DefaultTrigger) or not self.eow:
            raise ValueError("end_of_window_pane needs the default trigger and OUTPUT_AT_EOW "
                             "(Windowing.one_pane_per_window)")
        meta = WindowMeta()
        meta.has_new = meta.ontime_pending = True
        meta.hold = end = window.max_timestamp_ms
        if end < MAX_TIMESTAMP_MS:
            wm, reason = end + 1, EOW  # the first watermark past the window's end
        else:
            wm, reason = MAX_TIMESTAMP_MS, GC  # the end of input
        timing = self._timing(window, meta, reason, wm)
        nonspec = -1 if timing is PaneTiming.EARLY else 0
        pane = self._pane(True, self.is_expired(window, wm), timing, 0, nonspec)
        return pane, self.pane_timestamp(window, meta)

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
            try:
                live = self._merge(live, store)
            except CombineFnError as e:  # nothing of the failed merge changed
                sink.element_failed(value, timestamp_ms, None, e)
                return
        for w in live:
            try:
                self._add(w, value, timestamp_ms, store, sink)
            except CombineFnError as e:  # add_input: the element is not part of w
                sink.element_failed(value, timestamp_ms, w, e)

    def _add(self, w: Any, value: Any, ts: int, store: WindowStore, sink: PaneSink) -> None:
        meta = store.get_meta(w)
        if meta is None:
            meta = self._new_meta(w, store)
        elif meta.closed:
            sink.dropped("dropped_due_to_closed_window", 1)
            return
        self.contents.add(store, w, value)
        meta.has_new = True
        if store.watermark <= w.max_timestamp_ms:
            meta.ontime_pending = True
        self._add_hold(w, ts, meta, store)
        ctx = _Ctx(store, w)
        self.trigger.on_element(ROOT, meta.trig, w, ctx)
        if self.trigger.should_fire(ROOT, meta.trig, w, ctx):
            self._fire(w, meta, ELEMENT, False, store, sink)
        else:
            store.put_meta(w, meta)

    def process_elements(self, values: list, timestamps: list, window: Any, store: WindowStore,
                         sink: PaneSink) -> None:
        """Elements of the bound key in ``window``, in arrival order, handed over at once while
        the watermarks and processing time stand still: the same as
        ``process_element(v, t, [window])`` for each in turn, up to the regrouping a CombineFn's
        contract allows (``add_inputs`` may add the run at once: a float sum can differ in its
        last bits, as between runners). Non-merging window fns only."""
        if self.merging:
            raise ValueError("process_elements is for non-merging window fns")
        n = len(values)
        if not n:
            return
        wm = store.watermark
        end = window.max_timestamp_ms
        if expiry_time(window, self.lateness) < wm:
            sink.dropped("dropped_due_to_lateness", n)
            for v, t in zip(values, timestamps):
                sink.late(v, t, window)
            return
        trigger, contents = self.trigger, self.contents
        ontime = wm <= end
        ctx = _Ctx(store, window)
        i = 0
        while i < n:
            meta = store.get_meta(window)
            if meta is None:
                meta = self._new_meta(window, store)
            elif meta.closed:
                sink.dropped("dropped_due_to_closed_window", n - i)
                return
            k = n - i
            if k > 1:
                q = trigger.quiet(ROOT, meta.trig, window, ctx)
                if q < k:
                    k = q
            if k == n:
                vs, ts = values, timestamps
            else:
                vs, ts = values[i:i + k], timestamps[i:i + k]
            i += k
            failures = contents.add_all(store, window, vs)
            if failures:  # add_input: those elements are not part of the window
                for j, e in failures:
                    sink.element_failed(vs[j], ts[j], window, e)
                if len(failures) == k:
                    continue  # none added: nothing changes (a new window is not kept)
                bad = {j for j, _ in failures}
                ts = [t for j, t in enumerate(ts) if j not in bad]
                k -= len(failures)
            meta.has_new = True
            if ontime:
                meta.ontime_pending = True
            self._add_holds(window, end, ts, meta, store)
            trigger.on_elements(ROOT, meta.trig, window, ctx, k)
            if trigger.should_fire(ROOT, meta.trig, window, ctx):
                self._fire(window, meta, ELEMENT, False, store, sink)
            else:
                store.put_meta(window, meta)

    def _add_holds(self, w: Any, end: int, timestamps: list, meta: WindowMeta,
                   store: WindowStore) -> None:
        """:meth:`_add_hold` for several elements of ``w`` (whose max timestamp is ``end``) at
        once."""
        if self.eow and meta.hold == end and store.watermark <= end >= store.output_watermark:
            return  # held at the window's end already: nothing changes
        before = self._store_hold(w, meta)
        if store.watermark > end:
            meta.gc_hold = True
        elif self.eow:
            if end >= store.output_watermark:
                meta.hold = self._combine_hold(meta.hold, end)
            else:
                meta.gc_hold = True
        else:
            owm = store.output_watermark
            holding = [t for t in timestamps if t >= owm]
            if len(holding) < len(timestamps):
                meta.gc_hold = True
            if holding:
                meta.hold = self._combine_hold(meta.hold, max(holding) if self.latest else min(holding))
        after = self._store_hold(w, meta)
        if after != before:
            store.set_hold(w, after)

    def _merge(self, new_windows: list[Any], store: WindowStore) -> list[Any]:
        existing = list(store.windows())
        candidates = set(existing) | set(new_windows)
        mapping: dict[Any, Any] = {}
        for members, result in self.window_fn.merge(candidates):
            metas = {m: store.get_meta(m) for m in members}
            holders = [m for m in members if metas[m] is not None]
            if len(holders) == 1 and holders[0] == result:
                for m in members:
                    mapping[m] = result
                continue
            states = [metas[m] for m in holders]
            merged = WindowMeta()
            ctx = _Ctx(store, result)
            self.trigger.merge_state(ROOT, merged.trig, [s.trig for s in states], result, ctx)
            merged.index = max((s.index for s in states), default=0)
            merged.nonspec = max((s.nonspec for s in states), default=0)
            merged.closed = any(s.closed for s in states)
            merged.has_new = any(s.has_new for s in states)
            merged.ontime_pending = any(s.ontime_pending for s in states)
            if not self.eow:
                for s in states:
                    if s.hold is not None:
                        merged.hold = self._combine_hold(merged.hold, s.hold)
            elif any(s.hold is not None for s in states):
                end = result.max_timestamp_ms  # the output time depends on the window only
                if store.watermark <= end and end >= store.output_watermark:
                    merged.hold = end
            self.contents.merge_into(store, [m for m in holders if m != result], result)
            for m in holders:
                if m != result:
                    store.remove(m)
                    store.set_hold(m, None)
            for m in members:
                mapping[m] = result
            if store.watermark > result.max_timestamp_ms:
                merged.eow_done = True
            else:
                store.set_event_timer(result, result.max_timestamp_ms)
            store.set_event_timer(result, self.gc_time(result))
            merged.gc_hold = True
            store.set_hold(result, self._store_hold(result, merged))
            store.put_meta(result, merged)
        out = []
        for w in new_windows:
            r = mapping.get(w, w)
            if r not in out:
                out.append(r)
        return out

    # -- timers -------------------------------------------------------------------------------
    def on_event_timer(self, window: Any, store: WindowStore, sink: PaneSink) -> None:
        """The watermark passed a timer of ``window``: its end and/or its expiry."""
        meta = store.get_meta(window)
        if meta is None:
            return
        wm = store.watermark
        final_now = self.is_expired(window, wm)
        if not meta.eow_done and wm > window.max_timestamp_ms:
            meta.eow_done = True
            if not meta.closed:
                ctx = _Ctx(store, window)
                if self.trigger.should_fire(ROOT, meta.trig, window, ctx):
                    self._fire(window, meta, EOW, final_now, store, sink)
                    return
        if final_now:
            if not meta.closed and meta.has_new:
                self._emit(window, meta, self._timing(window, meta, GC, wm), True, store, sink)
            self._forget(window, store)
        else:
            store.put_meta(window, meta)

    def on_processing_timer(self, window: Any, store: WindowStore, sink: PaneSink) -> None:
        meta = store.get_meta(window)
        if meta is None or meta.closed:
            return
        ctx = _Ctx(store, window)
        if self.trigger.should_fire(ROOT, meta.trig, window, ctx):
            self._fire(window, meta, PROC, False, store, sink)

    # -- firing -------------------------------------------------------------------------------
    def _timing(self, window: Any, meta: WindowMeta, reason: int, wm: int) -> PaneTiming:
        if meta.nonspec == 0:
            if wm <= window.max_timestamp_ms:
                return PaneTiming.EARLY
            if reason == EOW or meta.ontime_pending:
                return PaneTiming.ON_TIME
        return PaneTiming.LATE

    def pane_timestamp(self, window: Any, meta: WindowMeta) -> int:
        """The timestamp of the next pane: the combined element hold, else (and never later
        than) the window's max timestamp."""
        end = window.max_timestamp_ms
        if meta.hold is None or meta.hold > end:
            return end
        return meta.hold

    def _emit(self, window: Any, meta: WindowMeta, timing: PaneTiming, is_last: bool,
              store: WindowStore, sink: PaneSink) -> None:
        nonspec = -1 if timing is PaneTiming.EARLY else meta.nonspec
        pane = self._pane(meta.index == 0, is_last, timing, meta.index, nonspec)
        ts = self.pane_timestamp(window, meta)
        try:
            value = self.contents.extract(store, window)
        except CombineFnError as e:  # the pane counts as fired; its value is lost
            sink.pane_failed(window, ts, pane, e)
        else:
            sink.emit(window, value, ts, pane)
        meta.index += 1
        if timing is not PaneTiming.EARLY:
            meta.nonspec += 1

    def _pane(self, *fields: Any) -> PaneInfo:
        """The PaneInfo of these fields (frozen values: made once, then shared)."""
        pane = self._panes.get(fields)
        if pane is None:
            if len(self._panes) > 4096:
                self._panes.clear()
            pane = self._panes[fields] = PaneInfo(*fields)
        return pane

    def _fire(self, window: Any, meta: WindowMeta, reason: int, final: bool, store: WindowStore,
              sink: PaneSink) -> None:
        wm = store.watermark
        finished = self.trigger.on_fire(ROOT, meta.trig, window, _Ctx(store, window))
        is_last = finished or final
        timing = self._timing(window, meta, reason, wm)
        if meta.has_new or (timing is PaneTiming.ON_TIME and reason == EOW):
            self._emit(window, meta, timing, is_last, store, sink)
        meta.has_new = False
        meta.ontime_pending = False
        if meta.hold is not None or meta.gc_hold:
            meta.hold = None
            meta.gc_hold = False
            store.set_hold(window, None)
        if final:
            self._forget(window, store)
            return
        if is_last:
            meta.closed = True
            meta.trig = {}
            store.clear_contents(window)
        elif self.discarding:
            store.clear_contents(window)
        store.put_meta(window, meta)

    def _forget(self, window: Any, store: WindowStore) -> None:
        store.remove(window)
        store.set_hold(window, None)
