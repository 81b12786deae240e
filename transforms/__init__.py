"""Composite transforms built from fluvial primitives (Beam names and behaviour).

Map, FlatMap, Filter, MapTuple and FlatMapTuple live in the model package (``fl.Map``, as in
Beam's core) and are re-exported here, so ``from fluvial.transforms import Map`` keeps working.

>>> import fluvial as fl
>>> from fluvial.transforms import Count, FlatMap
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     words = p | fl.Create(["to be", "or not to be"]) | FlatMap(str.split)
...     assert_that(words | Count.PerElement(),
...                 equal_to([("to", 2), ("be", 2), ("or", 1), ("not", 1)]))

IO (text, JSON lines, synthetic events) lives in :mod:`fluvial.transforms.io`.
"""

from fluvial.elementwise import (
    Filter,
    FilterDoFn,
    FlatMap,
    FlatMapDoFn,
    FlatMapTuple,
    Map,
    MapDoFn,
    MapTuple,
)
from fluvial.transforms.aggregates import Count, Max, Mean, Min, Sum
from fluvial.transforms.cogbk import CoGroupByKey
from fluvial.transforms.distinct import Distinct
from fluvial.transforms.join import FullOuterJoin, InnerJoin, LeftOuterJoin, RightOuterJoin
from fluvial.transforms.keys import KeyBy, Keys, KvSwap, Values, WithKeys
from fluvial.transforms.to_list import ToList
from fluvial.transforms.top import Top

__all__ = [
    "CoGroupByKey",
    "Count",
    "Distinct",
    "Filter",
    "FilterDoFn",
    "FlatMap",
    "FlatMapDoFn",
    "FlatMapTuple",
    "FullOuterJoin",
    "InnerJoin",
    "KeyBy",
    "Keys",
    "KvSwap",
    "LeftOuterJoin",
    "Map",
    "MapDoFn",
    "MapTuple",
    "Max",
    "Mean",
    "Min",
    "RightOuterJoin",
    "Sum",
    "ToList",
    "Top",
    "Values",
    "WithKeys",
]
