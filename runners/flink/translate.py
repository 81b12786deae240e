"""Translate a fluvial pipeline's primitives into a PyFlink DataStream job, on the shared
skeleton (:mod:`fluvial.runners.common.translator`): the skeleton walks the graph, orders
``p.dead_letters()`` after every producer of dead letters, computes each transform's error
policy and runs the fusion passes; :class:`FlinkTranslator` writes one method per primitive
kind. Each translated PCollection is a :class:`~.streams.Stream`, or an output of a fused
stateless operator not built yet (:mod:`.streams`).

* ``Create`` -> a collection source of wire records (timestamps from ``TimestampedValue``); a
  checkpointed Flink source (``fromData``), so a resumed job does not replay it.
* ``TestStream`` -> a collection source of script records (parallelism 1) -> fluvial's
  punctuated ``ScriptedWatermarkStrategy`` -> ``ScriptMarkerFilter`` (Java, parallelism 1): the
  watermark moves exactly at the script's steps, never periodically; processing-time steps
  travel as clock records (:class:`~.records.ClockTick`). A pipeline with a TestStream runs with
  parallelism 1, so its output is the same on every run.
* ``Read(Source)`` (bounded) -> one impulse record -> a Python function that opens the source's
  reader and polls it to exhaustion (PyFlink has no Python source API), emitting a script
  stream with the source's watermark (or its ``watermark_strategy``'s) -> the same Java
  watermark operators.
* ``ParDo`` (stateless) and ``WindowInto`` -> stages of one Python operator: the skeleton's
  ``fuse_pardo_chains`` pass (with WindowInto as a member) fuses a chain when each link's
  output feeds only the next link (only the last link may have tagged outputs). Tagged outputs
  and dead letters leave through Flink side outputs (``OutputTag``).
* ``Flatten`` -> ``union``; ``p.dead_letters()`` -> the union of every dead-letter side output
  (the skeleton translates it after all of them).
* ``ReadFromKafka`` -> Flink's KafkaSource -> Python decoding -> fluvial's Java per-partition
  watermarks; ``WriteToKafka`` -> Python encoding -> Flink's KafkaSink (see :mod:`.kafka`).
* ``Write(Sink)`` -> fluvial's Java ``CheckpointMarkers`` -> a Python function (parallelism 1)
  running the sink's two-phase commit on Flink's checkpoints (see :mod:`.write`,
  :mod:`.committing` and :mod:`.guarantees`).
* ``GroupByKey``, ``CombinePerKey`` and stateful ``ParDo`` -> keyed operators: the stateless
  chain in front of them (or a chain of no stages) emits keyed rows ``Row(key, record)``
  (:mod:`.records`), Java's ``keyBy`` partitions on the key, and a Python
  ``KeyedProcessFunction`` runs the sdk's window driver or stateful driver over Flink keyed
  state and timers (:mod:`.keyed`). After a grouping, ``fluvial.flink.GroupHolds`` (Java, on
  the same keys: the stream reinterpreted as keyed) holds the watermark at the earliest
  watermark hold of its keys, which the grouping reports (:mod:`.window_state`). When a
  TestStream advances processing time,
  ``fluvial.flink.ClockFanOut`` (Java, parallelism 1) in front of each keyBy carries every
  clock advance to every key seen. Late data (``with_late_output``) and tagged outputs leave
  through side outputs.
* ``WindowInto(FixedWindows | SlidingWindows)`` feeding only a ``CombinePerKey`` of a built-in
  combiner (default trigger, no lateness, end-of-window timestamps, error policy "fail") -> the
  Java combine path (:mod:`.combine_java`), selected by the skeleton's
  ``fuse_windowed_combines`` pass: the chain in front encodes batches, Java assigns windows and
  combines, results come back in batches that the next Python operator decodes. Off with
  ``--flink-java-combine off``.
* ``ParDo`` with side inputs -> every input tagged by ``fluvial.flink.SideInputTag`` (Java: its
  watermarks as records), side inputs broadcast, one Python operator over the union
  (:mod:`.side_inputs`), then ``fluvial.flink.HoldWatermark`` holding the watermark for the
  main elements that wait for their side windows.
* A Python operator's side output that nothing reads is not declared (Flink leaves such a side
  output out of the job, and the function's ``(tag, record)`` outputs would reach its main
  output): the functions drop outputs whose tag is None.
"""

from __future__ import annotations

import itertools
from typing import Any

