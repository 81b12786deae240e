"""The store-contract kit: scripted timelines driven straight through
:class:`fluvial.window_driver.WindowDriver` against any store, checking the panes.

A runner that groups in Python writes a store for the window driver (the contract is in
:mod:`fluvial.window_driver`). This kit checks such a store without its engine: each
:class:`Script` is a timeline of elements, watermark steps, processing-time steps and
checkpoints, with the panes, late elements, counters and output watermarks it must produce,
derived by hand from the model (the derivation is each script's ``why``). A store is wrapped in
a :class:`StoreHarness`, the runner's side of the store: what the runner does when an element
arrives, when the watermark advances and when processing time advances.

What every run also checks, on top of the goldens:

* no EARLY or ON_TIME pane stamped from an element hold (every such pane with OUTPUT_AT_EOW,
  and those stamped before their window's end with EARLIEST/LATEST) leaves the grouping stamped
  behind its output watermark (the watermark the store had published when the pane was
  emitted); and no pane at all leaves after the output watermark passed its window's expiry,
  so a downstream grouping with the same windowing never drops it;
* the published output watermark never moves backwards;
* at a :class:`Checkpoint` step the harness is snapshotted, pickled and restored into a fresh
  harness, which carries on (for harnesses with ``snapshot``/``restore``);
* after the final watermark no state is left (for harnesses with ``is_empty``).

A harness without watermark holds (``supports_holds = False``) publishes its input
watermark as output watermark: its output-watermark goldens are not checked, and neither are
pane stamps against the output watermark (a stamp behind it is exactly what lacking holds means;
such a runner declares the missing capability).

>>> from fluvial.window_store import InMemoryWindowStore
>>> failures = check_store(InMemoryWindowStore)
>>> failures
[]
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import attrs

from fluvial.combiners import SumCombineFn
from fluvial.pane import PaneTiming
from fluvial.testing.conformance.case import early, late, on_time
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.triggers import (
    AccumulationMode,
    AfterCount,
    AfterProcessingTime,
    AfterWatermark,
    Never,
    Repeatedly,
)
from fluvial.window import FixedWindows, GlobalWindows, Sessions, SlidingWindows, expiry_time
from fluvial.window_driver import WindowDriver
from fluvial.windowing import TimestampCombiner, Windowing

END = MAX_TIMESTAMP_MS  # the final watermark


# -- steps -----------------------------------------------------------------------------------
@attrs.frozen
class Element:
    """``value`` of ``key`` at event time ``t`` (ms)."""

    key: Any
    value: Any
    t: int


@attrs.frozen
class Watermark:
    """The input watermark advances to ``t`` (ms); ``END`` is the end of input."""

    t: int


@attrs.frozen
class ProcessingTime:
    """Processing time advances to ``t`` (ms)."""

    t: int


@attrs.frozen
class Checkpoint:
    """Snapshot the harness, pickle it, restore it into a fresh one and carry on."""


@attrs.frozen
class Pane:
    """One expected pane: ``window`` as (start_ms, end_ms) or None for the global window;
    ``pane`` as (timing, is_first, is_last, index, nonspeculative_index)."""

    key: Any
    window: tuple[int, int] | None
    value: Any
    timestamp: int
    pane: tuple


@attrs.frozen
class Script:
    """A timeline and what it must produce. ``output_watermarks`` maps a step's index to the
    output watermark published after it (checked on stores with holds)."""

    name: str
    windowing: Windowing
    steps: tuple
    panes: tuple[Pane, ...]
    why: str
    combine_fn: Any = None
    late: tuple[tuple[Any, Any, int], ...] = ()  # (key, value, t) handed to sink.late
    counters: tuple[tuple[str, int], ...] = ()
    output_watermarks: tuple[tuple[int, int], ...] = ()


# -- the runner's side of a store ------------------------------------------------------------
class StoreHarness(Protocol):
    """A store with the runner's side around it (both stores in fluvial implement it on the
    store itself): the kit calls these, and reads ``min_hold`` to publish the output watermark
    (``output_watermark`` is then set on the harness before the next step)."""

    output_watermark: int

    def process(self, key: Any, value: Any, timestamp_ms: int, windows: Any,
                driver: WindowDriver, sink: Any) -> None: ...
    def advance_watermark(self, watermark: int, driver: WindowDriver, sink: Any) -> None: ...
    def advance_processing_time(self, now: int, driver: WindowDriver, sink: Any) -> None: ...
    def min_hold(self) -> int | None: ...


class _Recorder:
    """The PaneSink of a run: records panes (with the output watermark at emission)."""

    def __init__(self, lateness: int, check_stamps: bool, eow: bool) -> None:
        self.lateness = lateness
        self.check_stamps = check_stamps
        self.eow = eow
        self.key: Any = None
        self.published = MIN_TIMESTAMP_MS
        self.panes: list[tuple] = []
        self.late_elements: list[tuple] = []
        self.counters: Counter[str] = Counter()
        self.problems: list[str] = []

    def for_key(self, key: Any) -> _Recorder:
        self.key = key
        return self

    def emit(self, window: Any, value: Any, timestamp_ms: int, pane: Any) -> None:
        ts, wm = timestamp_ms, self.published
        if self.check_stamps:
            held = self.eow or ts < window.max_timestamp_ms  # stamped from an element hold
            if wm > expiry_time(window, self.lateness):
                self.problems.append(
                    f"{pane.timing.value} pane of key {self.key!r} in {window!r} leaves after the "
                    f"output watermark {wm} ms passed the window's expiry: a downstream grouping "
                    "with the same windowing would drop it")
            elif pane.timing is not PaneTiming.LATE and held and ts < wm:
                self.problems.append(
                    f"{pane.timing.value} pane of key {self.key!r} in {window!r} is stamped {ts} "
                    f"ms, behind the output watermark {wm} ms")
        self.panes.append((self.key, window, value, ts, pane))

    def late(self, value: Any, timestamp_ms: int, window: Any) -> None:
        self.late_elements.append((self.key, value, timestamp_ms))

    def dropped(self, reason: str, count: int) -> None:
        self.counters[reason] += count

    def element_failed(self, value: Any, timestamp_ms: int, window: Any, error: Any) -> None:
        raise error.cause  # the kit's CombineFns do not fail

    def pane_failed(self, window: Any, timestamp_ms: int, pane: Any, error: Any) -> None:
        raise error.cause


@attrs.define
class Run:
    """What a script produced on one harness."""

    panes: list[tuple]
    late: list[tuple]
    counters: dict[str, int]
    output_watermarks: dict[int, int]
    problems: list[str]
    supports_holds: bool


def _window_key(w: Any) -> tuple[int, int] | None:
    if type(w).__name__ == "GlobalWindow":
        return None
    return (w.start_ms, w.end_ms)


def run_script(script: Script, make_harness: Callable[[], Any]) -> Run:
    """Drive ``script`` through a fresh harness from ``make_harness()``."""
    driver = WindowDriver(script.windowing, script.combine_fn)
    fn = script.windowing.window_fn
    h = make_harness()
    holds = getattr(h, "supports_holds", True)
    eow = script.windowing.timestamp_combiner is TimestampCombiner.OUTPUT_AT_EOW
    rec = _Recorder(script.windowing.allowed_lateness_ms, holds, eow)
    wm = MIN_TIMESTAMP_MS
    out_wms: dict[int, int] = {}

    def publish(i: int) -> None:
        hold = h.min_hold() if holds else None
        new = wm if hold is None else min(wm, hold)
        if new < rec.published:
            rec.problems.append(f"step {i}: output watermark moved back from {rec.published} to {new}")
        rec.published = max(rec.published, new)
        h.output_watermark = rec.published
        out_wms[i] = rec.published

    h.output_watermark = rec.published
    for i, step in enumerate(script.steps):
        if isinstance(step, Element):
            h.process(step.key, step.value, step.t, fn.assign(step.t, step.value), driver, rec)
        elif isinstance(step, Watermark):
            wm = max(wm, step.t)
            h.advance_watermark(wm, driver, rec)
        elif isinstance(step, ProcessingTime):
            h.advance_processing_time(step.t, driver, rec)
        elif isinstance(step, Checkpoint):
            if hasattr(h, "snapshot"):
                snap = pickle.loads(pickle.dumps(h.snapshot()))
                h = make_harness()
                h.restore(snap)
                h.output_watermark = rec.published
        else:  # pragma: no cover
            raise TypeError(f"unknown step {step!r}")
        publish(i)
    if hasattr(h, "is_empty") and wm >= END and not h.is_empty():
        rec.problems.append("state is left after the final watermark")
    return Run(rec.panes, rec.late_elements, dict(rec.counters), out_wms, rec.problems, holds)


def _norm(value: Any, grouped: bool) -> Any:
    return sorted(value) if grouped and isinstance(value, list) else value


def check_script(script: Script, make_harness: Callable[[], Any]) -> list[str]:
    """The differences between what ``script`` produced on the harness and its goldens, and
    any contract problem seen on the way; empty when the store conforms."""
    run = run_script(script, make_harness)
    grouped = script.combine_fn is None
    got = Counter(
        (k, _window_key(w), repr(_norm(v, grouped)), ts,
         (p.timing.value, p.is_first, p.is_last, p.index, p.nonspeculative_index))
        for k, w, v, ts, p in run.panes)
    want = Counter((p.key, p.window, repr(_norm(p.value, grouped)), p.timestamp, p.pane)
                   for p in script.panes)
    out = [f"{script.name}: {m}" for m in run.problems]
    for rec in sorted(map(repr, (want - got).elements())):
        out.append(f"{script.name}: missing pane {rec}")
    for rec in sorted(map(repr, (got - want).elements())):
        out.append(f"{script.name}: unexpected pane {rec}")
    if Counter(run.late) != Counter(script.late):
        out.append(f"{script.name}: late elements {sorted(map(repr, run.late))}, "
                   f"expected {sorted(map(repr, script.late))}")
    for name, n in script.counters:
        if run.counters.get(name, 0) != n:
            out.append(f"{script.name}: counter {name} is {run.counters.get(name, 0)}, expected {n}")
    if run.supports_holds:
        for i, t in script.output_watermarks:
            if run.output_watermarks.get(i) != t:
                out.append(f"{script.name}: output watermark after step {i} is "
                           f"{run.output_watermarks.get(i)}, expected {t}")
    return out


def check_store(make_harness: Callable[[], Any], scripts: Sequence[Script] | None = None) -> list[str]:
    """Run every script (default: :data:`SCRIPTS`) on fresh harnesses from ``make_harness``;
    returns the list of failures (empty when the store conforms)."""
    out: list[str] = []
    for s in SCRIPTS if scripts is None else scripts:
        out.extend(check_script(s, make_harness))
    return out


# -- the scripts -----------------------------------------------------------------------------
S = 1000  # one second in ms
SUM = SumCombineFn()


def _w(fn: Any, **kw: Any) -> Windowing:
    return Windowing(fn, **kw)


SCRIPTS: tuple[Script, ...] = (
    Script(
        "fixed_default_two_keys",
        _w(FixedWindows(10)),
        (Element("k", "a", 1 * S), Element("k", "b", 12 * S), Element("j", "c", 5 * S),
         Watermark(10 * S), Watermark(END)),
        (Pane("k", (0, 10 * S), ["a"], 9999, on_time()),
         Pane("j", (0, 10 * S), ["c"], 9999, on_time()),
         Pane("k", (10 * S, 20 * S), ["b"], 19999, on_time())),
        "Default trigger, no lateness: each window's only pane is ON_TIME, first and last, at "
        "its max timestamp, when the watermark passes its end (10 s, then the end of input).",
    ),
    Script(
        "watermark_at_the_boundaries",
        _w(FixedWindows(10), allowed_lateness_ms=5 * S),
        (Element("k", 1, 1 * S), Watermark(9999), Watermark(10 * S), Element("k", 2, 2 * S),
         Watermark(14999), Element("k", 4, 4 * S), Watermark(15 * S), Element("k", 8, 8 * S),
         Watermark(END)),
        (Pane("k", (0, 10 * S), 1, 9999, on_time(last=False)),
         Pane("k", (0, 10 * S), 2, 9999, late(1, 1)),
         Pane("k", (0, 10 * S), 4, 9999, late(2, 2))),
        "FixedWindows(10), lateness 5 s, discarding, watermark steps landing exactly on the "
        "boundaries: at 9.999 s the window has not ended (it ends once the watermark is past "
        "its max timestamp), at 10 s the ON_TIME pane fires; at 14.999 s the window has not "
        "expired (expiry 9.999 + 5 = 14.999 must be passed), so 4@4 still fires a LATE pane; at "
        "15 s it has: 8@8 is dropped.",
        combine_fn=SUM,
        late=(("k", 8, 8 * S),),
        counters=(("dropped_due_to_lateness", 1),),
    ),
    Script(
        "sliding_sum",
        _w(SlidingWindows(10, 5)),
        (Element("k", 1, 7 * S), Element("k", 2, 12 * S), Watermark(10 * S), Watermark(END)),
        (Pane("k", (0, 10 * S), 1, 9999, on_time()),
         Pane("k", (5 * S, 15 * S), 3, 14999, on_time()),
         Pane("k", (10 * S, 20 * S), 2, 19999, on_time())),
        "SlidingWindows(10, 5): 7 s is in [0,10) and [5,15); 12 s in [5,15) and [10,20).",
        combine_fn=SUM,
    ),
    Script(
        "early_count_discarding_then_empty_on_time",
        _w(FixedWindows(10), trigger=AfterWatermark(early=AfterCount(2))),
        (Element("k", 1, 1 * S), Element("k", 2, 2 * S), Watermark(10 * S), Watermark(END)),
        (Pane("k", (0, 10 * S), 3, 9999, early(0)),
         Pane("k", (0, 10 * S), 0, 9999, on_time(1, first=False, ns=0))),
        "early=AfterCount(2), discarding: the second element fires an EARLY pane (index 0, "
        "nonspeculative -1) of 1+2; at the end of the window the ON_TIME pane is emitted though "
        "empty (a Sum of nothing: 0), index 1, nonspeculative 0, last (no late trigger).",
        combine_fn=SUM,
    ),
    Script(
        "late_within_lateness_accumulating",
        _w(FixedWindows(10), allowed_lateness_ms=5 * S,
           accumulation_mode=AccumulationMode.ACCUMULATING),
        (Element("k", 1, 1 * S), Watermark(10 * S), Watermark(12 * S), Element("k", 2, 3 * S),
         Watermark(15 * S), Element("k", 4, 4 * S), Watermark(END)),
        (Pane("k", (0, 10 * S), 1, 9999, on_time(last=False)),
         Pane("k", (0, 10 * S), 3, 9999, late(1, 1))),
        "Default trigger, lateness 5 s, accumulating: ON_TIME 1 at 10 s (not last: late data may "
        "come); 2@3 at watermark 12 is late but within lateness: a LATE pane 1+2 = 3 (index 1, "
        "nonspeculative 1) at once, stamped at the window's end; the window expires when the "
        "watermark passes 14.999 (at 15) with nothing new, so no final pane; 4@4 then is dropped.",
        combine_fn=SUM,
        late=(("k", 4, 4 * S),),
        counters=(("dropped_due_to_lateness", 1),),
    ),
    Script(
        "late_within_lateness_checkpointed",
        _w(FixedWindows(10), allowed_lateness_ms=5 * S,
           accumulation_mode=AccumulationMode.ACCUMULATING),
        (Element("k", 1, 1 * S), Checkpoint(), Watermark(10 * S), Checkpoint(),
         Element("k", 2, 3 * S), Checkpoint(), Watermark(15 * S), Element("k", 4, 4 * S),
         Watermark(END)),
        (Pane("k", (0, 10 * S), 1, 9999, on_time(last=False)),
         Pane("k", (0, 10 * S), 3, 9999, late(1, 1))),
        "As late_within_lateness_accumulating, restored from a checkpoint between every step: "
        "state, timers and pane indices survive.",
        combine_fn=SUM,
        late=(("k", 4, 4 * S),),
        counters=(("dropped_due_to_lateness", 1),),
    ),
    Script(
        "never_final_pane_at_expiry",
        _w(FixedWindows(10), trigger=Never()),
        (Element("k", 1, 1 * S), Element("k", 2, 2 * S), Watermark(END)),
        (Pane("k", (0, 10 * S), 3, 9999, on_time()),),
        "Never() fires nothing; when the window expires its elements form the final pane, "
        "ON_TIME (they arrived before the end of the window), first and last.",
        combine_fn=SUM,
    ),
    Script(
        "after_count_closes_window",
        _w(FixedWindows(10), trigger=AfterCount(2)),
        (Element("k", 1, 1 * S), Element("k", 2, 2 * S), Element("k", 4, 3 * S), Watermark(END)),
        (Pane("k", (0, 10 * S), 3, 9999, early(0, last=True)),),
        "AfterCount(2) fires once, EARLY, and finishes: the pane is the last and the window "
        "closes; the third element is dropped as dropped_due_to_closed_window.",
        combine_fn=SUM,
        counters=(("dropped_due_to_closed_window", 1),),
    ),
    Script(
        "global_repeated_count_accumulating",
        _w(GlobalWindows(), trigger=Repeatedly(AfterCount(2)),
           accumulation_mode=AccumulationMode.ACCUMULATING),
        (Element("k", 1, 1 * S), Element("k", 2, 2 * S), Element("k", 3, 3 * S), Watermark(END)),
        (Pane("k", None, 3, 9223372036854775 - 86_400_000, early(0)),
         Pane("k", None, 6, 9223372036854775 - 86_400_000, on_time(1, first=False, ns=0))),
        "Global window, Repeatedly(AfterCount(2)), accumulating: EARLY 1+2 after the second "
        "element; the third does not reach the count; at the end of input the window expires "
        "and its pending element forms the final pane: ON_TIME (it arrived before the end), "
        "accumulated 6, at the global window's max timestamp.",
        combine_fn=SUM,
    ),
    Script(
        "processing_time_repeated",
        _w(FixedWindows(60), trigger=Repeatedly(AfterProcessingTime(5))),
        (ProcessingTime(0), Element("k", 1, 1 * S), ProcessingTime(5 * S), Element("k", 2, 2 * S),
         ProcessingTime(9 * S), ProcessingTime(10 * S), Watermark(END)),
        (Pane("k", (0, 60 * S), 1, 59999, early(0)),
         Pane("k", (0, 60 * S), 2, 59999, early(1))),
        "Repeatedly(AfterProcessingTime(5)), discarding: 1 at processing time 0 fires an EARLY "
        "pane at 5 s; 2 at 5 s sets a deadline of 10 s: not due at 9 s, fires at 10 s; at the "
        "end of input the trigger has no deadline pending and no new elements: no further pane.",
        combine_fn=SUM,
    ),
    Script(
        "sessions_bridge_merge",
        _w(Sessions(10)),
        (Element("a", 1, 0), Element("a", 2, 15 * S), Element("a", 4, 8 * S), Watermark(END)),
        (Pane("a", (0, 25 * S), 7, 24999, on_time()),),
        "Sessions(10): [0,10) and [15,25) are apart until 8 s adds [8,18), which bridges them "
        "into [0,25); the stale end-of-window timers of the merged-away sessions are ignored.",
        combine_fn=SUM,
    ),
    Script(
        "sessions_grouped",
        _w(Sessions(10)),
        (Element("a", "x", 0), Element("b", "y", 3 * S), Element("a", "z", 5 * S), Watermark(END)),
        (Pane("a", (0, 15 * S), ["x", "z"], 14999, on_time()),
         Pane("b", (3 * S, 13 * S), ["y"], 12999, on_time())),
        "GroupByKey over Sessions(10): a's elements at 0 and 5 share [0,15); b alone [3,13).",
    ),
    Script(
        "earliest_behind_output_watermark",
        _w(FixedWindows(10), timestamp_combiner=TimestampCombiner.OUTPUT_AT_EARLIEST),
        (Element("k", 1, 5 * S), Watermark(8 * S), Element("k", 2, 3 * S), Watermark(END)),
        (Pane("k", (0, 10 * S), [1, 2], 5 * S, on_time()),),
        "EARLIEST: 1@5 holds the output watermark at 5 s (published after the watermark reaches "
        "8 s: min(8, 5)); 2@3 is on time but behind the output watermark, so it places no hold; "
        "the pane is stamped with the hold, 5 s. After the pane no hold is left.",
        output_watermarks=((1, 5 * S), (2, 5 * S), (3, END)),
    ),
    Script(
        "latest_hold_and_early_pane",
        _w(FixedWindows(10), trigger=AfterWatermark(early=AfterCount(2)),
           timestamp_combiner=TimestampCombiner.OUTPUT_AT_LATEST),
        (Element("k", 1, 2 * S), Element("k", 2, 7 * S), Element("k", 4, 5 * S),
         Watermark(6 * S), Watermark(END)),
        (Pane("k", (0, 10 * S), 3, 7 * S, early(0)),
         Pane("k", (0, 10 * S), 4, 5 * S, on_time(1, first=False, ns=0))),
        "LATEST with early=AfterCount(2): 1@2 and 2@7 fire an EARLY pane stamped with the latest "
        "hold, 7 s, which the pane releases; 4@5 then holds at 5 s, so the output watermark "
        "after the watermark reaches 6 s is 5 s; the ON_TIME pane is stamped 5 s.",
        combine_fn=SUM,
        output_watermarks=((2, MIN_TIMESTAMP_MS), (3, 5 * S), (4, END)),
    ),
    Script(
        "late_pane_not_behind_by_more_than_lateness",
        _w(FixedWindows(10), allowed_lateness_ms=10 * S,
           timestamp_combiner=TimestampCombiner.OUTPUT_AT_EARLIEST),
        (Element("k", 1, 1 * S), Watermark(15 * S), Element("k", 2, 4 * S), Watermark(END)),
        (Pane("k", (0, 10 * S), 1, 1 * S, on_time(last=False)),
         Pane("k", (0, 10 * S), 2, 9999, late(1, 1))),
        "EARLIEST, lateness 10 s: the ON_TIME pane carries its element's hold, 1 s; 2@4 arrives "
        "at watermark 15 s (late, within lateness): a late element holds nothing, so the LATE "
        "pane is stamped at the window's end, 9.999 s, 5 s behind the output watermark but "
        "within the allowed lateness.",
        combine_fn=SUM,
    ),
)
