"""WindowFn assignment on edge values, and Sessions merging (directly and through GroupByKey)."""

from __future__ import annotations

import pytest
from unit_support import collect, pipeline, tv

import fluvial as fl
from fluvial.testing import TestStream
from fluvial.timeutil import GLOBAL_WINDOW_MAX_MS
from fluvial.window import GLOBAL_WINDOW, IntervalWindow, merge_overlapping_intervals


def bounds(windows):
    return sorted((w.start_ms, w.end_ms) for w in windows)


# -- FixedWindows ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ts,expected",
    [
        (0, (0, 10_000)),
        (1, (0, 10_000)),
        (9_999, (0, 10_000)),
        (10_000, (10_000, 20_000)),
        (-1, (-10_000, 0)),
        (-10_000, (-10_000, 0)),
        (-10_001, (-20_000, -10_000)),
    ],
)
def test_fixed_windows_edges(ts, expected):
    assert bounds(fl.FixedWindows(10).assign(ts, None)) == [expected]


@pytest.mark.parametrize(
    "offset,ts,expected",
    [
        (3, 2_999, (-7_000, 3_000)),
        (3, 3_000, (3_000, 13_000)),
        (3, 12_999, (3_000, 13_000)),
        (13, 3_000, (3_000, 13_000)),  # offset taken modulo the size
        (-7, 3_000, (3_000, 13_000)),
    ],
)
def test_fixed_windows_offset(offset, ts, expected):
    assert bounds(fl.FixedWindows(10, offset=offset).assign(ts, None)) == [expected]


def test_fixed_windows_fractional_seconds():
    wf = fl.FixedWindows(0.5)
    assert wf.size_ms == 500
    assert bounds(wf.assign(1_499, None)) == [(1_000, 1_500)]
    assert bounds(wf.assign(1_500, None)) == [(1_500, 2_000)]


def test_fixed_windows_one_millisecond():
    wf = fl.FixedWindows(0.001)
    assert bounds(wf.assign(7, None)) == [(7, 8)]
    (w,) = wf.assign(7, None)
    assert w.max_timestamp_ms == 7


def test_interval_window_max_timestamp_and_views():
    w = IntervalWindow(0, 10_000)
    assert w.max_timestamp_ms == 9_999
    assert w.start == 0 and w.end == 10
    assert w == IntervalWindow(0, 10_000) and hash(w) == hash(IntervalWindow(0, 10_000))
    assert w != IntervalWindow(0, 10_001)


# -- SlidingWindows -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ts,expected",
    [
        (0, [(-20_000, 10_000), (-10_000, 20_000), (0, 30_000)]),
        (25_000, [(0, 30_000), (10_000, 40_000), (20_000, 50_000)]),
        (29_999, [(0, 30_000), (10_000, 40_000), (20_000, 50_000)]),
        (30_000, [(10_000, 40_000), (20_000, 50_000), (30_000, 60_000)]),
        (-1, [(-30_000, 0), (-20_000, 10_000), (-10_000, 20_000)]),
    ],
)
def test_sliding_windows_edges(ts, expected):
    assert bounds(fl.SlidingWindows(30, 10).assign(ts, None)) == expected


def test_sliding_windows_size_not_a_multiple_of_period():
    wf = fl.SlidingWindows(25, 10)
    assert bounds(wf.assign(24_999, None)) == [(0, 25_000), (10_000, 35_000), (20_000, 45_000)]
    assert bounds(wf.assign(25_000, None)) == [(10_000, 35_000), (20_000, 45_000)]


def test_sliding_windows_period_equal_to_size_is_fixed():
    for ts in (-1, 0, 9_999, 10_000, 123_456):
        assert bounds(fl.SlidingWindows(10, 10).assign(ts, None)) == bounds(
            fl.FixedWindows(10).assign(ts, None)
        )


def test_sliding_windows_offset():
    wf = fl.SlidingWindows(20, 10, offset=5)
    assert bounds(wf.assign(5_000, None)) == [(-5_000, 15_000), (5_000, 25_000)]
    assert bounds(wf.assign(4_999, None)) == [(-15_000, 5_000), (-5_000, 15_000)]


def test_every_sliding_window_contains_the_timestamp():
    wf = fl.SlidingWindows(60, 7)
    for ts in range(-20_000, 20_000, 997):
        ws = wf.assign(ts, None)
        assert len(ws) in (8, 9)  # ceil(60/7) or floor
        assert all(w.start_ms <= ts < w.end_ms for w in ws)
        assert len(set(ws)) == len(ws)


# -- GlobalWindows and custom WindowFn ------------------------------------------------------


def test_global_windows():
    (w,) = fl.GlobalWindows().assign(123, None)
    assert w is GLOBAL_WINDOW and w == fl.GlobalWindow()
    assert w.max_timestamp_ms == GLOBAL_WINDOW_MAX_MS


