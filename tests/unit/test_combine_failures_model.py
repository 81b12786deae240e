"""The model's side of CombineFn failures (fluvial.window_driver, "Failures of the CombineFn")
over the reference store, without a runner: what the driver reports, and that its state stays
consistent (windows, contents, holds) so processing can go on."""

from __future__ import annotations

import pytest

from fluvial.combine import CallableCombineFn, CombineFn, CombineFnError
from fluvial.combiners import TopCombineFn
from fluvial.pane import PaneTiming
from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.triggers import AccumulationMode, AfterCount, AfterWatermark
from fluvial.window import FixedWindows, IntervalWindow, Sessions, SlidingWindows
from fluvial.window_driver import WindowDriver
from fluvial.window_store import InMemoryWindowStore
from fluvial.windowing import Windowing


class Sink:
    """Records what the driver reports for the bound key."""

    def __init__(self) -> None:
        self.key = None
        self.panes: list[tuple] = []
        self.element_failures: list[tuple] = []
        self.pane_failures: list[tuple] = []

    def for_key(self, key):
        self.key = key
        return self

    def emit(self, window, value, ts, pane):
        self.panes.append((self.key, (window.start_ms, window.end_ms), value, ts, pane.index))

    def late(self, value, ts, window):
        pass

    def dropped(self, reason, n):
        pass

    def element_failed(self, value, ts, window, error):
        bounds = None if window is None else (window.start_ms, window.end_ms)
        self.element_failures.append((self.key, value, ts, bounds, error.method,
                                      type(error.cause).__name__))

    def pane_failed(self, window, ts, pane, error):
        self.pane_failures.append((self.key, (window.start_ms, window.end_ms), ts, pane.index,
                                   pane.timing, error.method, type(error.cause).__name__))


class OnlyInts(CombineFn):
    def create_accumulator(self):
        return 0

    def add_input(self, acc, x):
        if type(x) is not int:
            raise TypeError(f"not an int: {x!r}")
        return acc + x

    def merge_accumulators(self, accs):
        return sum(accs)

    def extract_output(self, acc):
        if acc == 13:
            raise ArithmeticError("unlucky")
        return acc


def feed(driver, store, sink, key, value, ts_ms):
    windows = driver.window_fn.assign(ts_ms, value)
    store.process(key, value, ts_ms, windows, driver, sink)


def test_add_input_failing_in_one_window_of_several_is_reported_per_window():
    # sliding windows of 10 s every 5 s: the element at 7 s is in [0, 10) and [5, 15)
    driver = WindowDriver(Windowing(SlidingWindows(10, 5)), OnlyInts())
    store, sink = InMemoryWindowStore(), Sink()
    feed(driver, store, sink, "k", 1, 2_000)  # only [-5, 5) and [0, 10)
    feed(driver, store, sink, "k", "x", 7_000)
    assert sorted(sink.element_failures) == [
        ("k", "x", 7_000, (0, 10_000), "add_input", "TypeError"),
        ("k", "x", 7_000, (5_000, 15_000), "add_input", "TypeError"),
    ]
    # [5, 15) did not exist before and was not created; [0, 10) kept its accumulator
    store.bind("k")
    assert store.get_meta(IntervalWindow(5_000, 15_000)) is None
    assert store.get_accumulator(IntervalWindow(0, 10_000), None) == 1
    store.advance_watermark(20_000, driver, sink)
    assert [(w, v) for _, w, v, _, _ in sink.panes] == [((-5_000, 5_000), 1), ((0, 10_000), 1)]
    assert store.is_empty()


