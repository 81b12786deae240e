"""Side inputs (AsSingleton, AsIter, AsList, AsDict) and Reshuffle on the direct runner: how they
are passed (Map, FlatMap, Filter, ParDo; positional and keyword; with DoFn parameters), the
views' values, defaults and errors, construction errors, waiting for an unbounded side input
and the checkpoint of what waits. Window mapping and waiting are also conformance cases
(sdk/testing/conformance/cases_side_inputs.py)."""

from __future__ import annotations

import pytest
from unit_support import Crash, CrashOnce, StagingSink, collect, pipeline, tv

import fluvial as fl
import fluvial.pvalue as pvalue
from fluvial.errors import PipelineConstructionError, SideInputError
from fluvial.runners.direct.operators.pardo import DoFnCaller
from fluvial.runners.direct.operators.side_inputs import SideInputParDoOperator
from fluvial.testing import TestStream, assert_that, equal_to
from fluvial.timeutil import MAX_TIMESTAMP_MS
from fluvial.values import WindowedValue
from fluvial.window import IntervalWindow


def test_views_are_importable_from_fluvial_and_pvalue():
    for name in ("AsSingleton", "AsIter", "AsList", "AsDict", "EmptySideInput"):
        assert getattr(fl, name) is getattr(pvalue, name)


def test_map_flatmap_filter_and_pardo_take_views_positionally_and_by_keyword():
    class Tag(fl.DoFn):
        def process(self, x, sep, suffixes=()):
            for s in suffixes:
                yield f"{x}{sep}{s}"

    with fl.Pipeline(argv=[]) as p:
        one = fl.AsSingleton(p | "One" >> fl.Create([1]))
        words = fl.AsList(p | "Words" >> fl.Create(["b", "a"]))
        main = p | fl.Create([10, 20])
        assert_that(main | fl.Map(lambda x, k, *, plus: x * k + plus, 3, plus=one),
                    equal_to([31, 61]), label="Map")
        assert_that(main | fl.FlatMap(lambda x, ws: [(x, w) for w in sorted(ws)], words),
                    equal_to([(10, "a"), (10, "b"), (20, "a"), (20, "b")]), label="FlatMap")
        assert_that(main | fl.Filter(lambda x, lo: x > lo * 10, lo=one), equal_to([20]),
                    label="Filter")
        assert_that(main | fl.ParDo(Tag(), "-", suffixes=words),
                    equal_to(["10-b", "10-a", "20-b", "20-a"]), label="ParDo")


def test_a_function_asking_for_dofn_parameters_also_gets_the_side_input():
    with fl.Pipeline(argv=[]) as p:
        one = fl.AsSingleton(p | "One" >> fl.Create([100]))
        main = p | fl.Create([tv(1, 5)])
        out = main | fl.Map(lambda x, s, ts=fl.DoFn.TimestampParam: (x + s, ts.seconds), one)
        assert_that(out, equal_to([(101, 5)]))


def test_each_view_value():
    seen = []

    class Look(fl.DoFn):
        def process(self, x, it, lst, d, single, empty, default):
            seen.append((sorted(it), sorted(it), type(lst) is list, sorted(lst), d, single,
                         isinstance(empty, fl.EmptySideInput), default))
            return []

    p = pipeline()
    side = p | "Side" >> fl.Create([("k", 1), ("j", 2)])
    none = p | "None" >> fl.Create([])
    _ = p | fl.Create([0]) | fl.ParDo(
        Look(), fl.AsIter(side), fl.AsList(side), fl.AsDict(side),
        fl.AsSingleton(p | "Single" >> fl.Create(["only"])), fl.AsSingleton(none),
        fl.AsSingleton(none, default_value="dflt"))
    p.run()
    # an AsIter iterates as often as asked
    assert seen == [([("j", 2), ("k", 1)], [("j", 2), ("k", 1)], True, [("j", 2), ("k", 1)],
                     {"k": 1, "j": 2}, "only", True, "dflt")]


def test_singleton_of_several_elements_names_the_transform_and_the_side_input():
    p = pipeline()
    two = p | "Two" >> fl.Create([1, 2])
    _ = p | fl.Create([0]) | "Use" >> fl.Map(lambda x, s: x + s, fl.AsSingleton(two))
    with pytest.raises(SideInputError, match="transform 'Use/ParDo': side input AsSingleton"
                       r"\(Two\) in window GlobalWindow\(\): PCollection of size 2 with more "
                       "than one element accessed as a singleton view"):
        p.run()


