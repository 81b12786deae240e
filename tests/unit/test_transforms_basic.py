"""Element-wise composites, key helpers, CoGroupByKey and joins on the direct runner."""

from __future__ import annotations

import pytest

import fluvial as fl
from fluvial.dofn import CallableDoFn
from fluvial.errors import PipelineConstructionError, UserCodeError
from fluvial.testing import assert_that, equal_to
from fluvial.transforms import (
    CoGroupByKey,
    Filter,
    FlatMap,
    FlatMapTuple,
    FullOuterJoin,
    InnerJoin,
    KeyBy,
    Keys,
    KvSwap,
    LeftOuterJoin,
    Map,
    MapTuple,
    RightOuterJoin,
    Values,
    WithKeys,
)


def pipeline() -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "direct"])


def freeze(x):
    """Hashable, order-insensitive form of nested lists/dicts/tuples (for equal_to)."""
    if isinstance(x, dict):
        return tuple(sorted((k, freeze(v)) for k, v in x.items()))
    if isinstance(x, list):
        return tuple(sorted((freeze(v) for v in x), key=repr))
    if isinstance(x, tuple):
        return tuple(freeze(v) for v in x)
    return x


# -- Map / FlatMap / Filter ----------------------------------------------------------------------


def test_map_flatmap_filter():
    with pipeline() as p:
        lines = p | fl.Create(["a b", "c", ""])
        words = lines | FlatMap(str.split)
        assert_that(words, equal_to(["a", "b", "c"]))
        assert_that(words | Map(str.upper), equal_to(["A", "B", "C"]), label="upper")
        assert_that(words | Filter(lambda w: w != "b"), equal_to(["a", "c"]), label="filter")


def test_extra_args_and_kwargs():
    def scale(x, k, offset=0):
        return x * k + offset

    def between(x, lo, hi=100):
        return lo <= x <= hi

    def repeat(x, n, sep=None):
        return [x] * n if sep is None else [x, sep] * n

    with pipeline() as p:
        nums = p | fl.Create([1, 2, 3])
        assert_that(nums | Map(scale, 10, offset=1), equal_to([11, 21, 31]))
        assert_that(nums | Filter(between, 2, hi=2), equal_to([2]), label="f")
        assert_that(nums | FlatMap(repeat, 2), equal_to([1, 1, 2, 2, 3, 3]), label="fm")
        assert_that(
            nums | "FM2" >> FlatMap(repeat, 1, sep=0), equal_to([1, 0, 2, 0, 3, 0]), label="fm2"
        )


def test_flatmap_generator_and_identity():
    def gen(x):
        yield from range(x)

    with pipeline() as p:
        assert_that(p | fl.Create([3, 1]) | FlatMap(gen), equal_to([0, 1, 2, 0]))
        assert_that(p | "L" >> fl.Create([[1, 2], [], [3]]) | FlatMap(), equal_to([1, 2, 3]),
                    label="identity")


def test_map_tuple_and_flatmap_tuple():
    with pipeline() as p:
        kvs = p | fl.Create([("a", 2), ("b", 1)])
        assert_that(kvs | MapTuple(lambda k, v, sep: f"{k}{sep}{v}", ":"), equal_to(["a:2", "b:1"]))
        assert_that(kvs | FlatMapTuple(lambda k, n: [k] * n), equal_to(["a", "a", "b"]),
                    label="fmt")


def test_callable_dofn_attributes_and_labels():
    def double(x, a=0, k=0):
        return 2 * x + a + k

    m = Map(double, 1, k=2)
    assert isinstance(m.dofn, CallableDoFn)
    assert (m.dofn.fn, m.dofn.kind, m.dofn.args, m.dofn.kwargs) == (double, "Map", (1,), {"k": 2})
    assert m.default_label() == "Map(double)"
    assert FlatMap(str.split).dofn.kind == "FlatMap"
    assert Filter(bool).dofn.kind == "Filter"
    assert Filter(bool).default_label() == "Filter(bool)"
    assert m.dofn.process(3) == [9]  # falls back to the stored args
    assert m.dofn.process(3, 0, k=0) == [6]  # or takes the ParDo's args
    lam = Map(lambda x: x)
    assert lam.default_label().startswith("Map(<lambda at test_transforms_basic.py:")
    assert Map(lambda x: x + 1).dofn.process(1) == [2]
    assert Filter(lambda x: x > 1).dofn.process(1) == []
    assert list(FlatMap(lambda x: [x, x]).dofn.process(1)) == [1, 1]
    assert MapTuple(lambda a, b: a + b).dofn.kind == "Map"