from fluvial.combine import CombinePerKey
from fluvial.errors import UnsupportedFeatureError
from fluvial.runners.common.fusion import (
    ParDoChain,
    WindowedCombine,
    fuse_pardo_chains,
    fuse_windowed_combines,
)
from fluvial.runners.common.translator import Translator
from fluvial.testing.test_stream import (
    ElementEvent,
    ProcessingTimeEvent,
    TestStream,
    WatermarkEvent,
)
from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.values import TimestampedValue
from fluvial.windowinto import WindowInto

from .boot import boot
from .checkpointing import CheckpointSettings
from .combine_java import Feeder, ResultDecoder, java_kind, window_params
from .functions import ChainFunction, ReadFunction
from .keyed import GroupFunction, StatefulFunction
from .records import script_clock, script_element, script_watermark
from .side_inputs import SideInputFunction
from .stages import ErrorPolicy, ParDoStage, WindowStage
from .streams import Chain, ChainOutput, Stream

RUNNER = "flink"


class Translation:
    """Facts the runner needs after translating."""

    def __init__(self) -> None:
        self.has_test_stream = False
        self.labels: list[str] = []  # every primitive translated, in translation order
        self.sinks: dict[str, Any] = {}  # label -> Sink of every fluvial (non-Kafka) Write
        self.kafka_reads: list[tuple] = []  # (cfg, ReadPlan, label) of every ReadFromKafka
        self.java_combines: list[str] = []  # CombinePerKeys on the Java combine path
        # a grouping, a stateful ParDo or a side input reads the watermark: in process mode
        # every Python operator must hand elements and watermarks on in order
        self.event_time_order = False


def has_test_stream(pipeline: Any) -> bool:
    return any(isinstance(n.transform, TestStream) for n in pipeline.primitives())


def scripted_processing_time(pipeline: Any) -> bool:
    """Whether a TestStream of the pipeline advances processing time (clock records flow)."""
    return any(isinstance(n.transform, TestStream) and n.transform.script.uses_processing_time
               for n in pipeline.primitives())


