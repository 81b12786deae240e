"""WindowInto(Sessions) fused with CombinePerKey (any CombineFn) or GroupByKey under the default
trigger, no allowed lateness and OUTPUT_AT_EOW: the direct runner's sessions operator, built for
elements that arrive in timestamp order and exact for any order.

What the window driver does there (``fluvial.window_driver``, the reference), done with plain
numbers per key:

* each key keeps its open sessions, pairwise disjoint, sorted by start: ``[start, end,
  contents]`` (an accumulator, or GroupByKey's list of values);
* an element at ``t`` is the window ``[t, t + gap)``. If that window has expired
  (:func:`fluvial.window.expired_below`) the element is dropped, counted and, with late
  output, sent to ``late``. Else the sessions it intersects merge with it: one session — the
  element's window inside it or extending its end, the case of in-order arrival — takes the
  element as it is (``add_input``); several merge their contents in order of start
  (``merge_accumulators``, lists concatenated) and then take the element, as the driver's merge
  does;
* a session fires when the watermark passes its end (``watermark > end - 1``): one ON_TIME
  pane, first and last, stamped ``end - 1`` (:meth:`fluvial.window_driver.WindowDriver.
  end_of_window_pane`), and is forgotten (with no lateness it expires at the same instant).
  Sessions wait in a heap by their end; a session whose end grew since it was pushed is pushed
  again when its old end comes up, so an element costs no heap operation;
* nothing fires between the elements of a batch (the default trigger fires on time only), and
  no session outlives the watermark past its end: the output watermark is the input
  watermark;
* the error policy applies as in the window driver (:mod:`.group`): an element that is not a
  (key, value) pair or has an unhashable key goes to the policy; one that ``add_input`` cannot
  take goes to the policy and is not part of the session — which still merged with, or grew
  by, the element's window, as in the driver (merge first, then add); a failing
  ``merge_accumulators`` leaves every session as it was; a failing ``extract_output`` drops
  that session's pane (``{"key", "window", "error_in"}``).

Memory: the open sessions of live keys; a key without open sessions leaves no entry.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from typing import Any

from fluvial import metrics as m
from fluvial.combiners import CountCombineFn, SumCombineFn
from fluvial.errors import NotKeyedError, bounded_repr
from fluvial.pane import NO_FIRING
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.values import WindowedValue
from fluvial.window import IntervalWindow, Sessions, expired_below
from fluvial.window_driver import WindowDriver
from fluvial.windowing import Windowing

from ..rows import as_rows
from .base import Operator
from .errors import as_kv, unhashable_key
from .on_error import ErrorHandler


class _Session:
    """One open session of ``key``: ``[start, end)`` and its contents; ``queued``: it waits in
    the end-ordered queue (else in the heap, or merged away when ``start`` is None)."""

    __slots__ = ("start", "end", "contents", "key", "queued")

    def __init__(self, start: int, end: int, contents: Any, key: Any) -> None:
        self.start = start
        self.end = end
        self.contents = contents
        self.key = key
        self.queued = False

    def __getstate__(self):
        return (self.start, self.end, self.contents, self.key, self.queued)

    def __setstate__(self, st):
        self.start, self.end, self.contents, self.key, self.queued = st


def can_sessionize(windowing: Windowing) -> bool:
    """Whether WindowInto(``windowing``) + a grouping may run here."""
    return (
        type(windowing.window_fn) is Sessions and windowing.one_pane_per_window
    )


_ARITHMETIC = {CountCombineFn: 1, SumCombineFn: 2}


class SessionsOperator(Operator):
    """``combine_fn`` None: GroupByKey."""

    accepts_rows = True

    def __init__(self, label: str, windowing: Windowing, combine_fn: Any = None,
                 late_output: bool = False, what: str = "GroupByKey",
                 errors: ErrorHandler | None = None) -> None:
        super().__init__(label)
        self.gap = windowing.window_fn.gap_ms
        self.lateness = windowing.allowed_lateness_ms
        self.errors = errors if errors is not None else ErrorHandler(label)
        if combine_fn is not None and self.errors.guarded:
            combine_fn = combine_fn.isolating()  # a failing add leaves the accumulator as it was
        self.combine_fn = combine_fn
        self.late_output = late_output
        self.what = what
        self.driver = WindowDriver(windowing, combine_fn)
        # every session's pane: ON_TIME, first and last (no lateness: it expires as it ends)
        self.pane = self.driver.end_of_window_pane(IntervalWindow(0, self.gap))[0]
        self.live: dict[Any, list[_Session]] = {}  # key -> open sessions sorted by start
        # sessions waiting to fire: in order of end (``queue``, those that grew in order), or in
        # a heap of (end - 1 when pushed, seq, session) checked when popped
        self.queue: OrderedDict[_Session, None] = OrderedDict()
        self.heap: list[tuple[int, int, _Session]] = []
        self.seq = 0

    def open(self, metrics: Any) -> None:
        super().open(metrics)
        self.errors.metrics = metrics

    # input ----------------------------------------------------------------------------------
    def process(self, idx: int, batch: Any) -> None:
        m.set_step(self.label)
        rows = as_rows(batch)
        if not rows:
            return
        gap, label, what = self.gap, self.label, self.what
        below = expired_below(self.watermark, self.lateness)  # windows ending (max ts) below: expired
        live, queue = self.live, self.queue
        fn = self.combine_fn
        gbk = fn is None
        add = create = None
        if not gbk:
            add, create = fn.add_input, fn.create_accumulator
        # the built-in count and sum add by arithmetic (what their add_input does)
        mode = 0 if gbk else _ARITHMETIC.get(type(fn), 3)
        t_min = below - gap + 1  # elements before this are expired (their window ends before)
        late: list = []
        handle = self.errors.handle
        for kv, t in zip(rows.values, rows.stamps):
            try:
                if type(kv) is not tuple:
                    raise ValueError
                key, v = kv
            except ValueError:
                try:
                    key, v = kv = as_kv(label, kv, what)
                except NotKeyedError as e:
                    handle(e, kv, t)
                    continue
            try:
                sessions = live.get(key)
            except TypeError:
                handle(unhashable_key(label, kv), kv, t)
                continue
            if t < t_min:
                late.append((kv, t))
                continue
            end = t + gap
            if sessions is None:
                try:
                    contents = [v] if gbk else add(create(), v)
                except Exception as e:  # noqa: BLE001 - the CombineFn's: no session
                    handle(e, kv, t)
                    continue
                s = _Session(t, end, contents, key)
                live[key] = [s]
                self._schedule(s)
                continue
            if len(sessions) == 1:
                s = sessions[0]
                if s.start <= t < s.end:  # inside the session or extending it (in order)
                    if mode == 1:
                        s.contents += 1
                    elif mode == 0:
                        s.contents.append(v)
                    else:
                        try:
                            s.contents = s.contents + v if mode == 2 else add(s.contents, v)
                        except Exception as e:  # noqa: BLE001 - the session still grows
                            handle(e, kv, t)
                    if end > s.end:
                        s.end = end
                        if s.queued:  # (in the heap it is pushed again when it comes up)
                            if end >= self.tail:
                                queue.move_to_end(s)
                                self.tail = end
                            else:  # an end out of order: to the heap
                                self._schedule(s)
                    continue
            self._merge(key, sessions, kv, t, end)
        if late:
            self.count("dropped_due_to_lateness", len(late))
            if self.late_output:
                self.emit([WindowedValue(kv, t, (IntervalWindow(t, t + gap),), NO_FIRING)
                           for kv, t in late], "late")

    tail = MIN_TIMESTAMP_MS  # the largest end in the queue (the end of its last session)

    def _schedule(self, s: _Session) -> None:
        """Make ``s`` wait for its end: at the back of the queue if no queued session ends
        later, else in the heap."""
        if s.end >= self.tail:
            if s.queued:
                self.queue.move_to_end(s)
            else:
                self.queue[s] = None
                s.queued = True
            self.tail = s.end
            return
        if s.queued:
            del self.queue[s]
            s.queued = False
        self.seq += 1
        heapq.heappush(self.heap, (s.end - 1, self.seq, s))

    def _merge(self, key: Any, sessions: list, kv: tuple, t: int, end: int) -> None:
        """The element's window [t, end) with every session it intersects, then the element;
        contents merged in order of start, as the window driver merges them (and fails:
        nothing changes when ``merge_accumulators`` raises; the merge stays when ``add_input``
        then does)."""
        fn, v, handle = self.combine_fn, kv[1], self.errors.handle
        hit = [s for s in sessions if s.start < end and t < s.end]
        if not hit:
            try:
                contents = [v] if fn is None else fn.add_input(fn.create_accumulator(), v)
            except Exception as e:  # noqa: BLE001 - the CombineFn's: no session
                handle(e, kv, t)
                return
            s = _Session(t, end, contents, key)
            self._schedule(s)
            sessions.append(s)
            sessions.sort(key=lambda x: x.start)
            return
        s = hit[0]
        if len(hit) > 1:
            if fn is None:
                merged = [x for h in hit for x in h.contents]
            else:
                try:
                    merged = fn.merge_accumulators([h.contents for h in hit])
                except Exception as e:  # noqa: BLE001 - nothing of the merge is changed
                    handle(e, kv, t)
                    return
            s.contents = merged
            for h in hit[1:]:
                if h.queued:
                    del self.queue[h]
                    h.queued = False
                h.start = None  # merged away (a heap entry of it is stale)
        s.start = min(t, s.start)
        s.end = max(end, max(h.end for h in hit))
        self._schedule(s)
        sessions[:] = sorted([x for x in sessions if x.start is not None], key=lambda x: x.start)
        if fn is None:
            s.contents.append(v)
            return
        try:
            s.contents = fn.add_input(s.contents, v)
        except Exception as e:  # noqa: BLE001 - the element is not part of the session
            handle(e, kv, t)

    # output ---------------------------------------------------------------------------------
    def on_watermark(self, wm: int) -> None:
        below = expired_below(wm, self.lateness)
        out: list[WindowedValue] = []
        queue, heap = self.queue, self.heap
        while queue:
            s = next(iter(queue))
            if s.end - 1 >= below:
                break
            queue.popitem(last=False)
            s.queued = False
            self._fire(s, out)
        while heap and heap[0][0] < below:
            s = heapq.heappop(heap)[2]
            if s.start is None or s.queued:
                continue  # merged away, or back in the queue
            if s.end - 1 >= below:
                self.seq += 1
                heapq.heappush(heap, (s.end - 1, self.seq, s))  # its end grew since: not yet
                continue
            self._fire(s, out)
        if not queue:
            self.tail = MIN_TIMESTAMP_MS
        self.emit(out)

    def _fire(self, s: _Session, out: list) -> None:
        key = s.key
        sessions = self.live[key]
        sessions.remove(s)
        if not sessions:
            del self.live[key]
        fn = self.combine_fn
        window = IntervalWindow(s.start, s.end)
        s.start = None  # fired: a stale heap entry of it is skipped
        pane = self.pane
        if s.end > MAX_TIMESTAMP_MS:  # ends after the end of time: its pane as the input ends
            pane = self.driver.end_of_window_pane(window)[0]
        try:
            value = s.contents if fn is None else fn.extract_output(s.contents)
        except Exception as e:  # noqa: BLE001 - the CombineFn's: this pane is dropped
            payload = {"key": key, "window": repr(window), "error_in": "extract_output"}
            self.errors.handle(e, payload, s.end - 1, where=(
                f"in extract_output of key {bounded_repr(key)}, window {window!r}, when its "
                f"{pane.timing.value} pane fired"))
            return
        out.append(WindowedValue((key, value), s.end - 1, (window,), pane))

    # checkpoints ----------------------------------------------------------------------------
    def snapshot(self) -> Any:
        st = super().snapshot()
        # one pickle: the sessions shared by the tables stay shared
        st["sessions"] = (self.live, list(self.queue), self.heap, self.seq, self.tail)
        return st

    def restore(self, st: Any) -> None:
        super().restore(st)
        self.live, queued, self.heap, self.seq, self.tail = st["sessions"]
        self.queue = OrderedDict.fromkeys(queued)

    def is_empty(self) -> bool:
        return not self.live