def test_two_lambdas_on_different_lines_get_different_labels():
    with pipeline() as p:
        nums = p | fl.Create([1])
        a = nums | Map(lambda x: x + 1)
        b = nums | Map(lambda x: x + 2)
        assert_that(a, equal_to([2]), label="a")
        assert_that(b, equal_to([3]), label="b")


def test_map_with_timestamp_param():
    with pipeline() as p:
        pc = p | fl.Create([fl.TimestampedValue("x", 5), fl.TimestampedValue("y", 7.5)])
        out = pc | Map(lambda v, ts=fl.DoFn.TimestampParam: (v, ts.millis))
        assert_that(out, equal_to([("x", 5000), ("y", 7500)]))
        kept = pc | Filter(lambda v, ts=fl.DoFn.TimestampParam: ts > 6)
        assert_that(kept, equal_to(["y"]), label="filter_ts")


def test_map_keeps_timestamps_and_windows():
    with pipeline() as p:
        pc = p | fl.Create([fl.TimestampedValue(1, 1), fl.TimestampedValue(2, 12)])
        windowed = pc | fl.WindowInto(fl.FixedWindows(10))
        out = windowed | Map(lambda x: x * 10) | FlatMap(lambda x: [x, x + 1])
        reified = out | "Reify" >> Map(
            lambda x, ts=fl.DoFn.TimestampParam, w=fl.DoFn.WindowParam: (
                x, ts.millis, w.start_ms, w.end_ms
            )
        )
        assert_that(
            reified,
            equal_to([
                (10, 1000, 0, 10000),
                (11, 1000, 0, 10000),
                (20, 12000, 10000, 20000),
                (21, 12000, 10000, 20000),
            ]),
        )


def test_user_error_carries_element():
    with pytest.raises(UserCodeError) as ei:
        with pipeline() as p:
            _ = p | fl.Create([1, 0]) | Map(lambda x: 1 / x)
    assert "0" in str(ei.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Map(42),
        lambda: FlatMap("nope"),
        lambda: Filter(None),
        lambda: Map(fl.DoFn()),
        lambda: MapTuple(3),
        lambda: KeyBy("k"),
    ],
)
def test_bad_functions_fail_at_construction(make):
    with pytest.raises(PipelineConstructionError):
        make()


# -- keys ----------------------------------------------------------------------------------------


def test_key_helpers():
    with pipeline() as p:
        words = p | fl.Create(["apple", "fig"])
        assert_that(words | WithKeys("k"), equal_to([("k", "apple"), ("k", "fig")]))
        assert_that(words | "WK" >> WithKeys(len), equal_to([(5, "apple"), (3, "fig")]),
                    label="wk_fn")
        keyed = words | KeyBy(lambda w: w[0])
        assert_that(keyed, equal_to([("a", "apple"), ("f", "fig")]), label="keyby")
        assert_that(keyed | Keys(), equal_to(["a", "f"]), label="keys")
        assert_that(keyed | Values(), equal_to(["apple", "fig"]), label="values")
        assert_that(keyed | KvSwap(), equal_to([("apple", "a"), ("fig", "f")]), label="swap")


# -- CoGroupByKey and joins ----------------------------------------------------------------------


def test_cogroupbykey_dict():
    with pipeline() as p:
        emails = p | "E" >> fl.Create([("amy", "a@x"), ("amy", "a@y"), ("carl", "c@x")])
        phones = p | "P" >> fl.Create([("amy", "555"), ("bob", "556")])
        out = {"email": emails, "phone": phones} | CoGroupByKey()
        assert_that(
            out | Map(freeze),
            equal_to([
                freeze(("amy", {"email": ["a@x", "a@y"], "phone": ["555"]})),
                freeze(("bob", {"email": [], "phone": ["556"]})),
                freeze(("carl", {"email": ["c@x"], "phone": []})),
            ]),
        )


