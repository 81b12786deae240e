"""The public surface of ``import fluvial``: a hand-written ``__all__`` of names that exist, no
modules, no engine internals; ``from fluvial import *`` gives exactly those; Map, FlatMap and
Filter sit beside ParDo (``fl.Map``), and ``fluvial.transforms`` still offers them."""

from __future__ import annotations

import types

import fluvial as fl
import fluvial.transforms as ft
from fluvial.testing import assert_that, equal_to


def test_all_is_a_list_of_existing_non_module_names():
    assert isinstance(fl.__all__, list)
    assert all(isinstance(n, str) for n in fl.__all__)
    assert len(set(fl.__all__)) == len(fl.__all__)
    missing = [n for n in fl.__all__ if not hasattr(fl, n)]
    assert missing == []
    modules = [n for n in fl.__all__ if isinstance(getattr(fl, n), types.ModuleType)]
    assert modules == []


def test_star_import_gives_exactly_all():
    ns: dict = {}
    exec("from fluvial import *", ns)
    assert sorted(k for k in ns if k != "__builtins__") == sorted(fl.__all__)


def test_the_package_namespace_holds_all_submodules_and_version_only():
    """No name is public by accident: every public attribute that is not a submodule is in
    ``__all__`` (and ``__version__``)."""
    extra = [n for n in dir(fl) if not n.startswith("_") and n not in fl.__all__
             and not isinstance(getattr(fl, n), types.ModuleType)]
    assert extra == []
    assert fl.__version__ == "0.1.0"


def test_engine_internals_and_helpers_are_not_exported():
    for name in ("CallableCombineFn", "ListReader", "Windowing", "WindowDriver", "AppliedTransform",
                 "DoFnSignature", "SourceContext", "PrimitiveTransform", "MetricsContainer",
                 "positive_int", "get_runner", "known_runners"):
        assert name not in fl.__all__, name
        assert not hasattr(fl, name), name


def test_what_a_pipeline_author_needs_is_exported():
    for name in ("Pipeline", "PipelineOptions", "PCollection", "PTransform", "Create", "ParDo",
                 "DoFn", "Map", "FlatMap", "Filter", "GroupByKey", "CombinePerKey",
                 "CombineGlobally", "CombineFn", "WindowInto", "Flatten", "Read", "Write",
                 "Source", "Sink", "FixedWindows", "SlidingWindows", "Sessions", "GlobalWindows",
                 "AfterWatermark", "AfterCount", "Repeatedly", "AccumulationMode",
                 "TimestampCombiner", "PaneInfo", "TimestampedValue", "TaggedOutput",
                 "ValueStateSpec", "BagStateSpec", "TimerSpec", "on_timer", "Timestamp",
                 "Duration", "TimeDomain", "Metrics", "BoundedOutOfOrderness", "UserCodeError",
                 "PipelineConstructionError", "FluvialError"):
        assert name in fl.__all__, name


def test_map_flatmap_filter_sit_beside_pardo():
    assert ft.Map is fl.Map and ft.FlatMap is fl.FlatMap and ft.Filter is fl.Filter
    assert ft.MapTuple is fl.MapTuple and ft.FlatMapTuple is fl.FlatMapTuple
    assert fl.Map.__module__ == fl.ParDo.__module__.replace("pardo", "elementwise")
    with fl.Pipeline(argv=[]) as p:
        words = p | fl.Create(["a b", "c"]) | fl.FlatMap(str.split)
        upper = words | fl.Map(str.upper) | fl.Filter(lambda w: w != "B")
        assert_that(upper, equal_to(["A", "C"]))
        pairs = p | "Pairs" >> fl.Create([("a", 1), ("b", 2)])
        assert_that(pairs | fl.MapTuple(lambda k, v: f"{k}{v}"), equal_to(["a1", "b2"]),
                    label="MapTupleCheck")


def test_runners_still_recognise_map_by_its_kind():
    m = fl.Map(len)
    assert m.dofn.kind == "Map" and fl.FlatMap(list).dofn.kind == "FlatMap"
    assert fl.Filter(bool).dofn.kind == "Filter"
