"""The window driver's batched entry (:meth:`WindowDriver.process_elements`) is its per-element
semantics: random timelines (keys, out-of-order, late and expired elements, watermark and
processing-time steps, checkpoints), every non-merging window fn, trigger, accumulation mode,
lateness and timestamp combiner; the elements between two time steps form one batch (the
watermarks and processing time stand still in it, as in a runner's batch). Handed over one at a
time, or regrouped by key and window and handed over at once, they give the same panes, late
elements, counters and output watermarks — on the direct runner's store and on the reference
store, with and without its optional ``append_all``."""

from __future__ import annotations

import pickle
from collections import Counter

import hypothesis.strategies as st
from hypothesis import HealthCheck, assume, given, settings
from test_window_stores import timelines

from fluvial.combine import CombineFn
from fluvial.combiners import SumCombineFn
from fluvial.runners.direct.keyed_store import KeyedWindowStore
from fluvial.testing.store_contract import Checkpoint, Element, ProcessingTime, Watermark
from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.triggers import (
    AfterAll,
    AfterCount,
    AfterEach,
    AfterProcessingTime,
    OrFinally,
    Repeatedly,
)
from fluvial.window_driver import WindowDriver
from fluvial.window_store import InMemoryWindowStore

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _NoAppendAll(InMemoryWindowStore):
    append_all = None  # the driver falls back to append per value


STORES = {"keyed": KeyedWindowStore, "reference": InMemoryWindowStore, "no-append-all": _NoAppendAll}


class _Sink:
    def __init__(self) -> None:
        self.key = None
        self.panes: Counter = Counter()
        self.lates: Counter = Counter()
        self.counters: Counter = Counter()

    def for_key(self, key):
        self.key = key
        return self

    def emit(self, window, value, ts, pane):
        v = sorted(value) if isinstance(value, list) else value
        self.panes[(self.key, repr(window), repr(v), ts, repr(pane))] += 1

    def late(self, value, ts, window):
        self.lates[(self.key, value, ts, repr(window))] += 1

    def dropped(self, reason, n):
        self.counters[reason] += n

    def element_failed(self, value, ts, window, error):
        self.counters[("element_failed", self.key, value, ts, repr(window), error.method)] += 1

    def pane_failed(self, window, ts, pane, error):
        self.counters[("pane_failed", self.key, repr(window), ts, repr(pane), error.method)] += 1


def drive(script, make_store, batched):
    """Run ``script``; elements between time steps are one batch."""
    driver = WindowDriver(script.windowing, script.combine_fn)
    fn = script.windowing.window_fn
    store, sink = make_store(), _Sink()
    published = [MIN_TIMESTAMP_MS]
    wm = MIN_TIMESTAMP_MS
    pending: list = []

    def flush():
        if not batched:
            for e in pending:
                store.process(e.key, e.value, e.t, fn.assign(e.t, e.value), driver, sink)
        else:
            groups: dict = {}
            for e in pending:
                for w in fn.assign(e.t, e.value):
                    vs, ts = groups.setdefault((e.key, w), ([], []))
                    vs.append(e.value)
                    ts.append(e.t)
            for (key, w), (vs, ts) in groups.items():
                driver.process_elements(vs, ts, w, store.bind(key), sink.for_key(key))
        pending.clear()

    def publish():
        hold = store.min_hold()
        new = wm if hold is None else min(wm, hold)
        published.append(max(published[-1], new))
        store.output_watermark = published[-1]

    store.output_watermark = published[-1]
    for step in script.steps:
        if isinstance(step, Element):
            pending.append(step)
            continue
        flush()
        publish()
        if isinstance(step, Watermark):
            wm = max(wm, step.t)
            store.advance_watermark(wm, driver, sink)
        elif isinstance(step, ProcessingTime):
            store.advance_processing_time(step.t, driver, sink)
        elif isinstance(step, Checkpoint):
            snap = pickle.loads(pickle.dumps(store.snapshot()))
            store = make_store()
            store.restore(snap)
            store.output_watermark = published[-1]
        publish()
    flush()
    return sink.panes, sink.lates, sink.counters, published


@SETTINGS
@given(timelines(), st.sampled_from(sorted(STORES)))
def test_batches_give_the_panes_of_single_elements(script, store):
    assume(not script.windowing.window_fn.is_merging)
    make = STORES[store]
    assert drive(script, make, batched=True) == drive(script, make, batched=False)


class AtTwo(AfterCount):
    """A user's AfterCount firing at two elements whatever its count: it states no bound on
    its batches, so the driver must not take AfterCount's (``count`` minus those seen)."""

    def should_fire(self, path, st, window, ctx):
        return st.get(path, 0) >= 2


class CountsTwice(AfterCount):
    """A user's AfterCount counting each element twice: ``on_elements`` must not add ``n``."""

    def on_element(self, path, st, window, ctx):
        st[path] = st.get(path, 0) + 2


COMPOSITES = [
    Repeatedly(AtTwo(5)),
    Repeatedly(CountsTwice(4)),
    Repeatedly(AfterAll(AfterCount(2), AfterProcessingTime(3))),
    Repeatedly(AfterEach(AfterCount(2), AfterCount(3))),
    OrFinally(Repeatedly(AfterCount(2)), AfterCount(5)),
    AfterCount(4),
]


@SETTINGS
@given(timelines(), st.sampled_from(COMPOSITES))
def test_batches_with_composite_triggers(script, trigger):
    import attrs

    assume(not script.windowing.window_fn.is_merging)
    script = attrs.evolve(script, windowing=attrs.evolve(script.windowing, trigger=trigger))
    assert drive(script, KeyedWindowStore, True) == drive(script, KeyedWindowStore, False)


class Picky(CombineFn):
    """Fails for some elements (leaving the accumulator as it was) and some panes."""

    def create_accumulator(self):
        return 0

    def add_input(self, acc, x):
        if x % 4 == 3:
            raise ValueError(x)
        return acc + x

    def merge_accumulators(self, accs):
        return sum(accs)

    def extract_output(self, acc):
        if acc % 5 == 4:
            raise ArithmeticError(acc)
        return acc


class Summing(SumCombineFn):
    """The built-in sum (its own add_inputs), failing on some elements: the batch falls back
    to one element at a time."""

    def add_input(self, acc, x):
        if x % 4 == 3:
            raise ValueError(x)
        return acc + x

    def add_inputs(self, acc, xs):
        xs = list(xs)
        if any(x % 4 == 3 for x in xs):
            raise ValueError(xs)
        return acc + sum(xs)


@SETTINGS
@given(timelines(), st.sampled_from([Picky, Summing]))
def test_batches_report_failing_elements_and_panes_as_single_elements(script, fn):
    import attrs

    assume(not script.windowing.window_fn.is_merging)
    script = attrs.evolve(script, combine_fn=fn())
    assert drive(script, KeyedWindowStore, True) == drive(script, KeyedWindowStore, False)
