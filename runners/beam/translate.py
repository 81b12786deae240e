"""Translate a fluvial pipeline into an apache_beam pipeline on the shared skeleton
(:mod:`fluvial.runners.common.translator`), in the skeleton's order: ``p.dead_letters()`` after
every producer of dead letters, unfused (Beam fuses).

Create -> beam.Create (+ timestamps), TestStream -> Beam's TestStream, Read(Source) -> Impulse +
a reading DoFn (ReadFromKafka: a splittable DoFn over per-partition offset ranges), ParDo -> a
Beam DoFn (stateful ones with Beam userstate) under its error policy, side inputs -> Beam side
inputs (:mod:`.side_inputs`), WindowInto -> beam.WindowInto (windows, triggers, accumulation,
lateness and timestamp combiner one to one), GroupByKey / CombinePerKey -> Beam's (under an
error policy other than "fail": a checking ParDo, Beam's GroupByKey and a combine element by
element, :mod:`.grouping_policy`), Flatten -> beam.Flatten, Write(Sink) -> a writing DoFn (exactly-once sinks only with
``--beam-sink-guarantee at_least_once``), DeadLetters -> a Flatten of every dead-letter output
in the global window. Composites translated whole: Reshuffle -> Beam's Reshuffle; on the local
Beam runners, assert_that's matching -> recorded and matched after the run (:mod:`.assertions`).
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.transforms.window import TimestampedValue as BeamTimestampedValue
from apache_beam.utils.windowed_value import WindowedValue as BeamWindowedValue

from fluvial.combine import CombinePerKey
from fluvial.errors import UnsupportedFeatureError
from fluvial.reshuffle import Reshuffle
from fluvial.runners.common.translator import Translator
from fluvial.testing.assertions import MatchContents
from fluvial.testing.test_script import (
    ElementEvent,
    EndOfInput,
    ProcessingTimeEvent,
    TestScript,
    WatermarkEvent,
)
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.triggers import DefaultTrigger
from fluvial.values import TimestampedValue
from fluvial.windowing import Windowing

from .assertions import LOCAL_RUNNERS, Check, RecordFn
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
from .side_inputs import beam_args
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
        #: assert_that checks to run after the pipeline (local Beam runners)
        self.checks: list[Check] = []


class BeamTranslator(Translator):
    """Builds the Beam pipeline ``bp``; see the module docstring."""

    runner = RUNNER

    def __init__(self, pipeline: Any, bp: beam.Pipeline, options: Any,
                 runner_name: str = "") -> None:
        natives: dict[type, str] = {Reshuffle: "reshuffle"}
        if runner_name in LOCAL_RUNNERS:
            natives[MatchContents] = "match_contents"
        self.native_composites = natives
        super().__init__(pipeline, options)
        self.bp = bp
        self.runner_name = runner_name
        self.accepted = sink_guarantee(getattr(options, "extra_args", ()))
        self.tr = Translation()

    def translate_step(self, step: Any) -> None:
        self.tr.labels[step.full_label] = step.full_label
        super().translate_step(step)

    def _with_dead_letters(self, pc_in: Any, node: Any, pardo: Any, tags: tuple) -> None:
        """Apply ``pardo`` and register its outputs (and its dead-letter output when the node's
        policy is "dead_letter")."""
        label = node.full_label
        dl = self.graph.policy(node) == "dead_letter"
        if dl:
            tags = (*tags, DLQ_TAG)
        if not tags:
            self.set_output(node, pc_in | label >> pardo)
            return
        res = pc_in | label >> pardo.with_outputs(*tags, main="__main__")
        for tag in node.outputs:
            self.set_output(node, res["__main__"] if tag is None else res[tag], tag)
        if dl:
            self.dead_letter_outputs.append(res[DLQ_TAG])

    # -- sources -------------------------------------------------------------------------------
    def create(self, node: Any) -> None:
        t, label = node.transform, node.full_label
        out = self.bp | label >> beam.Create(t.values, reshuffle=False)
        if any(isinstance(v, TimestampedValue) for v in t.values):
            out = out | f"{label}#ts" >> beam.ParDo(_CreateTimestamps()).with_output_types(Any)
        self.set_output(node, out)

    def test_stream(self, node: Any) -> None:
        self.tr.has_test_stream = True
        self.set_output(node, self.bp | node.full_label >> _test_stream(node.transform.script))

    def read(self, node: Any) -> None:
        t, label, bp = node.transform, node.full_label, self.bp
        if is_kafka_source(t.source):
            check_bounded(t.source, label)
            read_fn = (ReadKafkaRangeFn if self.runner_name in _NO_SDF_RUNNERS
                       else ReadKafkaPartitionFn)
            fn = read_fn(t.source.cfg, t.source.user_label(label), self.options)
            self._with_dead_letters(plan_kafka_read(bp, t.source, label, self.options), node,
                                    beam.ParDo(fn), ())
            return
        if not t.source.is_bounded:
            raise UnsupportedFeatureError(
                RUNNER, label,
                f"unbounded source {t.source.display_name()}: the generic Read runs a reader "
                "to exhaustion inside one DoFn, which only works for bounded sources; use a "
                "bounded source or the direct runner",
            )
        batch = getattr(self.options, "batch_size", 4096)
        self._with_dead_letters(
            bp | f"{label}#impulse" >> beam.Impulse(), node,
            beam.ParDo(ReadSourceFn(t.source, label, self.options, batch)), ())

    def dead_letters(self, node: Any) -> None:
        # every dead-letter output is complete: the skeleton translates this node after them
        label = node.full_label
        if self.dead_letter_outputs:
            glob = [o | f"{label}#global{i}" >> beam.WindowInto(beam.window.GlobalWindows())
                    for i, o in enumerate(self.dead_letter_outputs)]
            self.set_output(node, glob | label >> beam.Flatten())
        else:
            self.set_output(node, self.bp | label >> beam.Create([]))

    # -- element-wise --------------------------------------------------------------------------
    def pardo(self, node: Any) -> None:
        t, label = node.transform, node.full_label
        # downstream of p.dead_letters() the pipeline's --on-error does not apply, and an own
        # on_error="dead_letter" is refused (it would loop): the graph's policy says so
        policy = self.graph.policy(node)
        if t.side_inputs:
            fn = BeamDoFn(t.fn, label, (), {}, policy, side_args=t.side_args)
            args, kwargs = beam_args(t.side_args, [h for _, h in self.side_inputs(node)])
            pardo = beam.ParDo(fn, *args, **kwargs)
        else:
            pardo = beam.ParDo(BeamDoFn(t.fn, label, t.args, t.kwargs, policy))
        self._with_dead_letters(self.input(node), node, pardo, tuple(t.output_tags))

    def stateful_pardo(self, node: Any) -> None:
        t, label = node.transform, node.full_label
        self.tr.has_state = True
        if t.args or t.kwargs:
            raise UnsupportedFeatureError(RUNNER, label, "extra ParDo arguments on a stateful DoFn")
        fn = make_stateful_dofn(t.fn, label, node.inputs[0].windowing.allowed_lateness_ms,
                                self.graph.policy(node), tuple(t.output_tags))
        src = self.input(node) | f"{label}#kv" >> beam.Map(
            lambda kv: (kv[0], kv[1])).with_output_types(beam.typehints.Tuple[Any, Any])
        self._with_dead_letters(src, node, beam.ParDo(fn), tuple(t.output_tags))

    def window_into(self, node: Any) -> None:
        label = node.full_label
        self.set_output(node, self.input(node) | label >> beam.WindowInto(
            **window_into_kwargs(node.transform.windowing, label)))

    def flatten(self, node: Any) -> None:
        ins = [self.handle(pc) for pc in node.inputs]
        self.set_output(node, ins | node.full_label >> beam.Flatten())

    # -- groupings -----------------------------------------------------------------------------
    def group_by_key(self, node: Any) -> None:
        self._grouping(node)

    def combine_per_key(self, node: Any) -> None:
        self._grouping(node)

    def _grouping(self, node: Any) -> None:
        t, label = node.transform, node.full_label
        if t.late_output:
            raise UnsupportedFeatureError(
                RUNNER, label,
                f"with_late_output(): {LATE_OUTPUT}; remove with_late_output() or use the "
                "direct runner",
            )
        w = node.inputs[0].windowing
        closing = closes_at_end_of_window(w)
        combine = isinstance(t, CombinePerKey)
        policy = self.graph.policy(node)
        if policy != "fail":  # bad elements and CombineFn failures go to the policy
            self.set_output(node, guarded_grouping(
                self.input(node), label, t.combine_fn if combine else None, policy,
                _needs_last_fix(w), closing, self.dead_letter_outputs))
            return
        if not combine or closing:
            # with the added end-of-window trigger, empty final panes are dropped, which
            # needs the grouped values: combine them after the GroupByKey
            grouped = self.input(node) | label >> beam.GroupByKey()
            after = _AfterGrouping(_needs_last_fix(w), closing, t.combine_fn if combine else None)
            self.set_output(node, grouped | f"{label}#panes" >> beam.ParDo(after))
        else:
            grouped = self.input(node) | label >> beam.CombinePerKey(
                _BeamCombineFn(t.combine_fn, label))
            if _needs_last_fix(w):
                grouped = grouped | f"{label}#panes" >> beam.ParDo(_FixLast())
            self.set_output(node, grouped)

    # -- sinks ---------------------------------------------------------------------------------
    def write(self, node: Any) -> None:
        t, label = node.transform, node.full_label
        check_sink(t.sink, label, self.accepted)
        # a sink with its own on_error="dead_letter" (WriteToKafka) hands the elements it
        # cannot write to its context; unless the write is fed by p.dead_letters() (its
        # failures cannot go there), they become this ParDo's dead-letter output
        dl = (getattr(t.sink, "on_error", None) == "dead_letter"
              and not self.graph.is_downstream_of_dead_letters(node))
        fn = WriteSinkFn(t.sink, label, self.options, dead_letters=dl)
        if not dl:
            self.input(node) | label >> beam.ParDo(fn)
            return
        res = self.input(node) | label >> beam.ParDo(fn).with_outputs(DLQ_TAG, main="__main__")
        self.dead_letter_outputs.append(res[DLQ_TAG])

    # -- composites translated whole -------------------------------------------------------------
    def reshuffle(self, node: Any) -> None:
        self.set_output(node, self.input(node) | node.full_label >> beam.Reshuffle())

    def match_contents(self, node: Any) -> None:
        check = Check(node.full_label, node.transform.matcher)
        self.tr.checks.append(check)
        self.input(node) | node.full_label >> beam.ParDo(RecordFn(check.directory))


def translate(pipeline: Any, bp: beam.Pipeline, options: Any, runner_name: str = "") -> Translation:
    """Build ``pipeline`` into the Beam pipeline ``bp``; what the runner needs to know."""
    return BeamTranslator(pipeline, bp, options, runner_name).translate().tr
