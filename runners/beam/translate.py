"""Translate a fluvial pipeline's primitives into an apache_beam pipeline.

Create -> beam.Create (+ timestamps), TestStream -> Beam's TestStream, Read(Source) -> Impulse +
a reading DoFn (ReadFromKafka: a splittable DoFn over per-partition offset ranges), ParDo -> a
Beam DoFn (stateful ones with Beam userstate) under its error policy, WindowInto ->
beam.WindowInto (windows, triggers, accumulation, lateness and timestamp combiner one to one),
GroupByKey / CombinePerKey -> Beam's (under an error policy other than "fail": a checking
ParDo, Beam's GroupByKey and a combine element by element, :mod:`.grouping_policy`), Flatten ->
beam.Flatten, Write(Sink) -> a writing DoFn
(exactly-once sinks only with ``--beam-sink-guarantee at_least_once``), DeadLetters -> a
Flatten of every dead-letter output in the global window.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.transforms.window import TimestampedValue as BeamTimestampedValue
from apache_beam.utils.windowed_value import WindowedValue as BeamWindowedValue

from fluvial.combine import CombinePerKey
from fluvial.create import Create
from fluvial.deadletter import (
    DeadLetters,
    check_dead_letter_consumer,
    dead_letters_node,
    effective_policy,
    node_policy,
)
from fluvial.errors import UnsupportedFeatureError
from fluvial.flatten import Flatten
from fluvial.gbk import GroupByKey
from fluvial.pardo import ParDo
from fluvial.sink import Write
from fluvial.source import Read
from fluvial.testing.test_script import (
    ElementEvent,
    EndOfInput,
    ProcessingTimeEvent,
    TestScript,
    WatermarkEvent,
)
from fluvial.testing.test_stream import TestStream
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.triggers import DefaultTrigger
from fluvial.values import TimestampedValue
from fluvial.windowing import Windowing
from fluvial.windowinto import WindowInto

from .capabilities import LATE_OUTPUT
from .convert import (
    RUNNER,
    closes_at_end_of_window,
    to_beam_duration,
    to_beam_ts,
    window_into_kwargs,
)
from .deadletters import DLQ_TAG
from .dofns import BeamDoFn
from .grouping_policy import guarded_grouping
from .guarantees import check_sink, sink_guarantee
from .io import ReadSourceFn, WriteSinkFn
from .kafka import (
    ReadKafkaPartitionFn,
    ReadKafkaRangeFn,
    check_bounded,
    is_kafka_source,
    plan_kafka_read,
)
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


def _test_stream(script: TestScript) -> Any:
    """Beam's TestStream playing ``script`` (the contract: fluvial.testing.test_script)."""
    ts = BeamTestStream()
    watermark = MIN_TIMESTAMP_MS
    for step in script.steps:
        if isinstance(step, ElementEvent):
            # one Beam event per element: fluvial evaluates triggers after every element
            for v, ms in step.elements:
                ts = ts.add_elements([BeamTimestampedValue(v, to_beam_ts(ms))])
        elif isinstance(step, WatermarkEvent):
            if step.watermark_ms == watermark:
                continue  # no change; Beam's TestStream wants every watermark step to advance
            watermark = step.watermark_ms
            if step.is_infinity:
                ts = ts.advance_watermark_to_infinity()
            else:
                ts = ts.advance_watermark_to(to_beam_ts(step.watermark_ms))
        elif isinstance(step, ProcessingTimeEvent):
            ts = ts.advance_processing_time(to_beam_duration(step.advance_ms))
        elif isinstance(step, EndOfInput) and watermark < MAX_TIMESTAMP_MS:
            ts = ts.advance_watermark_to_infinity()
    return ts


# Beam runners whose splittable-DoFn support cannot run the Kafka read (see ReadKafkaRangeFn)
_NO_SDF_RUNNERS = ("BundleBasedDirectRunner", "DirectRunner")


class Translation:
    """The Beam pipeline built from a fluvial pipeline, and facts the runner needs."""

    def __init__(self) -> None:
        self.has_test_stream = False
        self.has_state = False
        self.labels: dict[str, str] = {}


def _order(pipeline: Any) -> tuple[list, set[int]]:
    """The primitives in an order where ``p.dead_letters()`` comes after every other node it
    does not feed (its inputs are the dead-letter outputs of those nodes), and the ids of the
    nodes downstream of it."""
    nodes = list(pipeline.primitives())
    dl = dead_letters_node(pipeline)
    if dl is None:
        return nodes, set()
    down = {id(dl)}
    made = {id(pc) for pc in dl.outputs.values()}
    for n in nodes:
        if any(id(pc) in made for pc in n.inputs):
            down.add(id(n))
            made.update(id(pc) for pc in n.outputs.values())
    return [n for n in nodes if id(n) not in down] + [n for n in nodes if id(n) in down], down


def _with_dead_letters(pc_in: Any, label: str, pardo: Any, tags: tuple, dl: bool, node: Any,
                       pcs: dict, dl_outputs: list) -> None:
    """Apply ``pardo`` and register its outputs (and its dead-letter output when ``dl``)."""
    if dl:
        tags = (*tags, DLQ_TAG)
    if not tags:
        pcs[id(node.outputs[None])] = pc_in | label >> pardo
        return
    res = pc_in | label >> pardo.with_outputs(*tags, main="__main__")
    for tag, pc in node.outputs.items():
        pcs[id(pc)] = res["__main__"] if tag is None else res[tag]
    if dl:
        dl_outputs.append(res[DLQ_TAG])


