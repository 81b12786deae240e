"""fluvial: a Beam-style portable stream-processing SDK for Python.

Write a pipeline once; run it with ``--runner direct`` (fluvial's own engine) or ``beam``.
The core transforms sit here, as in Beam's core (``fl.Map``, ``fl.ParDo``, ``fl.GroupByKey``,
...); composites (Count, Top, CoGroupByKey, ...) and IO live in :mod:`fluvial.transforms`.

``__all__`` is the public surface, written out by hand: pipelines, the primitives and Map /
FlatMap / Filter, sources and sinks, element types, time, windows, triggers, state and timers,
watermark strategies, metrics and errors. Everything else is reachable through its own module
(``fluvial.window``, ``fluvial.deadletter``, ...), which is not a promise of stability.

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=[]) as p:
...     assert_that(p | fl.Create([1, 2]) | fl.Map(lambda x: x * 10), equal_to([10, 20]))
"""

from fluvial.columnar import ColumnBatch
from fluvial.combine import CombineFn, CombineGlobally, CombinePerKey
from fluvial.create import Create
from fluvial.deadletter import DeadLetterRecord
from fluvial.dofn import DoFn
from fluvial.elementwise import Filter, FlatMap, FlatMapTuple, Map, MapTuple
from fluvial.errors import (
    CheckpointMismatchError,
    FluvialError,
    PipelineConstructionError,
    RunnerNotFoundError,
    SideInputError,
    UnsupportedFeatureError,
    UserCodeError,
)
from fluvial.flatten import Flatten
from fluvial.gbk import GroupByKey
from fluvial.metrics import Metrics
from fluvial.options import PipelineOptions
from fluvial.pane import PaneInfo, PaneTiming
from fluvial.pardo import ParDo
from fluvial.pipeline import Pipeline
from fluvial.ptransform import PTransform
from fluvial.pvalue import PCollection
from fluvial.reshuffle import Reshuffle
from fluvial.result import PipelineResult, PipelineState
from fluvial.side_inputs import AsDict, AsIter, AsList, AsSingleton, EmptySideInput
from fluvial.sink import Sink, SinkWriter, Write
from fluvial.source import Read, Source, SourceReader
from fluvial.timeutil import Duration, TimeDomain, Timestamp
from fluvial.triggers import (
    AccumulationMode,
    AfterAll,
    AfterAny,
    AfterCount,
    AfterEach,
    AfterProcessingTime,
    AfterWatermark,
    DefaultTrigger,
    Never,
    OrFinally,
    Repeatedly,
    Trigger,
)
from fluvial.userstate import (
    BagStateSpec,
    CombiningStateSpec,
    CombiningValueStateSpec,
    MapStateSpec,
    ReadModifyWriteStateSpec,
    StateTTL,
    TimerSpec,
    ValueStateSpec,
    on_timer,
    on_window_expiration,
)
from fluvial.values import TaggedOutput, TimestampedValue, WindowedValue
from fluvial.watermarks import BoundedOutOfOrderness, Monotonic
from fluvial.window import (
    BoundedWindow,
    FixedWindows,
    GlobalWindow,
    GlobalWindows,
    IntervalWindow,
    Sessions,
    SlidingWindows,
    WindowFn,
)
from fluvial.windowing import TimestampCombiner
from fluvial.windowinto import WindowInto

__version__ = "0.1.0"

__all__ = [
    # pipelines
    "Pipeline",
    "PipelineOptions",
    "PipelineResult",
    "PipelineState",
    "PCollection",
    "PTransform",
    # core transforms
    "Create",
    "Read",
    "Write",
    "ParDo",
    "DoFn",
    "Map",
    "FlatMap",
    "Filter",
    "MapTuple",
    "FlatMapTuple",
    "GroupByKey",
    "CombinePerKey",
    "CombineGlobally",
    "CombineFn",
    "Flatten",
    "WindowInto",
    "Reshuffle",
    # side inputs
    "AsSingleton",
    "AsIter",
    "AsList",
    "AsDict",
    "EmptySideInput",
    # sources and sinks
    "Source",
    "SourceReader",
    "ColumnBatch",
    "Sink",
    "SinkWriter",
    # elements
    "TimestampedValue",
    "TaggedOutput",
    "WindowedValue",
    "PaneInfo",
    "PaneTiming",
    "DeadLetterRecord",
    # time
    "Timestamp",
    "Duration",
    "TimeDomain",
    # windows
    "WindowFn",
    "FixedWindows",
    "SlidingWindows",
    "Sessions",
    "GlobalWindows",
    "BoundedWindow",
    "IntervalWindow",
    "GlobalWindow",
    "TimestampCombiner",
    # triggers
    "Trigger",
    "DefaultTrigger",
    "AfterWatermark",
    "AfterProcessingTime",
    "AfterCount",
    "Repeatedly",
    "AfterEach",
    "AfterAny",
    "AfterAll",
    "OrFinally",
    "Never",
    "AccumulationMode",
    # state and timers
    "ValueStateSpec",
    "ReadModifyWriteStateSpec",
    "BagStateSpec",
    "MapStateSpec",
    "CombiningStateSpec",
    "CombiningValueStateSpec",
    "StateTTL",
    "TimerSpec",
    "on_timer",
    "on_window_expiration",
    # watermark strategies
    "BoundedOutOfOrderness",
    "Monotonic",
    # metrics
    "Metrics",
    # errors
    "FluvialError",
    "PipelineConstructionError",
    "UserCodeError",
    "SideInputError",
    "UnsupportedFeatureError",
    "RunnerNotFoundError",
    "CheckpointMismatchError",
]