def test_as_dict_of_non_pairs_is_a_side_input_error():
    p = pipeline()
    bad = p | "Bad" >> fl.Create([1])
    _ = p | fl.Create([0]) | "Use" >> fl.Map(lambda x, d: d, fl.AsDict(bad))
    with pytest.raises(SideInputError, match="transform 'Use/ParDo': side input AsDict.*needs "
                       r"\(key, value\) pairs"):
        p.run()


def test_construction_errors():
    p = pipeline()
    sess = p | "S" >> fl.Create([tv(1, 1)]) | fl.WindowInto(fl.Sessions(10))
    with pytest.raises(PipelineConstructionError, match="merging windows .*Sessions.* cannot be "
                       "a side input"):
        fl.AsList(sess)
    with pytest.raises(PipelineConstructionError, match="AsDict needs a PCollection"):
        fl.AsDict([1, 2])
    other = fl.Pipeline(argv=[]) | "Elsewhere" >> fl.Create([1])
    with pytest.raises(PipelineConstructionError, match="side input AsList\\(Elsewhere\\) "
                       "belongs to another pipeline"):
        _ = p | "Main" >> fl.Create([1]) | "Use" >> fl.Map(lambda x, s: x, fl.AsList(other))

    state = fl.ValueStateSpec("v")

    class Stateful(fl.DoFn):
        def process(self, kv, side, v=fl.DoFn.StateParam(state)):
            yield kv

    kv = p | "KV" >> fl.Create([("a", 1)])
    with pytest.raises(PipelineConstructionError, match="'St': a stateful DoFn .* cannot take "
                       "side inputs"):
        _ = kv | "St" >> fl.ParDo(Stateful(), fl.AsList(kv))


def test_an_element_in_several_windows_is_processed_once_per_window():
    p = pipeline()
    side = (p | "Side" >> fl.Create([tv(1, 1), tv(2, 11)])
            | "SW" >> fl.WindowInto(fl.FixedWindows(10)))
    main = p | fl.Create([tv("x", 12)]) | fl.WindowInto(fl.SlidingWindows(10, 5))
    out = collect(main | fl.Map(lambda x, s: (x, s), fl.AsList(side)))
    p.run()
    # x@12 is in [5,15) and [10,20); their max timestamps 14.999 and 19.999 map to side [10,20)
    assert sorted(out.with_windows()) == [(("x", [2]), (5_000, 15_000)),
                                          (("x", [2]), (10_000, 20_000))]


def _split(p, script, main_lateness=0):
    both = p | "Source" >> script
    main = (both | "Main" >> fl.Filter(lambda e: e[0] == "main") | "MV" >> fl.Map(lambda e: e[1])
            | "MW" >> fl.WindowInto(fl.FixedWindows(10), allowed_lateness=main_lateness))
    side = (both | "Side" >> fl.Filter(lambda e: e[0] == "side") | "SV" >> fl.Map(lambda e: e[1])
            | "SWin" >> fl.WindowInto(fl.FixedWindows(10)))
    return main, side


def test_main_elements_wait_for_the_side_window_and_keep_their_metadata():
    script = (TestStream()
              .add_elements([tv(("main", "m1"), 2), tv(("side", 100), 1)])
              .advance_watermark_to(5)
              .add_elements([tv(("side", 200), 7)])
              .advance_watermark_to(10)
              .add_elements([tv(("side", 999), 3)])     # late for [0,10): later elements see it
              .add_elements([tv(("main", "m2"), 4)])    # late, within the main's lateness
              .advance_watermark_to(25)                 # [0,10) expired for the main input
              .add_elements([tv(("main", "m3"), 4)])    # too late: the side window is gone
              .advance_watermark_to_infinity())
    p = pipeline()
    main, side = _split(p, script, main_lateness=10)
    out = collect(main | "Attach" >> fl.Map(lambda x, s: (x, sorted(s)), fl.AsList(side)))
    p.run()
    assert out.panes() == [
        (("m1", [100, 200]), (0, 10_000), 2_000, fl.PaneInfo.NO_FIRING),
        (("m2", [100, 200, 999]), (0, 10_000), 4_000, fl.PaneInfo.NO_FIRING),
        (("m3", []), (0, 10_000), 4_000, fl.PaneInfo.NO_FIRING),
    ]


