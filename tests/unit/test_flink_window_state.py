"""The Flink runner's window-driver store (runners/flink/window_state.py) without an engine: it
passes the store-contract kit, holds included, over fakes of Flink's keyed state and timer
service (tests/unit/flink_fakes.py) and a model of ``GroupHolds`` (the Java operator holding the
watermark after the grouping), with the scripted clock and with Flink's processing-time timers;
its layout pays O(1) state work per element; its output watermark is the published one at every
element, and after a restore never below it."""

from __future__ import annotations

import pickle
import random

import pytest
from flink_fakes import LONG_MAX, FakeBackend

from fluvial.combiners import SumCombineFn
from fluvial.runners.flink.group_holds import SubtaskHolds
from fluvial.runners.flink.window_state import FlinkWindowStore, KeyedGrouping
from fluvial.testing.store_contract import SCRIPTS, check_script
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.triggers import AfterCount, AfterWatermark
from fluvial.window import FixedWindows, IntervalWindow
from fluvial.window_driver import WindowDriver
from fluvial.windowing import TimestampCombiner, Windowing


def _kb(key) -> bytes:
    return pickle.dumps(key, protocol=4)


class FlinkHarness:
    """The runner's side of the store, as the keyed process function and Flink play it: an
    element for the current key, Flink firing its event timers as the watermark advances, and
    processing time either as clock ticks fanned out to every key seen (``scripted``) or as
    Flink's processing-time timers. ``java_holds`` models GroupHolds: every key's earliest hold
    as the function reports it, kept with the keyed state (in snapshots); ``min_hold`` is their
    minimum. A restored harness has a fresh function instance (a new SubtaskHolds), as a
    restored Flink job has."""

    supports_holds = True

    def __init__(self, scripted: bool = True) -> None:
        self.scripted = scripted
        self.backend = FakeBackend()
        self.output_watermark = 0
        self.keys: list = []
        self.clock = 0
        self.java_holds: dict[bytes, int] = {}
        self._groupings: dict[int, KeyedGrouping] = {}

    def _g(self, driver: WindowDriver) -> KeyedGrouping:
        g = self._groupings.get(id(driver))
        if g is None:
            store = FlinkWindowStore(self.backend.value_state("slots"),
                                     self.backend.map_state("contents"), self.scripted,
                                     SubtaskHolds())
            g = self._groupings[id(driver)] = KeyedGrouping(driver, store)
            g.clock_ms = self.clock
        return g

    def _reported(self, g: KeyedGrouping) -> None:
        for kb, hold in g.store.holds.drain():
            if hold is None:
                self.java_holds.pop(kb, None)
            else:
                self.java_holds[kb] = hold

    def process(self, key, value, timestamp_ms, windows, driver, sink):
        if key not in self.keys:
            self.keys.append(key)
        self.backend.current_key = key
        g = self._g(driver)
        g.element(value, timestamp_ms, windows, self.backend.timer_service(), sink.for_key(key),
                  lambda: _kb(key))
        self._reported(g)

    def advance_watermark(self, watermark, driver, sink):
        g = self._g(driver)
        flink_wm = LONG_MAX if watermark >= MAX_TIMESTAMP_MS else watermark
        self.backend.advance_watermark(
            flink_wm, lambda t, key: g.event_timer(t, self.backend.timer_service(),
                                                   sink.for_key(key), lambda: _kb(key)))
        self._reported(g)

    def advance_processing_time(self, now, driver, sink):
        g = self._g(driver)
        self.clock = max(self.clock, now)
        if self.scripted:
            for key in self.keys:  # the clock fan-out: every key seen gets the tick
                self.backend.current_key = key
                g.clock(now, self.backend.timer_service(), sink.for_key(key),
                        lambda k=key: _kb(k))
        else:
            self.backend.advance_processing_time(
                now, lambda t, key: g.processing_timer(t, self.backend.timer_service(),
                                                       sink.for_key(key), lambda: _kb(key)))
        self._reported(g)

    def min_hold(self):
        return min(self.java_holds.values(), default=None)

    def snapshot(self):
        return {"backend": self.backend.snapshot(), "keys": list(self.keys), "clock": self.clock,
                "java_holds": dict(self.java_holds)}

    def restore(self, snap):
        self.backend.restore(snap["backend"])
        self.keys = list(snap["keys"])
        self.clock = snap["clock"]
        self.java_holds = dict(snap["java_holds"])

    def is_empty(self):
        return self.backend.is_empty() and not self.java_holds


