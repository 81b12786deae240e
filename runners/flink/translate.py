"""Translate a fluvial pipeline's primitives into a PyFlink DataStream job.

* ``Create`` -> a collection source of wire records (timestamps from ``TimestampedValue``).
* ``TestStream`` -> a collection source of script records (parallelism 1) -> fluvial's
  punctuated ``ScriptedWatermarkStrategy`` -> ``ScriptMarkerFilter`` (Java, parallelism 1): the
  watermark moves exactly at the script's steps, never periodically; processing-time steps
  travel as clock records (:class:`~.records.ClockTick`). A pipeline with a TestStream runs with
  parallelism 1, so its output is the same on every run.
* ``Read(Source)`` (bounded) -> one impulse record -> a Python function that opens the source's
  reader and polls it to exhaustion (PyFlink has no Python source API), emitting a script
  stream with the source's watermark (or its ``watermark_strategy``'s) -> the same Java
  watermark operators.
* ``ParDo`` (stateless) and ``WindowInto`` -> stages of one Python operator: a chain of them is
  fused when each link's output feeds only the next link (only the last link may have tagged
  outputs). Tagged outputs and dead letters leave through Flink side outputs (``OutputTag``).
* ``Flatten`` -> ``union``; ``p.dead_letters()`` -> the union of every dead-letter side output.
* ``ReadFromKafka`` -> Flink's KafkaSource -> Python decoding -> fluvial's Java per-partition
  watermarks; ``WriteToKafka`` -> Python encoding -> Flink's KafkaSink (see :mod:`.kafka`).
* ``Write(Sink)`` -> fluvial's Java ``CheckpointMarkers`` -> a Python function (parallelism 1)
  running the sink's two-phase commit on Flink's checkpoints (see :mod:`.write`,
  :mod:`.committing` and :mod:`.guarantees`).
* ``Create`` is a checkpointed Flink source (``fromData``), so a resumed job does not replay it.
* ``GroupByKey``, ``CombinePerKey`` and stateful ``ParDo`` -> keyed operators: the stateless
  chain in front of them (or a chain of no stages) emits keyed rows ``Row(key, record)``
  (:mod:`.records`), Java's ``keyBy`` partitions on the pickled key, and a Python
  ``KeyedProcessFunction`` runs the sdk's window driver or stateful driver over Flink keyed
  state and timers (:mod:`.keyed`). When a TestStream advances processing time,
  ``fluvial.flink.ClockFanOut`` (Java, parallelism 1) in front of each keyBy carries every
  clock advance to every key seen. Late data (``with_late_output``) and tagged outputs leave
  through side outputs.
* ``WindowInto(FixedWindows | SlidingWindows)`` feeding only a ``CombinePerKey`` of a built-in
  combiner (default trigger, no lateness, end-of-window timestamps) -> the Java combine path
  (:mod:`.combine_java`): the chain in front encodes batches, Java assigns windows and
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

RUNNER = "flink"


class Stream:
    """A translated PCollection: a Flink DataStream of wire records, of script records
    (``script``), or of the Java combine path's result batches (``combined``: the
    CombinePerKey's label and the decoder), which the next Python operator decodes."""

    __slots__ = ("ds", "script", "combined")

    def __init__(self, ds: Any, script: bool, combined: tuple[str, Any] | None = None) -> None:
        self.ds = ds
        self.script = script
        self.combined = combined


class Chain:
    """Stateless stages fused into one Flink operator, built when its output is first needed
    (or at the end of the translation)."""

    def __init__(self, source: Stream) -> None:
        self.source = source
        self.stages: list = []
        self.tags: dict[str, Any] = {}  # output tags of the last stage
        self.dlq: Any = None  # the dead-letter output tag, once a stage needs it
        self.closed = False  # the last stage has tagged outputs: nothing fuses after it
        self.keyed: tuple[str, str] | None = None  # (label, what) of the keyed operator fed
        self.feeder: Any = None  # the Java combine path's Feeder, when the chain feeds it
        self.ds: Any = None
        self.side: dict[str, Any] = {}


class Translation:
    """Facts the runner needs after translating."""

    def __init__(self) -> None:
        self.has_test_stream = False
        self.labels: list[str] = []
        self.sinks: dict[str, Any] = {}  # label -> Sink of every fluvial (non-Kafka) Write
        self.kafka_reads: list[tuple] = []  # (cfg, ReadPlan, label) of every ReadFromKafka
        self.java_combines: list[str] = []  # CombinePerKeys on the Java combine path
        # a grouping, a stateful ParDo or a side input reads the watermark: in process mode
        # every Python operator must hand elements and watermarks on in order
        self.event_time_order = False