def test_extract_output_failing_uses_up_the_pane_and_releases_its_holds():
    w = Windowing(FixedWindows(60), trigger=AfterWatermark(early=AfterCount(1)),
                  accumulation_mode=AccumulationMode.ACCUMULATING)
    driver = WindowDriver(w, OnlyInts())
    store, sink = InMemoryWindowStore(), Sink()
    feed(driver, store, sink, "a", 13, 1_000)  # early pane of 13: extract raises
    assert sink.panes == [] and store.min_hold() is None  # the failed pane released its hold
    feed(driver, store, sink, "a", 1, 2_000)  # early pane of 14: index 1
    store.advance_watermark(60_000, driver, sink)  # on-time pane of 14: index 2
    assert sink.pane_failures == [
        ("a", (0, 60_000), 59_999, 0, PaneTiming.EARLY, "extract_output", "ArithmeticError")]
    assert [(v, i) for _, _, v, _, i in sink.panes] == [(14, 1), (14, 2)]
    assert store.is_empty()  # expired and forgotten as usual


class RefusingMerge(OnlyInts):
    def merge_accumulators(self, accs):
        accs = list(accs)
        if sum(accs) > 100:
            raise OverflowError("too much")
        return sum(accs)


def test_merge_failing_changes_nothing_and_drops_the_element():
    driver = WindowDriver(Windowing(Sessions(10)), RefusingMerge())
    store, sink = InMemoryWindowStore(), Sink()
    feed(driver, store, sink, "k", 1, 0)
    feed(driver, store, sink, "k", 200, 15_000)
    before = store.snapshot()
    feed(driver, store, sink, "k", 5, 8_000)  # would merge [0, 10), [8, 18), [15, 25)
    assert sink.element_failures == [("k", 5, 8_000, None, "merge_accumulators",
                                      "OverflowError")]
    assert store.snapshot() == before  # metadata, accumulators, holds and timers untouched
    store.advance_watermark(40_000, driver, sink)
    assert sorted((w, v) for _, w, v, _, _ in sink.panes) == [
        ((0, 10_000), 1), ((15_000, 25_000), 200)]


def test_contents_wrap_only_the_combine_fns_exceptions():
    driver = WindowDriver(Windowing(FixedWindows(10)), OnlyInts())
    with pytest.raises(CombineFnError) as ei:
        driver.contents.add(InMemoryWindowStore().bind("k"), IntervalWindow(0, 10), "x")
    assert ei.value.method == "add_input" and isinstance(ei.value.cause, TypeError)


def test_callable_combine_fn_folds_each_element_and_fails_on_its_own():
    fn = CallableCombineFn(sum)
    acc = fn.create_accumulator()
    for x in range(100):
        acc = fn.add_input(acc, x)
    assert acc == [4950]
    with pytest.raises(TypeError):
        fn.add_input(acc, "x")
    assert acc == [4950]  # unchanged
    with pytest.raises(TypeError):  # alone, too: 0 + "x"
        fn.add_input(fn.create_accumulator(), "x")
    # an accumulator of several values (an older buffering checkpoint) folds on the next add
    assert fn.add_input([1, 2, 3], 4) == [10]
    assert fn.isolating() is fn


def test_top_isolating_keeps_the_top_sorted_and_rejects_incomparable_elements():
    fn = TopCombineFn(2).isolating()
    acc = fn.create_accumulator()
    for x in [3, 9, 1, 7]:
        acc = fn.add_input(acc, x)
    assert acc == [9, 7] and fn.extract_output(acc) == [9, 7]
    with pytest.raises(TypeError):
        fn.add_input(acc, "z")
    assert acc == [9, 7]
    plain = TopCombineFn(2)
    assert plain.isolating() is not plain and plain.isolating().isolating().eager
    assert TopCombineFn(2, reverse=True).isolating().apply([5, 1, 3]) == [1, 3]


def test_a_failure_of_the_sink_itself_propagates():
    # a sink raising (the runner's policy "fail") stops the driver: nothing swallows it
    class Raising(Sink):
        def element_failed(self, value, ts, window, error):
            raise error.cause

    driver = WindowDriver(Windowing(FixedWindows(10)), OnlyInts())
    with pytest.raises(TypeError, match="not an int"):
        feed(driver, InMemoryWindowStore(), Raising(), "k", "x", MIN_TIMESTAMP_MS + 1)