@pytest.mark.parametrize("scripted", [True, False], ids=["scripted-clock", "flink-timers"])
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_flink_store_passes_the_kit(script, scripted):
    assert check_script(script, lambda: FlinkHarness(scripted)) == []


class _Sink:
    def __init__(self):
        self.panes = []

    def for_key(self, key):
        return self

    def emit(self, window, value, ts, pane):
        self.panes.append((window, value, ts, pane.timing.value))

    def late(self, value, ts, window):
        pass

    def dropped(self, reason, n):
        pass


def _run(n: int, combine_fn=None):
    h = FlinkHarness()
    driver = WindowDriver(Windowing(FixedWindows(10)), combine_fn)
    sink = _Sink()
    w = FixedWindows(10).assign(1_000, None)
    writes = []
    b = h.backend
    for i in range(n):
        before_maps = sum(len(m) for m in b.maps.values())
        h.process("k", i, 1_000, w, driver, sink)
        writes.append((len(b.values[("slots", "k")]), sum(len(m) for m in b.maps.values()) - before_maps))
    return h, driver, sink, writes


def test_an_element_costs_one_contents_write_and_a_constant_metadata_write():
    h, driver, sink, writes = _run(200)
    # the bag grows by one entry per element; the key's slots (metadata) stay the same size
    assert all(grew == 1 for _, grew in writes)
    assert len({size for size, _ in writes[1:]}) <= 2  # the element count's pickle may widen once
    assert max(size for size, _ in writes) - min(size for size, _ in writes) <= 4
    # contents keys are typed LONGs: window id << 32 | index
    assert sorted(h.backend.maps[("contents", "k")]) == list(range(200))
    h.advance_watermark(10_000, driver, sink)
    assert sink.panes == [(IntervalWindow(0, 10_000), list(range(200)), 9_999, "ON_TIME")]
    assert h.backend.is_empty()


def test_combining_keeps_one_accumulator_cell_per_window():
    h, driver, sink, writes = _run(50, SumCombineFn())
    assert list(h.backend.maps[("contents", "k")]) == [0]
    assert pickle.loads(h.backend.maps[("contents", "k")][0]) == (sum(range(50)),)
    h.advance_watermark(MAX_TIMESTAMP_MS, driver, sink)
    assert sink.panes == [(IntervalWindow(0, 10_000), sum(range(50)), 9_999, "ON_TIME")]


def test_event_timers_are_registered_one_millisecond_late_and_coalesced():
    h = FlinkHarness()
    driver = WindowDriver(Windowing(FixedWindows(10), allowed_lateness_ms=5_000))
    sink = _Sink()
    for i in range(3):
        h.process("k", i, 1_000 + i, FixedWindows(10).assign(1_000, None), driver, sink)
    # end of window at 9999 and expiry at 14999, each registered at t + 1, once
    assert h.backend.pending_event_timers() == [(10_000, "k"), (15_000, "k")]
    h.advance_watermark(9_999, driver, sink)
    assert sink.panes == []  # the window has not ended while the watermark equals 9999
    h.advance_watermark(10_000, driver, sink)
    assert [p[3] for p in sink.panes] == ["ON_TIME"]


def test_window_ids_are_reused_so_they_stay_small():
    h = FlinkHarness()
    driver = WindowDriver(Windowing(FixedWindows(10)))
    sink = _Sink()
    for start in range(0, 200_000, 10_000):
        h.process("k", start, start, FixedWindows(10).assign(start, None), driver, sink)
        h.advance_watermark(start + 10_000, driver, sink)
    assert len(sink.panes) == 20
    assert h.backend.is_empty()
    h.process("k", 0, 500_000, FixedWindows(10).assign(500_000, None), driver, sink)
    assert list(h.backend.maps[("contents", "k")]) == [0]  # window id 0 again


