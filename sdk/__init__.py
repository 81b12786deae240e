"""fluvial: a Beam-style portable stream-processing SDK for Python.

Write a pipeline once; run it with ``--runner direct`` (fluvial's own engine), ``flink`` or
``beam``. Composites (Map, Count, ...) live in :mod:`fluvial.transforms`.

>>> import fluvial as fl
>>> from fluvial.transforms import Map
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=[]) as p:
...     assert_that(p | fl.Create([1, 2]) | Map(lambda x: x * 10), equal_to([10, 20]))
"""

from fluvial.columnar import ColumnBatch
from fluvial.combine import CallableCombineFn, CombineFn, CombineGlobally, CombinePerKey
from fluvial.create import Create
from fluvial.dofn import DoFn
from fluvial.errors import (
    CheckpointMismatchError,
    FluvialError,
    PipelineConstructionError,
    RunnerNotFoundError,
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
from fluvial.result import PipelineResult, PipelineState
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

__all__ = [name for name in dir() if not name.startswith("_")]