def test_cogroupbykey_tuple_gives_tuple_of_lists():
    with pipeline() as p:
        a = p | "A" >> fl.Create([(1, "a")])
        b = p | "B" >> fl.Create([(1, "b"), (2, "c")])
        c = p | "C" >> fl.Create([(2, "d")])
        out = (a, b, c) | CoGroupByKey()
        assert_that(
            out | Map(freeze),
            equal_to([(1, (("a",), ("b",), ())), (2, ((), ("c",), ("d",)))]),
        )


def test_cogroupbykey_is_per_window():
    def tv(k, v, t):
        return fl.TimestampedValue((k, v), t)

    with pipeline() as p:
        a = p | "A" >> fl.Create([tv("k", 1, 1), tv("k", 2, 15)])
        b = p | "B" >> fl.Create([tv("k", "x", 3)])
        wa = a | "WA" >> fl.WindowInto(fl.FixedWindows(10))
        wb = b | "WB" >> fl.WindowInto(fl.FixedWindows(10))
        out = {"a": wa, "b": wb} | CoGroupByKey()
        assert_that(
            out | Map(lambda kv, w=fl.DoFn.WindowParam: (freeze(kv), w.start_ms)),
            equal_to([
                (freeze(("k", {"a": [1], "b": ["x"]})), 0),
                (freeze(("k", {"a": [2], "b": []})), 10000),
            ]),
        )


def test_cogroupbykey_rejects_different_windows():
    p = pipeline()
    a = p | "A" >> fl.Create([(1, 1)]) | "WA" >> fl.WindowInto(fl.FixedWindows(10))
    b = p | "B" >> fl.Create([(1, 1)])
    with pytest.raises(PipelineConstructionError, match="window"):
        _ = (a, b) | CoGroupByKey()


def test_cogroupbykey_rejects_non_pcollections():
    p = pipeline()
    a = p | "A" >> fl.Create([(1, 1)])
    with pytest.raises((PipelineConstructionError, TypeError)):
        _ = {"a": a, "b": [1, 2]} | CoGroupByKey()


def test_joins():
    with pipeline() as p:
        left = p | "L" >> fl.Create([("a", 1), ("a", 2), ("b", 3)])
        right = p | "R" >> fl.Create([("a", "x"), ("c", "y")])
        assert_that((left, right) | InnerJoin(),
                    equal_to([("a", (1, "x")), ("a", (2, "x"))]), label="inner")
        assert_that((left, right) | LeftOuterJoin(),
                    equal_to([("a", (1, "x")), ("a", (2, "x")), ("b", (3, None))]),
                    label="left")
        assert_that((left, right) | RightOuterJoin(),
                    equal_to([("a", (1, "x")), ("a", (2, "x")), ("c", (None, "y"))]),
                    label="right")
        assert_that({"l": left, "r": right} | FullOuterJoin(),
                    equal_to([("a", (1, "x")), ("a", (2, "x")), ("b", (3, None)),
                              ("c", (None, "y"))]),
                    label="full")


def test_join_in_windows():
    def tv(k, v, t):
        return fl.TimestampedValue((k, v), t)

    with pipeline() as p:
        left = p | "L" >> fl.Create([tv("a", 1, 1), tv("a", 2, 11)]) | "WL" >> fl.WindowInto(
            fl.FixedWindows(10))
        right = p | "R" >> fl.Create([tv("a", "x", 2)]) | "WR" >> fl.WindowInto(
            fl.FixedWindows(10))
        assert_that((left, right) | InnerJoin(), equal_to([("a", (1, "x"))]))


def test_join_needs_two_inputs():
    p = pipeline()
    a = p | fl.Create([(1, 1)])
    with pytest.raises(PipelineConstructionError, match="two keyed"):
        _ = (a,) | InnerJoin()