class GroupHoldsModel(FlinkHarness):
    """FlinkHarness that also plays GroupHolds' forwarding: ``emitted`` is the watermark it has
    published (the minimum of its input watermark and its keys' holds, at every report and
    every input watermark, never moving back); a restore starts it again from the minimum, as
    a restored Flink job does."""

    def __init__(self, scripted: bool = True) -> None:
        super().__init__(scripted)
        self.input = MIN_TIMESTAMP_MS
        self.emitted = MIN_TIMESTAMP_MS
        self.seen_at_elements: list[tuple[int, int]] = []  # (store's view, published)

    def _publish(self) -> None:
        hold = self.min_hold()
        wm = self.input if hold is None else min(self.input, hold)
        self.emitted = max(self.emitted, wm)

    def _reported(self, g: KeyedGrouping) -> None:
        for kb, hold in g.store.holds.drain():
            if hold is None:
                self.java_holds.pop(kb, None)
            else:
                self.java_holds[kb] = hold
            self._publish()

    def process(self, key, value, timestamp_ms, windows, driver, sink):
        published = self.emitted
        super().process(key, value, timestamp_ms, windows, driver, sink)
        self.seen_at_elements.append((self._g(driver).store.output_watermark, published))

    def advance_watermark(self, watermark, driver, sink):
        super().advance_watermark(watermark, driver, sink)  # timers first, then forwarding
        self.input = max(self.input, watermark)
        self._publish()


class _Recorder(_Sink):
    def __init__(self):
        super().__init__()
        self.late_stamps: list[tuple] = []

    def late(self, value, ts, window):
        self.late_stamps.append((value, ts))


def _random_run(seed: int, tc: TimestampCombiner, h: GroupHoldsModel, checkpoint_at=None):
    rng = random.Random(seed)
    windowing = Windowing(FixedWindows(10), allowed_lateness_ms=5_000, timestamp_combiner=tc,
                          trigger=AfterWatermark(early=AfterCount(3)))
    driver = WindowDriver(windowing)
    sink = _Recorder()
    wm = 0
    stamps = []  # (pane timestamp, the watermark GroupHolds had published when it left)
    for step in range(120):
        if checkpoint_at is not None and step == checkpoint_at:
            snap = pickle.loads(pickle.dumps(h.snapshot()))
            h = GroupHoldsModel()
            h.restore(snap)
            h.input = wm  # the fake backend keeps its watermark; GroupHolds starts again
        if rng.random() < 0.8:
            key, t = rng.choice("abcd"), max(0, wm + rng.randint(-8_000, 6_000))
            before, published = len(sink.panes), h.emitted  # the panes precede any report
            h.process(key, 1, t, FixedWindows(10).assign(t, None), driver, sink)
            # panes stamped from an element hold (the store-contract kit's rule)
            stamps += [(p[2], published) for p in sink.panes[before:] if p[3] != "LATE"
                       and (tc is TimestampCombiner.OUTPUT_AT_EOW or p[2] < p[0].max_timestamp_ms)]
        else:
            wm += rng.randint(0, 4_000)
            h.advance_watermark(wm, driver, sink)
    h.advance_watermark(MAX_TIMESTAMP_MS, driver, sink)
    return h, stamps


@pytest.mark.parametrize("tc", [TimestampCombiner.OUTPUT_AT_EARLIEST,
                                TimestampCombiner.OUTPUT_AT_LATEST,
                                TimestampCombiner.OUTPUT_AT_EOW], ids=lambda t: t.name)