class FlinkTranslator(Translator):
    """Builds the DataStream job of ``pipeline`` in ``env`` (see the module docstring);
    ``channel`` is the run's side-channel directory."""

    runner = RUNNER

    def __init__(self, pipeline: Any, env: Any, options: Any, fopts: Any, channel: str) -> None:
        from pyflink.common import Types
        from pyflink.java_gateway import get_gateway

        super().__init__(pipeline, options)
        self.env = env
        self.fopts = fopts
        self.channel = channel
        self.jvm = get_gateway().jvm
        self.pickled = Types.PICKLED_BYTE_ARRAY()
        self.script_type = Types.TUPLE([Types.INT(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())])
        self.keyed_type = Types.ROW([self.pickled, self.pickled])
        self.bytes_type = Types.PRIMITIVE_ARRAY(Types.BYTE())
        self.tagged_type = Types.ROW([Types.INT(), Types.INT(), Types.INT(), Types.LONG(),
                                      self.pickled])
        self.held_type = Types.ROW([Types.LONG(), self.pickled])
        self.pane_type = Types.ROW([self.pickled, Types.LONG(), self.pickled])
        self.key_type = Types.ROW([self.pickled])
        self.scripted_clock = has_test_stream(pipeline)  # processing time from the script only
        self.fan_out_clock = scripted_processing_time(pipeline)
        self.chains: list[Chain] = []
        self._ids = itertools.count(1)
        self.result = Translation()
        self.checkpoints = CheckpointSettings.from_options(options)
        self.user_jars = list(getattr(fopts, "jars", ()))
        self.added_jars: set[str] = set()

    # -- the plan ------------------------------------------------------------------------------
    def plan(self) -> list[Any]:
        # dead letters after their producers (the skeleton's order): p.dead_letters() is the
        # union of their side outputs
        steps = fuse_windowed_combines(self.graph, self.graph.order(), self._java_combinable)
        return fuse_pardo_chains(self.graph, steps, window_into=True)

    def translate(self) -> FlinkTranslator:
        self.result.labels = [n.full_label for n in self.graph.order()]
        super().translate()
        self._flush()
        return self

    # -- streams -------------------------------------------------------------------------------
    def _tag(self, name: str) -> Any:
        from pyflink.datastream import OutputTag

        return OutputTag(f"fluvial-{next(self._ids)}-{name}", self.pickled)

    def _side(self, ds: Any, tag: Any) -> Any:
        """The side output ``tag`` of ``ds``, taken on the Java stream (PyFlink's
        ``get_side_output`` adds an identity Python operator after it)."""
        from pyflink.datastream import DataStream

        return DataStream(ds._j_data_stream.getSideOutput(tag.get_java_output_tag()))

    def stream_of(self, pc: Any) -> Stream:
        """``pc`` as a Stream (building the chain that produces it, if not built yet)."""
        h = self.handle(pc)
        if isinstance(h, Stream):
            return h
        chain, tag = h.chain, h.tag
        ds = self._materialize(chain)
        if tag is None:
            return Stream(ds, False)
        if tag not in chain.side:
            chain.side[tag] = self._side(ds, chain.tags[tag])
        return Stream(chain.side[tag], False)

    def wire(self, s: Stream) -> Stream:
        """``s`` as wire records (a decoding operator after a script or result stream)."""
        if not s.script and s.combined is None:
            return s
        fn = ChainFunction("decode", [], s.script, self.channel, [], combined=s.combined)
        return Stream(s.ds.process(boot(fn), self.pickled).name("decode"), False)

    def _materialize(self, chain: Chain) -> Any:
        if chain.ds is not None:
            return chain.ds
        label = " -> ".join(st.label for st in chain.stages)
        ticks = [*(t for t in chain.tags.values() if t is not None),
                 *([chain.dlq] if chain.dlq is not None else [])]
        fn = ChainFunction(label or "decode", chain.stages, chain.source.script, self.channel,
                           ticks, chain.keyed, chain.feeder, chain.source.combined)
        if chain.keyed is not None:
            out_type, name = self.keyed_type, label or f"{chain.keyed[0]}#key"
        elif chain.feeder is not None:
            out_type, name = self.bytes_type, label or f"{chain.feeder.label}#feed"
        else:
            out_type, name = self.pickled, label or "decode"
        chain.ds = chain.source.ds.process(boot(fn), out_type).name(name)
        if chain.dlq is not None:
            self.dead_letter_outputs.append(self._side(chain.ds, chain.dlq))
        return chain.ds

    def _flush(self) -> None:
        for chain in self.chains:
            self._materialize(chain)

    def _empty(self, label: str) -> Stream:
        ds = self.env.from_collection([None]).name(label)
        return Stream(ds.filter(lambda _: False).name(label), False)

    def _scripted(self, ds: Any, label: str) -> Stream:
        """Fluvial's Java watermark operators after a script stream, at parallelism 1."""
        from pyflink.datastream import DataStream

        flink = self.jvm.fluvial.flink
        j = ds._j_data_stream.assignTimestampsAndWatermarks(flink.ScriptedWatermarkStrategy())
        j = j.name(f"{label}#watermarks").setParallelism(1)
        j = j.filter(flink.ScriptMarkerFilter()).name(f"{label}#markers").setParallelism(1)
        return Stream(DataStream(j), True)

    def _dead_letter_tag(self, node: Any) -> Any:
        """A dead-letter output tag for ``node`` when its policy is "dead_letter", else None."""
        return self._tag("dead-letters") if self.graph.policy(node) == "dead_letter" else None

    def _consumed_tag(self, node: Any, tag: str) -> Any:
        """An output tag for ``node``'s output ``tag``, or None when nothing reads that output:
        Flink leaves a side output nobody reads out of the job, and a Python function's
        ``(tag, record)`` outputs would then reach its main output; the functions drop outputs
        whose tag is None."""
        return self._tag(tag) if self.graph.consumers(node.outputs[tag]) else None

    # -- stateless chains ----------------------------------------------------------------------
    def _chain_dlq(self, chain: Chain) -> Any:
        if chain.dlq is None:
            chain.dlq = self._tag("dead-letters")
        return chain.dlq

    def _stage(self, chain: Chain, node: Any) -> Any:
        t, label = node.transform, node.full_label
        if isinstance(t, WindowInto):
            return WindowStage(label, t.windowing.window_fn)
        policy = self.graph.policy(node)
        for tag in t.output_tags:
            chain.tags[tag] = self._consumed_tag(node, tag)
        errors = ErrorPolicy(label, policy,
                             self._chain_dlq(chain) if policy == "dead_letter" else None)
        return ParDoStage(label, t, errors, dict(chain.tags))

    def _chain(self, nodes: tuple[Any, ...]) -> None:
        """Stateless ParDos / WindowIntos fused into one operator (built when first read)."""
        chain = Chain(self.stream_of(nodes[0].inputs[0]))
        self.chains.append(chain)
        chain.stages = [self._stage(chain, n) for n in nodes]
        last = nodes[-1]
        chain.closed = bool(getattr(last.transform, "output_tags", ()))
        for tag in last.outputs:
            self.set_output(last, ChainOutput(chain, tag), tag)

    def _tail_chain(self, pc: Any) -> Chain:
        """The chain producing ``pc`` when a reader may end it with its own terminal step
        (``pc`` is its open main output and this reader is the only one); else a new chain of
        no stages reading ``pc``."""
        h = self.handle(pc)
        if isinstance(h, ChainOutput) and h.open and len(self.graph.consumers(pc)) == 1:
            return h.chain
        chain = Chain(self.stream_of(pc))
        self.chains.append(chain)
        return chain

    # -- sources -------------------------------------------------------------------------------
    def create(self, node: Any) -> None:
        t, label = node.transform, node.full_label
        recs = [(v.value, v.timestamp_ms, None, None) if isinstance(v, TimestampedValue)
                else (v, MIN_TIMESTAMP_MS, None, None) for v in t.values]
        if not recs:
            self.set_output(node, self._empty(label))
            return
        from .sources import resumable_collection

        self.set_output(node, Stream(resumable_collection(self.env, recs, self.pickled, label),
                                     False))

    def test_stream(self, node: Any) -> None:
        t, label = node.transform, node.full_label
        self.result.has_test_stream = True
        recs: list[tuple] = []
        clock = 0
        # the final EndOfInput needs nothing: the collection source ends (watermark MAX)
        for ev in t.script.steps:
            if isinstance(ev, ElementEvent):
                recs.extend(script_element(v, ms) for v, ms in ev.elements)
            elif isinstance(ev, WatermarkEvent):
                recs.append(script_watermark(ev.watermark_ms))
            elif isinstance(ev, ProcessingTimeEvent):
                clock += ev.advance_ms
                recs.append(script_clock(clock))
        if not recs:
            self.set_output(node, self._empty(label))
            return
        ds = self.env.from_collection(recs, self.script_type).name(label)
        self.set_output(node, self._scripted(ds, label))

    def read(self, node: Any) -> None:
        from . import kafka

        t, label = node.transform, node.full_label
        if kafka.is_kafka_source(t.source):
            self.set_output(node, Stream(kafka.translate_read(self, node, t.source, label), True))
            return
        if not t.source.is_bounded:
            raise UnsupportedFeatureError(
                RUNNER, label,
                f"unbounded source {t.source.display_name()}: PyFlink has no Python source API, so "
                "the Flink runner reads a Python source to exhaustion inside one function, which "
                "only works for bounded sources; use a bounded source or the direct runner",
            )
        dlq = self._dead_letter_tag(node)
        fn = ReadFunction(label, t.source, self.options, getattr(self.options, "batch_size", 4096),
                          t.watermark_strategy, self.channel, dlq)
        impulse = self.env.from_collection([None]).name(f"{label}#impulse")
        ds = impulse.process(boot(fn), self.script_type).name(label).set_parallelism(1)
        if dlq is not None:
            self.dead_letter_outputs.append(self._side(ds, dlq))
        self.set_output(node, self._scripted(ds, label))

    def dead_letters(self, node: Any) -> None:
        # every producer is translated (the skeleton's order); its chain's dead-letter output
        # exists once the chain is built
        self._flush()
        if not self.dead_letter_outputs:
            self.set_output(node, self._empty(node.full_label))
            return
        first, *rest = self.dead_letter_outputs
        self.set_output(node, Stream(first.union(*rest) if rest else first, False))

    # -- element-wise --------------------------------------------------------------------------
    def pardo(self, node: Any) -> None:
        if node.transform.side_inputs:
            self._side_input_pardo(node)
        else:
            self._chain((node,))

    def pardo_chain(self, chain: ParDoChain) -> None:
        self._chain(chain.nodes)

    def window_into(self, node: Any) -> None:
        self._chain((node,))

    def flatten(self, node: Any) -> None:
        streams = [self.wire(self.stream_of(pc)) for pc in node.inputs]
        first, *rest = (s.ds for s in streams)
        self.set_output(node, Stream(first.union(*rest) if rest else first, False))

    def _side_input_pardo(self, node: Any) -> None:
        """A ParDo with side inputs (:mod:`.side_inputs`): every input tagged in Java (its
        watermarks as records), side inputs broadcast, one Python operator over the union, and
        ``HoldWatermark`` after it holding the watermark for waiting main elements."""
        from pyflink.datastream import DataStream

        t, label = node.transform, node.full_label
        if self.checkpoints.enabled:
            raise UnsupportedFeatureError(
                RUNNER, label,
                "side inputs with --checkpoint-dir: on Flink a ParDo keeps its side inputs' "
                "contents and the main elements waiting for them in memory, not in Flink's "
                "checkpoints, so a restored job would lose them; run without --checkpoint-dir, "
                "or on the direct runner (which checkpoints them)")
        flink = self.jvm.fluvial.flink
        dlq = self._dead_letter_tag(node)
        tags = {tag: self._consumed_tag(node, tag) for tag in t.output_tags}
        stage = ParDoStage(label, t, ErrorPolicy(label, self.graph.policy(node), dlq), tags)
        self.result.event_time_order = True
        tagged = []
        for i, s in enumerate(self._input_streams(node)):
            j = s.ds._j_data_stream.transform(
                f"{label}#input{i}", self.tagged_type.get_java_type_info(), flink.SideInputTag(i))
            tagged.append(DataStream(j.broadcast() if i else j))
        ticks = [*(v for v in tags.values() if v is not None), *([dlq] if dlq is not None else [])]
        fn = SideInputFunction(label, stage, t.side_args, node.inputs[0].windowing.allowed_lateness_ms,
                               self.channel, ticks)
        ds = tagged[0].union(*tagged[1:]).process(boot(fn), self.held_type).name(label)
        held = ds._j_data_stream.transform(f"{label}#hold", self.pickled.get_java_type_info(),
                                           flink.HoldWatermark())
        self._set_outputs(node, Stream(DataStream(held), False), ds, tags, dlq)

    def _input_streams(self, node: Any) -> list[Stream]:
        """The node's inputs (main, then side inputs) as streams of wire records."""
        return [self.wire(self.stream_of(pc)) for pc in node.inputs]

    def _set_outputs(self, node: Any, main: Stream, ds: Any, tags: dict[str, Any],
                     dlq: Any) -> None:
        """Record ``main`` as the node's main output and the side outputs of ``ds`` as its
        tagged outputs (``tags``) and dead letters (``dlq``)."""
        self.set_output(node, main)
        for tag, otag in tags.items():
            if otag is not None:
                self.set_output(node, Stream(self._side(ds, otag), False), tag)
        if dlq is not None:
            self.dead_letter_outputs.append(self._side(ds, dlq))

    # -- keyed operators -----------------------------------------------------------------------
    def _keyed_stream(self, node: Any, what: str) -> Any:
        """The main input of ``node`` as a keyed stream of ``Row(key, record)``: the stateless
        chain producing it (when it feeds only this operator) or a new chain of no stages emits
        the rows, and sends elements it cannot key to the operator's error policy; the clock
        fan-out goes in front of the keyBy when the script advances processing time."""
        from pyflink.datastream import DataStream, KeyedStream

        label, policy = node.full_label, self.graph.policy(node)
        chain = self._tail_chain(node.inputs[0])
        dlq = self._chain_dlq(chain) if policy == "dead_letter" else None
        chain.keyed = (label, what, ErrorPolicy(label, policy, dlq))
        chain.closed = True
        ds = self._materialize(chain)
        j = ds._j_data_stream
        if self.fan_out_clock:
            j = j.process(self.jvm.fluvial.flink.ClockFanOut(), self.keyed_type.get_java_type_info())
            j = j.name(f"{label}#clock").setParallelism(1)
        j = j.keyBy(self.jvm.KeyByKeySelector(), self.key_type.get_java_type_info())
        self.result.event_time_order = True
        return KeyedStream(j, self.pickled, DataStream(ds._j_data_stream))

    def group_by_key(self, node: Any) -> None:
        self._grouping(node, None, "GroupByKey")

    def combine_per_key(self, node: Any) -> None:
        self._grouping(node, node.transform.combine_fn, "CombinePerKey")

    def _grouping(self, node: Any, combine_fn: Any, what: str) -> None:
        t, label = node.transform, node.full_label
        dlq = self._dead_letter_tag(node)
        late_tag = self._consumed_tag(node, "late") if t.late_output else None
        ticks = [*([late_tag] if late_tag is not None else []), *([dlq] if dlq is not None else [])]
        fn = GroupFunction(label, node.inputs[0].windowing, combine_fn, what, late_tag,
                           self.scripted_clock, self.channel, ticks,
                           ErrorPolicy(label, self.graph.policy(node), dlq))
        keyed = self._keyed_stream(node, what)
        ds = keyed.process(boot(fn, keyed=True), self.pane_type).name(label).uid(
            f"fluvial/group/{label}")
        self._set_outputs(node, self._group_holds(ds, label), ds,
                          {"late": late_tag} if late_tag else {}, dlq)

    def _group_holds(self, ds: Any, label: str) -> Stream:
        """``GroupHolds`` after the grouping ``ds``, on the same keys (the stream reinterpreted
        as keyed by the same selector, so each instance reads the instance before it): it
        passes the panes on and holds the watermark at the earliest hold of its keys."""
        from pyflink.datastream import DataStream

        jvm = self.jvm
        keyed = jvm.org.apache.flink.streaming.api.datastream.DataStreamUtils \
            .reinterpretAsKeyedStream(ds._j_data_stream, jvm.KeyByKeySelector(),
                                      self.key_type.get_java_type_info())
        j = keyed.transform(f"{label}#holds", self.pickled.get_java_type_info(),
                            jvm.fluvial.flink.GroupHolds()).uid(f"fluvial/group-holds/{label}")
        return Stream(DataStream(j), False)

    def stateful_pardo(self, node: Any) -> None:
        t, label = node.transform, node.full_label
        dlq = self._dead_letter_tag(node)
        tags = {tag: self._consumed_tag(node, tag) for tag in t.output_tags}
        ticks = [*(v for v in tags.values() if v is not None), *([dlq] if dlq is not None else [])]
        fn = StatefulFunction(label, t, node.inputs[0].windowing.allowed_lateness_ms,
                              ErrorPolicy(label, self.graph.policy(node), dlq), tags,
                              self.scripted_clock, self.channel, ticks)
        keyed = self._keyed_stream(node, "stateful DoFn")
        ds = keyed.process(boot(fn, keyed=True), self.pickled).name(label).uid(
            f"fluvial/stateful/{label}")
        self._set_outputs(node, Stream(ds, False), ds, tags, dlq)

    # -- the Java combine path -----------------------------------------------------------------
    def _java_combinable(self, window_into: Any, combine: Any) -> bool:
        """Whether this WindowInto + grouping runs on the Java combine path
        (:mod:`.combine_java`): a CombinePerKey only (a GroupByKey stays on the window
        driver)."""
        c = combine.transform
        if not isinstance(c, CombinePerKey):
            return False
        # under "dead_letter" and "skip" an element Java cannot take would have to go to the
        # policy as the window driver sends it: those groupings stay on the driver
        return (bool(self.fopts.java_combine) and not c.late_output
                and java_kind(window_into.outputs[None].windowing, c.combine_fn) is not None
                and self.graph.policy(combine) == "fail")

    def windowed_combine(self, group: WindowedCombine) -> None:
        """WindowInto + CombinePerKey as the Java combine path: the chain in front encodes
        batches, Java assigns windows and combines, the results come back in batches."""
        from pyflink.datastream import DataStream

        window_node, combine_node = group.window_into, group.combine
        windowing = window_node.outputs[None].windowing
        fn = combine_node.transform.combine_fn
        label = combine_node.full_label
        kind = java_kind(windowing, fn)
        self.result.java_combines.append(label)
        self.result.event_time_order = True
        chain = self._tail_chain(window_node.inputs[0])
        chain.feeder = Feeder(label, kind)  # type: ignore[arg-type]
        chain.closed = True
        ds = self._materialize(chain)
        size, period, offset = window_params(windowing)
        j = self.jvm.fluvial.flink.CombinePath.build(ds._j_data_stream, label, kind, size, period,
                                                     offset)
        self.set_output(combine_node, Stream(DataStream(j), False,
                                             (label, ResultDecoder(windowing, fn))))

    # -- sinks ---------------------------------------------------------------------------------
    def write(self, node: Any) -> None:
        from . import kafka, write

        t, label = node.transform, node.full_label
        if kafka.is_kafka_sink(t.sink):
            kafka.translate_write(self, node, t.sink, label)
        else:
            write.translate_write(self, node, t.sink, label)


def translate(pipeline: Any, env: Any, options: Any, fopts: Any, channel: str) -> Translation:
    """Build ``pipeline``'s job in ``env``; ``channel`` is the run's side-channel directory."""
    return FlinkTranslator(pipeline, env, options, fopts, channel).translate().result