def test_custom_window_fn_in_a_pipeline():
    class ByParity(fl.WindowFn):
        def assign(self, timestamp_ms, element):
            k, v = element
            return [IntervalWindow(0, 10) if v % 2 == 0 else IntervalWindow(10, 20)]

    p = pipeline()
    out = collect(
        p
        | fl.Create([tv(("a", 1), 0), tv(("a", 2), 0), tv(("a", 3), 0), tv(("a", 4), 0)])
        | fl.WindowInto(ByParity())
        | fl.GroupByKey()
    )
    p.run()
    got = sorted((b, sorted(v[1])) for v, b in out.with_windows())
    assert got == [((0, 10), [2, 4]), ((10, 20), [1, 3])]


# -- Sessions -------------------------------------------------------------------------------


def test_sessions_assign_is_proto_window():
    assert bounds(fl.Sessions(10).assign(5_000, None)) == [(5_000, 15_000)]


def test_merge_overlapping_intervals():
    ws = [IntervalWindow(0, 10), IntervalWindow(5, 15), IntervalWindow(20, 30), IntervalWindow(29, 31)]
    got = sorted((bounds(members), (u.start_ms, u.end_ms)) for members, u in merge_overlapping_intervals(ws))
    assert got == [([(0, 10), (5, 15)], (0, 15)), ([(20, 30), (29, 31)], (20, 31))]


def test_merge_chain_and_containment():
    ws = [IntervalWindow(0, 10), IntervalWindow(9, 19), IntervalWindow(18, 28), IntervalWindow(2, 3)]
    ((members, u),) = merge_overlapping_intervals(ws)
    assert (u.start_ms, u.end_ms) == (0, 28)
    assert bounds(members) == [(0, 10), (2, 3), (9, 19), (18, 28)]


def test_merge_nothing_to_merge():
    assert merge_overlapping_intervals([IntervalWindow(0, 10), IntervalWindow(11, 20)]) == []
    assert merge_overlapping_intervals([]) == []


def _sessions(elements, gap=10, **window_kwargs):
    p = pipeline()
    ts = TestStream().add_elements([tv(kv, t) for kv, t in elements]).advance_watermark_to_infinity()
    out = collect(p | ts | fl.WindowInto(fl.Sessions(gap), **window_kwargs) | fl.GroupByKey())
    p.run()
    return sorted((v[0], b, sorted(v[1])) for v, b in out.with_windows())


def test_sessions_gap_minus_one_ms_merges_gap_plus_one_ms_does_not():
    got = _sessions([(("a", 1), 0), (("a", 2), 9.999), (("a", 3), 30), (("a", 4), 40.001)])
    assert got == [
        ("a", (0, 19_999), [1, 2]),
        ("a", (30_000, 40_000), [3]),
        ("a", (40_001, 50_001), [4]),
    ]


def test_sessions_are_per_key():
    got = _sessions([(("a", 1), 0), (("b", 2), 5), (("a", 3), 8)])
    assert got == [("a", (0, 18_000), [1, 3]), ("b", (5_000, 15_000), [2])]


def test_sessions_bridge_element_merges_two_sessions():
    # two sessions, then an element whose proto-window overlaps both
    got = _sessions([(("a", 1), 0), (("a", 2), 15), (("a", 3), 7)])
    assert got == [("a", (0, 25_000), [1, 2, 3])]


def test_sessions_bridge_in_separate_bundles():
    p = pipeline()
    ts = (
        TestStream()
        .add_elements([tv(("a", 1), 0)])
        .add_elements([tv(("a", 2), 15)])
        .add_elements([tv(("a", 3), 7)])
        .add_elements([tv(("a", 4), 100)])
        .advance_watermark_to_infinity()
    )
    out = collect(p | ts | fl.WindowInto(fl.Sessions(10)) | fl.GroupByKey())
    p.run()
    got = sorted((b, sorted(v[1])) for v, b in out.with_windows())
    assert got == [((0, 25_000), [1, 2, 3]), ((100_000, 110_000), [4])]


def test_sessions_with_combiner():
    p = pipeline()
    ts = (
        TestStream()
        .add_elements([tv(("a", 1), 0), tv(("a", 10), 5), tv(("a", 100), 50)])
        .advance_watermark_to_infinity()
    )
    out = collect(p | ts | fl.WindowInto(fl.Sessions(10)) | fl.CombinePerKey(sum))
    p.run()
    assert sorted(out.with_windows()) == [(("a", 11), (0, 15_000)), (("a", 100), (50_000, 60_000))]


def test_session_merge_with_late_data_within_lateness():
    # the first session fires on time; a late element within allowed lateness extends it
    p = pipeline()
    ts = (
        TestStream()
        .add_elements([tv(("a", 1), 0)])
        .advance_watermark_to(12)
        .add_elements([tv(("a", 2), 5)])
        .advance_watermark_to_infinity()
    )
    out = collect(
        p | ts | fl.WindowInto(fl.Sessions(10), allowed_lateness=30) | fl.GroupByKey()
    )
    p.run()
    got = [(v, b, pane.timing.value, pane.index) for v, b, _, pane in out.panes()]
    # [0,10) fires ON_TIME at wm 12; the late element's [5,15) merges into [0,15),
    # whose end is already behind the watermark: a LATE pane continuing the index.
    assert got == [
        (("a", [1]), (0, 10_000), "ON_TIME", 0),
        (("a", [2]), (0, 15_000), "LATE", 1),
    ]