@pytest.mark.parametrize("seed", range(6))
def test_the_output_watermark_is_the_published_one_at_every_element(seed, tc):
    h, stamps = _random_run(seed, tc, GroupHoldsModel())
    assert h.seen_at_elements and all(view == pub for view, pub in h.seen_at_elements)
    # the holds did hold: some element saw a published watermark below the input watermark
    if tc is not TimestampCombiner.OUTPUT_AT_EOW:
        assert any(pub < MAX_TIMESTAMP_MS for _, pub in h.seen_at_elements)
    assert stamps and all(ts >= pub for ts, pub in stamps), "a held pane behind the watermark"
    assert h.java_holds == {} and h.backend.is_empty()


@pytest.mark.parametrize("seed", range(6))
def test_after_a_restore_the_view_is_never_below_the_published_watermark(seed):
    h, stamps = _random_run(seed, TimestampCombiner.OUTPUT_AT_EARLIEST, GroupHoldsModel(),
                            checkpoint_at=60)
    assert all(view >= pub for view, pub in h.seen_at_elements)
    assert stamps and all(ts >= pub for ts, pub in stamps)
    assert h.java_holds == {} and h.backend.is_empty()


def test_a_restored_instance_learns_a_keys_hold_when_it_next_sees_the_key():
    driver = WindowDriver(Windowing(FixedWindows(10),
                                    timestamp_combiner=TimestampCombiner.OUTPUT_AT_EARLIEST))
    sink = _Sink()
    w = FixedWindows(10).assign(5_000, None)
    h = GroupHoldsModel()
    h.process("a", 1, 5_000, w, driver, sink)  # a holds at 5 s
    h.advance_watermark(8_000, driver, sink)
    assert h.emitted == 5_000
    snap = pickle.loads(pickle.dumps(h.snapshot()))
    r = GroupHoldsModel()
    r.restore(snap)
    r.input, r.emitted = 8_000, 5_000  # GroupHolds rebuilt its minimum from keyed state
    # b's element: the new instance does not know a's hold yet, so it assumes 8 s: 6 s is
    # behind that, no element hold, b's pane is stamped at the window's end (never behind 5 s)
    r.process("b", 2, 6_000, w, driver, sink)
    assert r.seen_at_elements[-1] == (8_000, 5_000)
    # a's next element: its hold is learnt from its state (not reported again: GroupHolds has it)
    r.process("a", 3, 7_000, w, driver, sink)
    assert r.seen_at_elements[-1] == (5_000, 5_000)
    assert r._g(driver).store.holds.by_key == {_kb("a"): 5_000, _kb("b"): 9_999}
    r.advance_watermark(MAX_TIMESTAMP_MS, driver, sink)
    assert sorted((v, ts) for _, v, ts, _ in sink.panes) == [([1, 3], 5_000), ([2], 9_999)]
    assert r.java_holds == {}


class _KeepReports(FlinkHarness):
    def _reported(self, g: KeyedGrouping) -> None:
        pass  # leave the reports in the SubtaskHolds, to look at them


def test_hold_reports_follow_the_keys_earliest_hold():
    driver = WindowDriver(Windowing(FixedWindows(10),
                                    timestamp_combiner=TimestampCombiner.OUTPUT_AT_EARLIEST))
    sink = _Sink()
    h = _KeepReports()
    for key, t in [("a", 7_000), ("a", 8_000), ("a", 3_000), ("b", 15_000), ("a", 12_000)]:
        h.process(key, t, t, FixedWindows(10).assign(t, None), driver, sink)
    holds = h._g(driver).store.holds
    # 8 s does not lower a's hold; a's second window (12 s) leaves a's earliest at 3 s
    assert holds.drain() == [(_kb("a"), 7_000), (_kb("a"), 3_000), (_kb("b"), 15_000)]
    assert holds.minimum() == 3_000
    h.advance_watermark(10_000, driver, sink)  # [0,10) fires: a's earliest hold is now 12 s
    assert holds.drain() == [(_kb("a"), 12_000)]
    assert holds.minimum() == 12_000
    h.advance_watermark(MAX_TIMESTAMP_MS, driver, sink)
    assert sorted(holds.drain()) == [(_kb("a"), None), (_kb("b"), None)]
    assert holds.minimum() is None and h.backend.is_empty()
