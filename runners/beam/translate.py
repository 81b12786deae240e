"""Translate a fluvial pipeline's primitives into an apache_beam pipeline.

Create -> beam.Create (+ timestamps), TestStream -> Beam's TestStream, Read(Source) -> Impulse +
a reading DoFn, ParDo -> a Beam DoFn (stateful ones with Beam userstate), WindowInto ->
beam.WindowInto (windows, triggers, accumulation, lateness and timestamp combiner one to one),
GroupByKey / CombinePerKey -> Beam's, Flatten -> beam.Flatten, Write(Sink) -> a writing DoFn.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.transforms.window import TimestampedValue as BeamTimestampedValue
from apache_beam.utils.windowed_value import WindowedValue as BeamWindowedValue

from fluvial.combine import CombinePerKey
from fluvial.create import Create
from fluvial.errors import UnsupportedFeatureError
from fluvial.flatten import Flatten
from fluvial.gbk import GroupByKey
from fluvial.pardo import ParDo
from fluvial.sink import Write
from fluvial.source import Read
from fluvial.testing.test_stream import (
    ElementEvent,
    ProcessingTimeEvent,
    TestStream,
    WatermarkEvent,
)
from fluvial.timeutil import MAX_TIMESTAMP_MS
from fluvial.triggers import DefaultTrigger
from fluvial.values import TimestampedValue
from fluvial.windowing import Windowing
from fluvial.windowinto import WindowInto

from .convert import (
    RUNNER,
    closes_at_end_of_window,
    to_beam_duration,
    to_beam_ts,
    window_into_kwargs,
)
from .dofns import BeamDoFn
from .io import ReadSourceFn, WriteSinkFn
from .stateful import _BeamCombineFn, make_stateful_dofn


class _CreateTimestamps(beam.DoFn):
    def process(self, x):
        if isinstance(x, TimestampedValue):
            yield BeamTimestampedValue(x.value, to_beam_ts(x.timestamp_ms))
        else:
            yield x


class _AfterGrouping(beam.DoFn):
    """Grouped values as lists; the pane's is_last set where the trigger structure determines
    it and Beam Python leaves it unset (an ON_TIME pane of the default trigger with no allowed
    lateness is the window's last: nothing can arrive after it)."""

    def __init__(self, fix_on_time_last: bool, drop_empty: bool, combine_fn: Any) -> None:
        self.fix = fix_on_time_last
        self.drop_empty = drop_empty
        self.combine_fn = combine_fn

    def process(self, kv, ts=beam.DoFn.TimestampParam, w=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam):
        values = list(kv[1])
        if self.drop_empty and not values:
            return
        if self.combine_fn is not None:
            values = self.combine_fn.apply(values)
        kv = (kv[0], values)
        if self.fix and pane is not None and not pane.is_last and pane.timing == 1:
            from apache_beam.utils.windowed_value import PaneInfo

            p = PaneInfo(pane.is_first, True, pane.timing, pane.index, pane.nonspeculative_index)
            yield BeamWindowedValue(kv, ts, [w], p)
        else:
            yield kv


class _FixLast(_AfterGrouping):
    def __init__(self) -> None:
        super().__init__(True, False, None)

    def process(self, kv, ts=beam.DoFn.TimestampParam, w=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam):
        if pane is not None and not pane.is_last and pane.timing == 1:
            from apache_beam.utils.windowed_value import PaneInfo

            p = PaneInfo(pane.is_first, True, pane.timing, pane.index, pane.nonspeculative_index)
            yield BeamWindowedValue(kv, ts, [w], p)
        else:
            yield kv


def _needs_last_fix(w: Windowing) -> bool:
    return isinstance(w.trigger, DefaultTrigger) and w.allowed_lateness_ms == 0


def _test_stream(t: TestStream) -> Any:
    ts = BeamTestStream()
    for ev in t.events:
        if isinstance(ev, ElementEvent):
            # one Beam event per element: fluvial evaluates triggers after every element
            for v, ms in ev.elements:
                ts = ts.add_elements([BeamTimestampedValue(v, to_beam_ts(ms))])
        elif isinstance(ev, WatermarkEvent):
            if ev.watermark_ms >= MAX_TIMESTAMP_MS:
                ts = ts.advance_watermark_to_infinity()
            else:
                ts = ts.advance_watermark_to(to_beam_ts(ev.watermark_ms))
        elif isinstance(ev, ProcessingTimeEvent):
            ts = ts.advance_processing_time(to_beam_duration(ev.advance_ms))
    return ts


class Translation:
    """The Beam pipeline built from a fluvial pipeline, and facts the runner needs."""

    def __init__(self) -> None:
        self.has_test_stream = False
        self.has_state = False
        self.labels: dict[str, str] = {}


def translate(pipeline: Any, bp: beam.Pipeline, options: Any, runner_name: str = "") -> Translation:
    tr = Translation()
    pcs: dict[int, Any] = {}

    def inp(node: Any, i: int = 0) -> Any:
        return pcs[id(node.inputs[i])]

    for node in pipeline.primitives():
        t = node.transform
        label = node.full_label
        tr.labels[label] = label
        if isinstance(t, Create):
            out = bp | label >> beam.Create(t.values, reshuffle=False)
            if any(isinstance(v, TimestampedValue) for v in t.values):
                out = out | f"{label}#ts" >> beam.ParDo(_CreateTimestamps()).with_output_types(Any)
            pcs[id(node.outputs[None])] = out
        elif isinstance(t, TestStream):
            tr.has_test_stream = True
            pcs[id(node.outputs[None])] = bp | label >> _test_stream(t)
        elif isinstance(t, Read):
            if not t.source.is_bounded:
                raise UnsupportedFeatureError(
                    RUNNER, label,
                    f"unbounded source {t.source.display_name()}: the generic Read runs a reader "
                    "to exhaustion inside one DoFn, which only works for bounded sources; use a "
                    "bounded source or the direct runner",
                )
            batch = getattr(options, "batch_size", 4096)
            pcs[id(node.outputs[None])] = (
                bp | f"{label}#impulse" >> beam.Impulse()
                | label >> beam.ParDo(ReadSourceFn(t.source, label, options, batch))
            )
        elif isinstance(t, ParDo):
            pc_in = node.inputs[0]
            sig = t.signature
            src = inp(node)
            if sig.is_stateful:
                tr.has_state = True
                if t.args or t.kwargs:
                    raise UnsupportedFeatureError(
                        RUNNER, label, "extra ParDo arguments on a stateful DoFn")
                fn = make_stateful_dofn(t.fn, label, pc_in.windowing.allowed_lateness_ms)
                src = src | f"{label}#kv" >> beam.Map(lambda kv: (kv[0], kv[1])).with_output_types(
                    beam.typehints.Tuple[Any, Any])
            else:
                fn = BeamDoFn(t.fn, label, t.args, t.kwargs)
            pardo = beam.ParDo(fn)
            if t.output_tags:
                res = src | label >> pardo.with_outputs(*t.output_tags, main="__main__")
                for tag, pc in node.outputs.items():
                    pcs[id(pc)] = res["__main__"] if tag is None else res[tag]
            else:
                pcs[id(node.outputs[None])] = src | label >> pardo
        elif isinstance(t, WindowInto):
            pcs[id(node.outputs[None])] = inp(node) | label >> beam.WindowInto(
                **window_into_kwargs(t.windowing, label))
        elif isinstance(t, (GroupByKey, CombinePerKey)):
            if t.late_output:
                raise UnsupportedFeatureError(
                    RUNNER, label,
                    "with_late_output(): Beam's GroupByKey drops late elements inside its trigger "
                    "driver and exposes neither the dropped elements nor a hook to route them; "
                    "remove with_late_output() or use the direct runner",
                )
            w = node.inputs[0].windowing
            closing = closes_at_end_of_window(w)
            if isinstance(t, GroupByKey) or closing:
                # with the added end-of-window trigger, empty final panes are dropped, which
                # needs the grouped values: combine them after the GroupByKey
                grouped = inp(node) | label >> beam.GroupByKey()
                fn = None if isinstance(t, GroupByKey) else t.combine_fn
                after = _AfterGrouping(_needs_last_fix(w), closing, fn)
                pcs[id(node.outputs[None])] = grouped | f"{label}#panes" >> beam.ParDo(after)
            else:
                grouped = inp(node) | label >> beam.CombinePerKey(_BeamCombineFn(t.combine_fn))
                if _needs_last_fix(w):
                    grouped = grouped | f"{label}#panes" >> beam.ParDo(_FixLast())
                pcs[id(node.outputs[None])] = grouped
        elif isinstance(t, Flatten):
            pcs[id(node.outputs[None])] = [pcs[id(pc)] for pc in node.inputs] | label >> beam.Flatten()
        elif isinstance(t, Write):
            inp(node) | label >> beam.ParDo(WriteSinkFn(t.sink, label, options))
        else:
            raise UnsupportedFeatureError(
                RUNNER, label, f"primitive {type(t).__name__} has no Beam translation")
    return tr