def _operator(views_windowing=fl.FixedWindows(10)):
    p = pipeline()
    side = p | "Side" >> fl.Create([]) | "SW" >> fl.WindowInto(views_windowing)
    node_t = fl.ParDo(_Attach(), fl.AsList(side))
    _ = p | fl.Create([]) | "Attach" >> node_t
    op = SideInputParDoOperator("Attach", DoFnCaller("Attach", node_t), node_t.side_args)
    got = []

    class _Sink:
        def process(self, idx, batch):
            got.extend((wv.value, wv.timestamp, wv.windows[0].start_ms) for wv in batch)

        def receive_watermark(self, idx, wm):
            got.append(("wm", wm))

        def receive_idle(self, idx, idle):
            pass

    op.add_consumer(None, _Sink(), 0)
    op.open(None)
    return op, got


class _Attach(fl.DoFn):
    def process(self, x, side):
        yield (x, sorted(side))


def _wv(v, ms):
    start = ms - ms % 10_000
    return WindowedValue(v, ms, (IntervalWindow(start, start + 10_000),))


def test_waiting_elements_hold_the_output_watermark_and_survive_a_checkpoint():
    op, got = _operator()
    op.process(0, [_wv("m1", 2_000), _wv("m2", 12_000)])
    op.process(1, [_wv(100, 1_000), _wv(300, 11_000)])
    op.receive_watermark(0, 30_000)
    op.receive_watermark(1, 5_000)
    assert got == [("wm", 2_000)]                 # min(inputs 5 s, waiting m1 at 2 s)
    st = op.snapshot()

    fresh, got2 = _operator()
    fresh.restore(st)
    fresh.process(1, [_wv(200, 7_000)])
    fresh.receive_watermark(1, 10_000)           # side [0,10) ready: m1 goes, then the watermark
    assert got2 == [(("m1", [100, 200]), 2_000, 0), ("wm", 10_000)]
    fresh.receive_watermark(1, MAX_TIMESTAMP_MS)
    assert got2[2:] == [(("m2", [300]), 12_000, 10_000), ("wm", 30_000)]


def test_side_contents_are_dropped_once_every_main_window_reading_them_expired():
    op, _ = _operator()
    op.process(1, [_wv(1, 1_000), _wv(2, 15_000)])
    op.receive_watermark(1, 10_000)
    op.receive_watermark(0, 10_000)   # input watermark 10 s: [0,10) expired (no lateness)
    assert list(op.contents[0]) == [IntervalWindow(10_000, 20_000)]
    op.process(1, [_wv(3, 2_000)])    # late for an expired window: not kept
    assert list(op.contents[0]) == [IntervalWindow(10_000, 20_000)]


def test_a_restart_restores_waiting_elements_and_side_contents(tmp_path):
    ck = str(tmp_path / "ck")
    sink = StagingSink(tmp_path / "sink")
    marker = tmp_path / "crashed"

    def build(p):
        script = (TestStream()
                  .add_elements([tv(("main", "m1"), 2), tv(("side", 100), 1)])
                  .advance_watermark_to(5)
                  .add_elements([tv(("side", 200), 7)])
                  .add_elements([tv(("side", 300), 11)])
                  .advance_watermark_to(10)
                  .advance_watermark_to_infinity())
        main, side = _split(p, script)
        side = side | "Crash" >> fl.ParDo(CrashOnce(300, marker))
        attached = main | "Attach" >> fl.Map(lambda x, s: (x, sorted(s)), fl.AsList(side))
        attached | "Write" >> fl.Write(sink)

    p1 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build(p1)
    with pytest.raises(fl.UserCodeError) as ei:
        p1.run()
    assert isinstance(ei.value.cause, Crash)
    assert sink.committed() == []
    p2 = pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0")
    build(p2)
    result = p2.run()
    assert result.info["restored_from"] is not None
    assert sink.committed() == [[["m1", [100, 200]], 2_000, [0, 10_000]]]


# -- Reshuffle ---------------------------------------------------------------------------------
def test_reshuffle_keeps_values_timestamps_windows_and_panes():
    p = pipeline()
    grouped = (p | fl.Create([tv(("a", 1), 1), tv(("a", 2), 12)])
               | fl.WindowInto(fl.FixedWindows(10)) | fl.GroupByKey())
    before = collect(grouped, "Before")
    after = collect(grouped | fl.Reshuffle(), "After")
    p.run()
    assert after.records == before.records
    assert sorted((r[0], r[1]) for r in after.records) == [(("a", [1]), 9_999),
                                                          (("a", [2]), 19_999)]
    assert all(r[3].timing == fl.PaneTiming.ON_TIME for r in after.records)
