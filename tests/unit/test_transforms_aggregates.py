"""Count, Sum, Mean, Min, Max, Top, Distinct and ToList on the direct runner."""

from __future__ import annotations

import math

import pytest

import fluvial as fl
from fluvial.errors import PipelineConstructionError
from fluvial.testing import assert_that, equal_to
from fluvial.transforms import Count, Distinct, Map, Max, Mean, Min, Sum, ToList, Top

KVS = [("a", 1), ("a", 2), ("b", 5), ("a", 6), ("b", -1)]


def pipeline() -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "direct"])


def windowed(p, label, items):
    """``items``: (value, seconds) → a PCollection in 10-second fixed windows."""
    pc = p | f"Create{label}" >> fl.Create([fl.TimestampedValue(v, t) for v, t in items])
    return pc | f"Window{label}" >> fl.WindowInto(fl.FixedWindows(10))


def with_window(label):
    return label >> Map(lambda x, w=fl.DoFn.WindowParam: (x, w.start_ms // 1000))


def test_count():
    with pipeline() as p:
        kvs = p | fl.Create(KVS)
        assert_that(kvs | Count.Globally(), equal_to([5]))
        assert_that(kvs | Count.PerKey(), equal_to([("a", 3), ("b", 2)]), label="perkey")
        words = p | "W" >> fl.Create(["x", "y", "x", "x"])
        assert_that(words | Count.PerElement(), equal_to([("x", 3), ("y", 1)]), label="perel")


def test_sum_mean_min_max_per_key():
    with pipeline() as p:
        kvs = p | fl.Create(KVS)
        assert_that(kvs | Sum.PerKey(), equal_to([("a", 9), ("b", 4)]), label="sum")
        assert_that(kvs | Mean.PerKey(), equal_to([("a", 3.0), ("b", 2.0)]), label="mean")
        assert_that(kvs | Min.PerKey(), equal_to([("a", 1), ("b", -1)]), label="min")
        assert_that(kvs | Max.PerKey(), equal_to([("a", 6), ("b", 5)]), label="max")


def test_globally():
    with pipeline() as p:
        nums = p | fl.Create([4, 1.5, 7, 2])
        assert_that(nums | Sum.Globally(), equal_to([14.5]), label="sum")
        assert_that(nums | Mean.Globally(), equal_to([3.625]), label="mean")
        assert_that(nums | Min.Globally(), equal_to([1.5]), label="min")
        assert_that(nums | Max.Globally(), equal_to([7]), label="max")


def test_globally_on_empty_input_gives_defaults():
    def is_nan(xs):
        assert len(xs) == 1 and math.isnan(xs[0]), xs

    with pipeline() as p:
        empty = p | fl.Create([])
        assert_that(empty | Count.Globally(), equal_to([0]), label="count")
        assert_that(empty | Sum.Globally(), equal_to([0]), label="sum")
        assert_that(empty | Mean.Globally(), is_nan, label="mean")
        assert_that(empty | Min.Globally(), equal_to([None]), label="min")
        assert_that(empty | Max.Globally(), equal_to([None]), label="max")
        assert_that(empty | Top.Of(2), equal_to([[]]), label="top")
        assert_that(empty | ToList.Globally(), equal_to([[]]), label="tolist")
        assert_that(empty | "NoDefault" >> Count.Globally().without_defaults(), equal_to([]),
                    label="nodefault")


def test_windowed_aggregates():
    with pipeline() as p:
        kvs = windowed(p, "kv", [(("a", 1), 1), (("a", 2), 9), (("a", 4), 12), (("b", 7), 15)])
        assert_that(kvs | Sum.PerKey() | with_window("W1"),
                    equal_to([(("a", 3), 0), (("a", 4), 10), (("b", 7), 10)]), label="sum")
        assert_that(kvs | Count.Globally() | with_window("W2"),
                    equal_to([(2, 0), (2, 10)]), label="count")
        assert_that(kvs | Max.PerKey() | with_window("W3"),
                    equal_to([(("a", 2), 0), (("a", 4), 10), (("b", 7), 10)]), label="max")


def tup(kv):
    return (kv[0], tuple(kv[1]))


def test_top():
    with pipeline() as p:
        nums = p | fl.Create([5, 1, 4, 2, 3])
        assert_that(nums | Top.Of(3), equal_to([[5, 4, 3]]), label="of")
        assert_that(nums | Top.Largest(2), equal_to([[5, 4]]), label="largest")
        assert_that(nums | Top.Smallest(2), equal_to([[1, 2]]), label="smallest")
        assert_that(nums | "OfKey" >> Top.Of(2, key=lambda x: -x), equal_to([[1, 2]]),
                    label="key")
        assert_that(nums | "OfRev" >> Top.Of(2, reverse=True), equal_to([[1, 2]]), label="rev")
        assert_that(nums | "Many" >> Top.Of(10), equal_to([[5, 4, 3, 2, 1]]), label="many")
        kvs = p | "KV" >> fl.Create(KVS)
        # equal_to cannot hash lists nested in tuples (sdk limitation): compare as tuples
        assert_that(kvs | Top.PerKey(2) | "T1" >> Map(tup),
                    equal_to([("a", (6, 2)), ("b", (5, -1))]), label="perkey")
        assert_that(kvs | Top.SmallestPerKey(1) | "T2" >> Map(tup),
                    equal_to([("a", (1,)), ("b", (-1,))]), label="smallestperkey")
        assert_that(kvs | Top.LargestPerKey(1) | "T3" >> Map(tup),
                    equal_to([("a", (6,)), ("b", (5,))]), label="largestperkey")


def test_top_many_elements():
    with pipeline() as p:
        nums = p | fl.Create(list(range(1000)))
        assert_that(nums | Top.Largest(3), equal_to([[999, 998, 997]]))


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_top_rejects_bad_n(n):
    with pytest.raises(PipelineConstructionError):
        Top.Of(n)


def test_distinct_is_per_window():
    with pipeline() as p:
        plain = p | fl.Create([1, 2, 1, 3, 2, 1])
        assert_that(plain | Distinct(), equal_to([1, 2, 3]), label="plain")
        pc = windowed(p, "d", [("x", 1), ("x", 2), ("y", 3), ("x", 11)])
        assert_that(pc | "D2" >> Distinct() | with_window("W"),
                    equal_to([("x", 0), ("y", 0), ("x", 10)]), label="windowed")


def test_to_list():
    with pipeline() as p:
        nums = p | fl.Create([3, 1, 2])
        assert_that(nums | ToList.Globally() | Map(sorted), equal_to([[1, 2, 3]]))
        kvs = p | "KV" >> fl.Create(KVS)
        assert_that(
            kvs | ToList.PerKey() | "Sort" >> Map(lambda kv: (kv[0], sorted(kv[1]))),
            _sorted_lists_ok,  # equal_to cannot hash lists inside tuples (sdk limitation)
            label="perkey",
        )


def _sorted_lists_ok(xs):
    assert sorted(xs) == [("a", [1, 2, 6]), ("b", [-1, 5])], xs


def test_labels():
    assert Count.PerKey().default_label() == "Count.PerKey"
    assert Sum.Globally().default_label() == "Sum.Globally"
    assert Top.Largest(3).default_label() == "Top.Largest(3)"
    assert Top.PerKey(2).default_label() == "Top.PerKey(2)"