def translate(pipeline: Any, bp: beam.Pipeline, options: Any, runner_name: str = "") -> Translation:
    tr = Translation()
    pcs: dict[int, Any] = {}
    check_dead_letter_consumer(pipeline, options)
    accepted = sink_guarantee(getattr(options, "extra_args", ()))
    nodes, after_dlq = _order(pipeline)
    dl_outputs: list[Any] = []

    def inp(node: Any, i: int = 0) -> Any:
        return pcs[id(node.inputs[i])]

    for node in nodes:
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
            pcs[id(node.outputs[None])] = bp | label >> _test_stream(t.script)
        elif isinstance(t, Read):
            policy = effective_policy(getattr(t.source, "on_error", None), options)
            dl = policy == "dead_letter"
            if is_kafka_source(t.source):
                check_bounded(t.source, label)
                read_fn = (ReadKafkaRangeFn if runner_name in _NO_SDF_RUNNERS
                           else ReadKafkaPartitionFn)
                fn = read_fn(t.source.cfg, label, options)
                _with_dead_letters(plan_kafka_read(bp, t.source, label), label,
                                   beam.ParDo(fn), (), dl, node, pcs, dl_outputs)
                continue
            if not t.source.is_bounded:
                raise UnsupportedFeatureError(
                    RUNNER, label,
                    f"unbounded source {t.source.display_name()}: the generic Read runs a reader "
                    "to exhaustion inside one DoFn, which only works for bounded sources; use a "
                    "bounded source or the direct runner",
                )
            batch = getattr(options, "batch_size", 4096)
            _with_dead_letters(
                bp | f"{label}#impulse" >> beam.Impulse(), label,
                beam.ParDo(ReadSourceFn(t.source, label, options, batch)), (), dl, node, pcs,
                dl_outputs)
        elif isinstance(t, ParDo):
            pc_in = node.inputs[0]
            sig = t.signature
            src = inp(node)
            # downstream of p.dead_letters(): the pipeline's --on-error does not apply, and an
            # own on_error="dead_letter" is refused (it would loop), as on the direct runner
            policy = node_policy(t.on_error, options, label, id(node) in after_dlq)
            if sig.is_stateful:
                tr.has_state = True
                if t.args or t.kwargs:
                    raise UnsupportedFeatureError(
                        RUNNER, label, "extra ParDo arguments on a stateful DoFn")
                fn = make_stateful_dofn(t.fn, label, pc_in.windowing.allowed_lateness_ms, policy,
                                        tuple(t.output_tags))
                src = src | f"{label}#kv" >> beam.Map(lambda kv: (kv[0], kv[1])).with_output_types(
                    beam.typehints.Tuple[Any, Any])
            else:
                fn = BeamDoFn(t.fn, label, t.args, t.kwargs, policy)
            _with_dead_letters(src, label, beam.ParDo(fn), tuple(t.output_tags),
                               policy == "dead_letter", node, pcs, dl_outputs)
        elif isinstance(t, DeadLetters):
            # every dead-letter output is complete: the other nodes were translated first
            if dl_outputs:
                glob = [o | f"{label}#global{i}" >> beam.WindowInto(beam.window.GlobalWindows())
                        for i, o in enumerate(dl_outputs)]
                pcs[id(node.outputs[None])] = glob | label >> beam.Flatten()
            else:
                pcs[id(node.outputs[None])] = bp | label >> beam.Create([])
        elif isinstance(t, WindowInto):
            pcs[id(node.outputs[None])] = inp(node) | label >> beam.WindowInto(
                **window_into_kwargs(t.windowing, label))
        elif isinstance(t, (GroupByKey, CombinePerKey)):
            if t.late_output:
                raise UnsupportedFeatureError(
                    RUNNER, label,
                    f"with_late_output(): {LATE_OUTPUT}; remove with_late_output() or use the "
                    "direct runner",
                )
            w = node.inputs[0].windowing
            closing = closes_at_end_of_window(w)
            policy = node_policy(t.on_error, options, label, id(node) in after_dlq)
            if policy != "fail":  # bad elements and CombineFn failures go to the policy
                fn = None if isinstance(t, GroupByKey) else t.combine_fn
                pcs[id(node.outputs[None])] = guarded_grouping(
                    inp(node), label, fn, policy, _needs_last_fix(w), closing, dl_outputs)
                continue
            if isinstance(t, GroupByKey) or closing:
                # with the added end-of-window trigger, empty final panes are dropped, which
                # needs the grouped values: combine them after the GroupByKey
                grouped = inp(node) | label >> beam.GroupByKey()
                fn = None if isinstance(t, GroupByKey) else t.combine_fn
                after = _AfterGrouping(_needs_last_fix(w), closing, fn)
                pcs[id(node.outputs[None])] = grouped | f"{label}#panes" >> beam.ParDo(after)
            else:
                grouped = inp(node) | label >> beam.CombinePerKey(_BeamCombineFn(t.combine_fn, label))
                if _needs_last_fix(w):
                    grouped = grouped | f"{label}#panes" >> beam.ParDo(_FixLast())
                pcs[id(node.outputs[None])] = grouped
        elif isinstance(t, Flatten):
            pcs[id(node.outputs[None])] = [pcs[id(pc)] for pc in node.inputs] | label >> beam.Flatten()
        elif isinstance(t, Write):
            check_sink(t.sink, label, accepted)
            inp(node) | label >> beam.ParDo(WriteSinkFn(t.sink, label, options))
        else:
            raise UnsupportedFeatureError(
                RUNNER, label, f"primitive {type(t).__name__} has no Beam translation")
    return tr
