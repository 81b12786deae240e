"""The Flink runner's window-driver store (runners/flink/window_state.py) without an engine: it
passes the store-contract kit over fakes of Flink's keyed state and timer service (tests/unit/
flink_fakes.py), with the scripted clock and with Flink's processing-time timers, and its
layout pays O(1) state work per element."""

from __future__ import annotations

import pickle

import pytest
from flink_fakes import LONG_MAX, FakeBackend

from fluvial.combiners import SumCombineFn
from fluvial.runners.flink.window_state import FlinkWindowStore, KeyedGrouping
from fluvial.testing.store_contract import SCRIPTS, check_script
from fluvial.timeutil import MAX_TIMESTAMP_MS
from fluvial.window import FixedWindows, IntervalWindow
from fluvial.window_driver import WindowDriver
from fluvial.windowing import Windowing


class FlinkHarness:
    """The runner's side of the store, as the keyed process function and Flink play it: an
    element for the current key, Flink firing its event timers as the watermark advances, and
    processing time either as clock ticks fanned out to every key seen (``scripted``) or as
    Flink's processing-time timers."""

    supports_holds = False

    def __init__(self, scripted: bool = True) -> None:
        self.scripted = scripted
        self.backend = FakeBackend()
        self.output_watermark = 0
        self.keys: list = []
        self.clock = 0
        self._groupings: dict[int, KeyedGrouping] = {}

    def _g(self, driver: WindowDriver) -> KeyedGrouping:
        g = self._groupings.get(id(driver))
        if g is None:
            store = FlinkWindowStore(self.backend.value_state("slots"),
                                     self.backend.map_state("contents"), self.scripted)
            g = self._groupings[id(driver)] = KeyedGrouping(driver, store)
            g.clock_ms = self.clock
        return g

    def process(self, key, value, timestamp_ms, windows, driver, sink):
        if key not in self.keys:
            self.keys.append(key)
        self.backend.current_key = key
        self._g(driver).element(value, timestamp_ms, windows, self.backend.timer_service(),
                                sink.for_key(key))

    def advance_watermark(self, watermark, driver, sink):
        g = self._g(driver)
        flink_wm = LONG_MAX if watermark >= MAX_TIMESTAMP_MS else watermark
        self.backend.advance_watermark(
            flink_wm, lambda t, key: g.event_timer(t, self.backend.timer_service(), sink.for_key(key)))

    def advance_processing_time(self, now, driver, sink):
        g = self._g(driver)
        self.clock = max(self.clock, now)
        if self.scripted:
            for key in self.keys:  # the clock fan-out: every key seen gets the tick
                self.backend.current_key = key
                g.clock(now, self.backend.timer_service(), sink.for_key(key))
        else:
            self.backend.advance_processing_time(
                now, lambda t, key: g.processing_timer(t, self.backend.timer_service(),
                                                       sink.for_key(key)))

    def min_hold(self):
        return None

    def snapshot(self):
        return {"backend": self.backend.snapshot(), "keys": list(self.keys), "clock": self.clock}

    def restore(self, snap):
        self.backend.restore(snap["backend"])
        self.keys = list(snap["keys"])
        self.clock = snap["clock"]

    def is_empty(self):
        return self.backend.is_empty()


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