def _order(pipeline: Any) -> tuple[list, set[int]]:
    """The primitives with ``p.dead_letters()`` and everything downstream of it last (its
    inputs are the dead-letter outputs of the other nodes), and the ids of those nodes."""
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


def has_test_stream(pipeline: Any) -> bool:
    return any(isinstance(n.transform, TestStream) for n in pipeline.primitives())


def scripted_processing_time(pipeline: Any) -> bool:
    """Whether a TestStream of the pipeline advances processing time (clock records flow)."""
    return any(isinstance(n.transform, TestStream) and n.transform.script.uses_processing_time
               for n in pipeline.primitives())


class Translator:
    """Builds the DataStream job of ``pipeline`` in ``env``."""

    def __init__(self, pipeline: Any, env: Any, options: Any, fopts: Any, channel: str) -> None:
        from pyflink.common import Types
        from pyflink.java_gateway import get_gateway

        self.pipeline = pipeline
        self.env = env
        self.options = options
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
        self.consumer_nodes: dict[int, list] = {}
        self.fused: dict[int, Stream] = {}  # CombinePerKey node id -> its Java path's output
        self.key_type = Types.ROW([self.pickled])
        self.scripted_clock = has_test_stream(pipeline)  # processing time from the script only
        self.fan_out_clock = scripted_processing_time(pipeline)
        self.where: dict[int, tuple] = {}  # pcoll id -> ("stream", Stream) | ("chain", Chain, tag)
        self.chains: list[Chain] = []
        self.dl_outputs: list[Any] = []
        self.consumers: dict[int, int] = {}
        self._ids = itertools.count(1)
        self.result = Translation()
        self.checkpoints = CheckpointSettings.from_options(options)
        self.user_jars = list(getattr(fopts, "jars", ()))
        self.added_jars: set[str] = set()

    # -- streams -----------------------------------------------------------------------------
    def _tag(self, name: str) -> Any:
        from pyflink.datastream import OutputTag

        return OutputTag(f"fluvial-{next(self._ids)}-{name}", self.pickled)

    def _side(self, ds: Any, tag: Any) -> Any:
        """The side output ``tag`` of ``ds``, taken on the Java stream (PyFlink's
        ``get_side_output`` adds an identity Python operator after it)."""
        from pyflink.datastream import DataStream

        return DataStream(ds._j_data_stream.getSideOutput(tag.get_java_output_tag()))

    def stream_of(self, pc: Any) -> Stream:
        entry = self.where[id(pc)]
        if entry[0] == "stream":
            return entry[1]
        _, chain, tag = entry
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
            self.dl_outputs.append(self._side(chain.ds, chain.dlq))
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

    # -- the graph ---------------------------------------------------------------------------
    def translate(self) -> Translation:
        pipeline, options = self.pipeline, self.options
        check_dead_letter_consumer(pipeline, options)
        nodes, after_dlq = _order(pipeline)
        self.after_dlq = after_dlq
        for n in nodes:
            for pc in n.inputs:
                self.consumers[id(pc)] = self.consumers.get(id(pc), 0) + 1
                self.consumer_nodes.setdefault(id(pc), []).append(n)
        for node in nodes:
            self.result.labels.append(node.full_label)
            self._node(node, id(node) in after_dlq)
        self._flush()
        return self.result

    def _set(self, node: Any, stream: Stream, tag: str | None = None) -> None:
        self.where[id(node.outputs[tag])] = ("stream", stream)

    def _node(self, node: Any, downstream_of_dlq: bool) -> None:
        t = node.transform
        label = node.full_label
        if isinstance(t, Create):
            self._set(node, self._create(t, label))
        elif isinstance(t, TestStream):
            self.result.has_test_stream = True
            self._set(node, self._test_stream(t, label))
        elif isinstance(t, Read):
            self._read(node, t, label)
        elif isinstance(t, ParDo):
            if t.side_inputs:
                self._side_input_pardo(node, t, label, downstream_of_dlq)
                return
            if t.signature.is_stateful:
                self._stateful(node, t, label, downstream_of_dlq)
                return
            policy = node_policy(t.on_error, self.options, label, downstream_of_dlq)
            self._stage(node, lambda chain: ParDoStage(
                label, t, ErrorPolicy(label, policy, self._dlq(chain) if policy == "dead_letter" else None),
                self._declare_tags(chain, node, t.output_tags)), bool(t.output_tags))
        elif isinstance(t, WindowInto):
            combine = self._java_combine_target(node)
            if combine is not None:
                self._java_combine(node, combine)
            else:
                self._stage(node, lambda chain: WindowStage(label, t.windowing.window_fn), False)
        elif isinstance(t, GroupByKey):
            self._grouping(node, label, None, t, "GroupByKey", downstream_of_dlq)
        elif isinstance(t, CombinePerKey):
            if id(node) in self.fused:
                self._set(node, self.fused.pop(id(node)))
            else:
                self._grouping(node, label, t.combine_fn, t, "CombinePerKey", downstream_of_dlq)
        elif isinstance(t, Flatten):
            streams = [self.wire(self.stream_of(pc)) for pc in node.inputs]
            ds = streams[0].ds if len(streams) == 1 else streams[0].ds.union(*(s.ds for s in streams[1:]))
            self._set(node, Stream(ds, False))
        elif isinstance(t, DeadLetters):
            self._flush()  # every chain's dead-letter output exists once its chain is built
            if not self.dl_outputs:
                self._set(node, self._empty(label))
            else:
                first, *rest = self.dl_outputs
                self._set(node, Stream(first.union(*rest) if rest else first, False))
        elif isinstance(t, Write):
            from . import kafka, write

            if kafka.is_kafka_sink(t.sink):
                kafka.translate_write(self, node, t.sink, label)
            else:
                write.translate_write(self, node, t.sink, label)
        else:
            raise UnsupportedFeatureError(
                RUNNER, label, f"primitive {type(t).__name__} has no Flink translation")

    # -- stateless stages --------------------------------------------------------------------
    def _dlq(self, chain: Chain) -> Any:
        if chain.dlq is None:
            chain.dlq = self._tag("dead-letters")
        return chain.dlq

    def _consumed_tag(self, node: Any, tag: str) -> Any:
        """An output tag for ``node``'s output ``tag``, or None when nothing reads that output:
        Flink leaves a side output nobody reads out of the job, and a Python function's
        ``(tag, record)`` outputs would then reach its main output; the functions drop outputs
        whose tag is None."""
        return self._tag(tag) if self.consumers.get(id(node.outputs[tag]), 0) else None

    def _declare_tags(self, chain: Chain, node: Any, tags: tuple[str, ...]) -> dict[str, Any]:
        for tag in tags:
            chain.tags[tag] = self._consumed_tag(node, tag)
        return dict(chain.tags)

    def _stage(self, node: Any, make: Any, tagged: bool) -> None:
        pc = node.inputs[0]
        entry = self.where[id(pc)]
        if (entry[0] == "chain" and entry[2] is None and not entry[1].closed
                and entry[1].ds is None and self.consumers.get(id(pc), 0) == 1):
            chain = entry[1]
        else:
            chain = Chain(self.stream_of(pc))
            self.chains.append(chain)
        chain.stages.append(make(chain))
        chain.closed = tagged
        for tag, out in node.outputs.items():
            self.where[id(out)] = ("chain", chain, tag)

    # -- keyed operators ---------------------------------------------------------------------
    def _last_chain(self, pc: Any) -> Chain:
        """The stateless chain producing ``pc`` when it may take one more (terminal) step, i.e.
        ``pc`` is its open main output and feeds only one transform; else a new chain of no
        stages reading ``pc``."""
        entry = self.where[id(pc)]
        if (entry[0] == "chain" and entry[2] is None and not entry[1].closed
                and entry[1].ds is None and self.consumers.get(id(pc), 0) == 1):
            return entry[1]
        chain = Chain(self.stream_of(pc))
        self.chains.append(chain)
        return chain

    def _java_combine_target(self, node: Any) -> Any:
        """The CombinePerKey node this WindowInto can run with on the Java combine path
        (:mod:`.combine_java`), or None."""
        if not self.fopts.java_combine:
            return None
        out = node.outputs[None]
        cons = self.consumer_nodes.get(id(out), [])
        if len(cons) != 1 or not isinstance(cons[0].transform, CombinePerKey):
            return None
        c = cons[0].transform
        if c.late_output or java_kind(out.windowing, c.combine_fn) is None:
            return None
        # under "dead_letter" and "skip" an element Java cannot take would have to go to the
        # policy as the window driver sends it: those groupings stay on the driver
        if node_policy(c.on_error, self.options, cons[0].full_label,
                       id(cons[0]) in self.after_dlq) != "fail":
            return None
        return cons[0]

    def _java_combine(self, window_node: Any, combine_node: Any) -> None:
        """WindowInto + CombinePerKey as the Java combine path: the chain in front encodes
        batches, Java assigns windows and combines, the results come back in batches."""
        from pyflink.datastream import DataStream

        windowing = window_node.outputs[None].windowing
        fn = combine_node.transform.combine_fn
        label = combine_node.full_label
        kind = java_kind(windowing, fn)
        self.result.java_combines.append(label)
        self.result.event_time_order = True
        chain = self._last_chain(window_node.inputs[0])
        chain.feeder = Feeder(label, kind)  # type: ignore[arg-type]
        chain.closed = True
        ds = self._materialize(chain)
        size, period, offset = window_params(windowing)
        j = self.jvm.fluvial.flink.CombinePath.build(ds._j_data_stream, label, kind, size, period,
                                                     offset)
        self.fused[id(combine_node)] = Stream(DataStream(j), False,
                                              (label, ResultDecoder(windowing, fn)))

    def _keyed_stream(self, pc: Any, label: str, what: str, policy: str) -> Any:
        """``pc`` as a keyed stream of ``Row(key, record)`` for the keyed operator ``label``:
        the stateless chain producing it (when it feeds only this operator) or a new chain of
        no stages emits the rows, and sends elements it cannot key to the operator's error
        ``policy``; the clock fan-out goes in front of the keyBy when the script advances
        processing time."""
        from pyflink.datastream import DataStream, KeyedStream

        chain = self._last_chain(pc)
        errors = ErrorPolicy(label, policy, self._dlq(chain) if policy == "dead_letter" else None)
        chain.keyed = (label, what, errors)
        chain.closed = True
        ds = self._materialize(chain)
        j = ds._j_data_stream
        if self.fan_out_clock:
            j = j.process(self.jvm.fluvial.flink.ClockFanOut(), self.keyed_type.get_java_type_info())
            j = j.name(f"{label}#clock").setParallelism(1)
        j = j.keyBy(self.jvm.KeyByKeySelector(), self.key_type.get_java_type_info())
        return KeyedStream(j, self.pickled, DataStream(ds._j_data_stream))

    def _grouping(self, node: Any, label: str, combine_fn: Any, t: Any, what: str,
                  downstream_of_dlq: bool) -> None:
        windowing = node.inputs[0].windowing
        policy = node_policy(t.on_error, self.options, label, downstream_of_dlq)
        dlq = self._tag("dead-letters") if policy == "dead_letter" else None
        late_tag = self._consumed_tag(node, "late") if t.late_output else None
        ticks = [*([late_tag] if late_tag is not None else []), *([dlq] if dlq is not None else [])]
        fn = GroupFunction(label, windowing, combine_fn, what, late_tag, self.scripted_clock,
                           self.channel, ticks, ErrorPolicy(label, policy, dlq))
        keyed = self._keyed_stream(node.inputs[0], label, what, policy)
        self.result.event_time_order = True
        ds = keyed.process(boot(fn, keyed=True), self.pickled).name(label).uid(
            f"fluvial/group/{label}")
        self._set(node, Stream(ds, False))
        if dlq is not None:
            self.dl_outputs.append(self._side(ds, dlq))
        if late_tag is not None:
            self._set(node, Stream(self._side(ds, late_tag), False), "late")

    def _stateful(self, node: Any, t: ParDo, label: str, downstream_of_dlq: bool) -> None:
        policy = node_policy(t.on_error, self.options, label, downstream_of_dlq)
        dlq = self._tag("dead-letters") if policy == "dead_letter" else None
        tags = {tag: self._consumed_tag(node, tag) for tag in t.output_tags}
        ticks = [*(v for v in tags.values() if v is not None), *([dlq] if dlq is not None else [])]
        pc = node.inputs[0]
        fn = StatefulFunction(label, t, pc.windowing.allowed_lateness_ms,
                              ErrorPolicy(label, policy, dlq), tags, self.scripted_clock,
                              self.channel, ticks)
        keyed = self._keyed_stream(pc, label, "stateful DoFn", policy)
        self.result.event_time_order = True
        ds = keyed.process(boot(fn, keyed=True), self.pickled).name(label).uid(
            f"fluvial/stateful/{label}")
        self._set(node, Stream(ds, False))
        for tag, otag in tags.items():
            if otag is not None:
                self._set(node, Stream(self._side(ds, otag), False), tag)
        if dlq is not None:
            self.dl_outputs.append(self._side(ds, dlq))

    # -- side inputs -------------------------------------------------------------------------
    def _side_input_pardo(self, node: Any, t: ParDo, label: str, downstream_of_dlq: bool) -> None:
        """A ParDo with side inputs (:mod:`.side_inputs`): every input tagged in Java (its
        watermarks as records), side inputs broadcast, one Python operator over the union, and
        ``HoldWatermark`` after it holding the watermark for waiting main elements."""
        from pyflink.datastream import DataStream

        if self.checkpoints.enabled:
            raise UnsupportedFeatureError(
                RUNNER, label,
                "side inputs with --checkpoint-dir: on Flink a ParDo keeps its side inputs' "
                "contents and the main elements waiting for them in memory, not in Flink's "
                "checkpoints, so a restored job would lose them; run without --checkpoint-dir, "
                "or on the direct runner (which checkpoints them)")
        flink = self.jvm.fluvial.flink
        policy = node_policy(t.on_error, self.options, label, downstream_of_dlq)
        dlq = self._tag("dead-letters") if policy == "dead_letter" else None
        tags = {tag: self._consumed_tag(node, tag) for tag in t.output_tags}
        stage = ParDoStage(label, t, ErrorPolicy(label, policy, dlq), tags)
        self.result.event_time_order = True
        tagged = []
        for i, pc in enumerate(node.inputs):
            j = self.wire(self.stream_of(pc)).ds._j_data_stream.transform(
                f"{label}#input{i}", self.tagged_type.get_java_type_info(), flink.SideInputTag(i))
            tagged.append(DataStream(j.broadcast() if i else j))
        ticks = [*(v for v in tags.values() if v is not None), *([dlq] if dlq is not None else [])]
        fn = SideInputFunction(label, stage, t.side_args, node.inputs[0].windowing.allowed_lateness_ms,
                               self.channel, ticks)
        ds = tagged[0].union(*tagged[1:]).process(boot(fn), self.held_type).name(label)
        held = ds._j_data_stream.transform(f"{label}#hold", self.pickled.get_java_type_info(),
                                           flink.HoldWatermark())
        self._set(node, Stream(DataStream(held), False))
        for tag, otag in tags.items():
            if otag is not None:
                self._set(node, Stream(self._side(ds, otag), False), tag)
        if dlq is not None:
            self.dl_outputs.append(self._side(ds, dlq))

    # -- sources -----------------------------------------------------------------------------
    def _create(self, t: Create, label: str) -> Stream:
        recs = [(v.value, v.timestamp_ms, None, None) if isinstance(v, TimestampedValue)
                else (v, MIN_TIMESTAMP_MS, None, None) for v in t.values]
        if not recs:
            return self._empty(label)
        from .sources import resumable_collection

        return Stream(resumable_collection(self.env, recs, self.pickled, label), False)

    def _test_stream(self, t: TestStream, label: str) -> Stream:
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
            return self._empty(label)
        ds = self.env.from_collection(recs, self.script_type).name(label)
        return self._scripted(ds, label)

    def _read(self, node: Any, t: Read, label: str) -> None:
        from . import kafka

        if kafka.is_kafka_source(t.source):
            self._set(node, Stream(kafka.translate_read(self, node, t.source, label), True))
            return
        if not t.source.is_bounded:
            raise UnsupportedFeatureError(
                RUNNER, label,
                f"unbounded source {t.source.display_name()}: PyFlink has no Python source API, so "
                "the Flink runner reads a Python source to exhaustion inside one function, which "
                "only works for bounded sources; use a bounded source or the direct runner",
            )
        policy = effective_policy(getattr(t.source, "on_error", None), self.options)
        dlq = self._tag("dead-letters") if policy == "dead_letter" else None
        fn = ReadFunction(label, t.source, self.options, getattr(self.options, "batch_size", 4096),
                          t.watermark_strategy, self.channel, dlq)
        impulse = self.env.from_collection([None]).name(f"{label}#impulse")
        ds = impulse.process(boot(fn), self.script_type).name(label).set_parallelism(1)
        if dlq is not None:
            self.dl_outputs.append(self._side(ds, dlq))
        self._set(node, self._scripted(ds, label))


def translate(pipeline: Any, env: Any, options: Any, fopts: Any, channel: str) -> Translation:
    """Build ``pipeline``'s job in ``env``; ``channel`` is the run's side-channel directory."""
    return Translator(pipeline, env, options, fopts, channel).translate()
