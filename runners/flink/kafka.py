"""ReadFromKafka and WriteToKafka on Flink: Flink's own Kafka connector, fluvial's semantics.

**Read.** When the job is built, the driver connects with the read's Kafka client
(``client=`` or ``--kafka-client``, :mod:`fluvial.transforms.kafka.clients`), checks (or
creates) the topics, lists the partitions and resolves ``start`` and ``stop`` to offsets
exactly as the direct runner's reader does (:mod:`fluvial.transforms.kafka.offsets`: earliest, latest,
committed, explicit offsets or a timestamp; ``stop="end"``: the ends found now, past the
records a fetch returns, so brokers whose ``ListOffsets`` answers differently still end where
the data ends; a ``stop`` dict must give every partition read). Then::

    KafkaSource (those partitions and offsets, bounded by the stop offsets; records as bytes,
                 KafkaRecordBytes.java; uid from the label, its offsets in Flink's checkpoints)
      -> KafkaDecode (Python, same parallelism: deserializers, timestamp_fn, with_metadata,
                      event-time range check, dead letters; kafka_functions.py; records,
                      errors and dead letters carry ReadFromKafka's label, "Orders", not that
                      of its Read primitive, "Orders/Read", as on the other runners)
      -> PartitionWatermarks (Java, same parallelism: fluvial's per-partition watermarks from
                              max_out_of_orderness and idle_timeout)

The source's parallelism is the job's, at most the number of partitions. A resumed job reads
from the offsets in its checkpoint (the resolved start offsets only apply to a fresh start).
Offsets are committed to ``group_id`` when a checkpoint completes (Flink's KafkaSource), or,
for a bounded read without ``--checkpoint-dir``, by the runner after the run succeeded (the
stop offsets): a later ``start="committed"`` read continues after them, as on the direct
runner. ``isolation_level``, ``client_id`` and the fetch limits become the consumer's
properties; ``consumer_config`` goes as it is to the client the driver plans with, and to
the connector with underscores as dots (``max_poll_records`` -> ``max.poll.records``).

**Write.** ``KafkaEncode`` (Python: serializers, ``key_fn``, ``topic_fn``, timestamps; bad
elements follow the write's ``on_error``: BadRecordError, skipped, or dead letters) -> Flink's
KafkaSink. ``delivery="exactly_once"``: Kafka
transactions committed when a Flink checkpoint completes (transactional id prefix: the
write's ``transactional_id_prefix``, else the same stable hash of label, topic and checkpoint
directory as on the direct runner; ``transaction.timeout.ms`` from
``transaction_timeout_ms``); without ``--checkpoint-dir`` a bounded run commits once at its
end and an unbounded one is refused (:func:`~fluvial.transforms.kafka.writer.
check_transaction_settings`). ``"at_least_once"``: flushed at every checkpoint. Consumers of
exactly-once output read with ``isolation_level="read_committed"``. ``linger_ms``,
``batch_size``, ``compression_type``, ``client_id`` and ``producer_config`` (underscores as
dots) become the producer's properties; ``marker_topic`` is not used (Flink tracks its transactions
in its checkpoints).

Both need the Kafka connector jars (``--flink-jars`` / ``FLUVIAL_FLINK_JARS``; an error names
what is missing) and compile fluvial's small Kafka helpers against them (:mod:`.kafka_java`).
"""

from __future__ import annotations

from typing import Any

import attrs

from fluvial.errors import FluvialError

from .boot import boot
from .guarantees import check_resumable
from .jars import require_kafka_jars
from .kafka_functions import KafkaDecode, KafkaEncode
from .kafka_java import kafka_helper_jar
from .write import non_resumable_sources, uid

WATERMARK_INTERVAL_MS = 200


def is_kafka_source(source: Any) -> bool:
    from fluvial.transforms.kafka.reader import KafkaSource

    return isinstance(source, KafkaSource)


def is_kafka_sink(sink: Any) -> bool:
    from fluvial.transforms.kafka.writer import KafkaSink

    return isinstance(sink, KafkaSink)


@attrs.frozen
class ReadPlan:
    """The partitions of a read and their start and stop offsets (stops None: unbounded)."""

    partitions: tuple[tuple[str, int], ...]
    starts: tuple[int, ...]
    stops: tuple[int, ...] | None


def _consumer(cfg: dict[str, Any], label: str, options: Any) -> Any:
    from fluvial.transforms.kafka.reader import open_consumer

    return open_consumer(cfg, label, options)


def plan_read(cfg: dict[str, Any], label: str, options: Any = None) -> ReadPlan:
    """Resolve the read's partitions and offsets now (see the module docstring)."""
    from fluvial.transforms.kafka.plan import plan_offsets

    tps, starts, ends = plan_offsets(cfg, label, options, "Flink")
    return ReadPlan(tuple(tps), tuple(int(starts[tp]) for tp in tps),
                    None if ends is None else tuple(int(ends[tp]) for tp in tps))


def commit_offsets(cfg: dict[str, Any], plan: ReadPlan, label: str, options: Any = None) -> None:
    """Commit a bounded read's stop offsets to its group (after a successful run without
    checkpoints)."""
    if not cfg["group_id"] or plan.stops is None:
        return
    consumer = _consumer(cfg, label, options)
    try:
        consumer.commit({tp: max(stop, start)
                         for tp, start, stop in zip(plan.partitions, plan.starts, plan.stops)},
                        cfg["connect_timeout"])
    finally:
        consumer.close()


def kafka_name(key: str) -> str:
    """A config name as Kafka's (``max_poll_records`` -> ``max.poll.records``)."""
    return key.replace("_", ".")


def _properties(jvm: Any, entries: dict[str, Any]) -> Any:
    props = jvm.java.util.Properties()
    for k, v in entries.items():
        if v is not None:
            props.setProperty(k, str(v).lower() if isinstance(v, bool) else str(v))
    return props


def _array(gateway: Any, kind: Any, values: Any) -> Any:
    arr = gateway.new_array(kind, len(values))
    for i, v in enumerate(values):
        arr[i] = v
    return arr


def _helpers(tr: Any, label: str) -> Any:
    """The Kafka helper classes, built against the user's jars and added to the job."""
    require_kafka_jars(tr.fopts.jars, label)
    jar = kafka_helper_jar(tr.user_jars)
    if str(jar) not in tr.added_jars:
        tr.env.add_jars(jar.resolve().as_uri())
        tr.added_jars.add(str(jar))
    return tr.jvm.fluvial.flink.kafka.FluvialKafka


def translate_read(tr: Any, node: Any, source: Any, label: str) -> Any:
    """The DataStream of ReadFromKafka's ``Read`` node: script records (element, event time,
    pickled value) with fluvial's watermarks."""
    from pyflink.common import Types
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    cfg = source.cfg
    user = source.user_label(label)  # ReadFromKafka's label: records, errors, dead letters
    factory = _helpers(tr, label)
    plan = plan_read(cfg, user, tr.options)
    if not plan.partitions:
        raise FluvialError(f"transform '{label}': the topics have no partitions to read")
    tr.result.kafka_reads.append((cfg, plan, user))
    gateway = get_gateway()
    jvm = tr.jvm
    topics = [t for t, _ in plan.partitions]
    parts = [p for _, p in plan.partitions]
    props = {
        "group.id": cfg["group_id"],
        "commit.offsets.on.checkpoint": bool(cfg["group_id"]),
        "isolation.level": cfg["isolation_level"],
        "client.id.prefix": cfg["client_id"],
        "max.poll.records": cfg["max_poll_records"],
        "fetch.max.bytes": cfg["fetch_max_bytes"],
        "max.partition.fetch.bytes": cfg["max_partition_fetch_bytes"],
        **{kafka_name(k): v for k, v in cfg["consumer_config"].items()},
    }
    j_source = factory.source(
        ",".join(cfg["bootstrap_servers"]) if isinstance(cfg["bootstrap_servers"], (list, tuple))
        else cfg["bootstrap_servers"],
        _array(gateway, jvm.String, topics), _array(gateway, jvm.int, parts),
        _array(gateway, jvm.long, plan.starts),
        None if plan.stops is None else _array(gateway, jvm.long, plan.stops),
        _properties(jvm, props))
    par = max(1, min(tr.env.get_parallelism(), len(plan.partitions)))
    no_wm = jvm.org.apache.flink.api.common.eventtime.WatermarkStrategy.noWatermarks()
    j = tr.env._j_stream_execution_environment.fromSource(j_source, no_wm, label)
    j = j.setParallelism(par).uid(uid("kafka-source", label))
    raw = DataStream(j)
    dlq = tr._tag("dead-letters") if tr.graph.policy(node) == "dead_letter" else None
    slots = {tp: i for i, tp in enumerate(plan.partitions)}
    stops = None if plan.stops is None else dict(enumerate(plan.stops))
    decode = KafkaDecode(user, cfg, slots, stops, tr.options, tr.channel, dlq)
    out_type = Types.TUPLE([Types.INT(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE()),
                            Types.INT()])
    decoded = raw.process(boot(decode), out_type).name(f"{label}#decode").set_parallelism(par)
    if dlq is not None:
        tr.dead_letter_outputs.append(tr._side(decoded, dlq))
    finished = [plan.stops is not None and start >= stop
                for start, stop in zip(plan.starts, plan.stops or plan.starts)]
    wm = jvm.fluvial.flink.PartitionWatermarks(
        _array(gateway, jvm.String, topics), _array(gateway, jvm.int, parts),
        _array(gateway, jvm.boolean, finished), int(cfg["delay_ms"]),
        -1 if cfg["idle_ms"] is None else int(cfg["idle_ms"]), WATERMARK_INTERVAL_MS)
    j = decoded._j_data_stream.transform(f"{label}#watermarks", out_type.get_java_type_info(), wm)
    return DataStream(j.setParallelism(par))


def translate_write(tr: Any, node: Any, sink: Any, label: str) -> None:
    """WriteToKafka's ``Write`` node as KafkaEncode -> Flink's KafkaSink."""
    from pyflink.common import Types

    from fluvial.ptransform import composite_label
    from fluvial.transforms.kafka.writer import check_transaction_settings, default_prefix

    cfg = sink.cfg
    exactly = cfg["delivery"] == "exactly_once"
    if exactly:
        check_transaction_settings(label, cfg, tr.options)
        if tr.checkpoints.enabled:
            check_resumable(sink.exactly_once_promise(), label, tr.fopts.sink_guarantee,
                            non_resumable_sources(tr.pipeline, node))
    factory = _helpers(tr, label)
    # WriteToKafka's label ("Out", not "Out/Write"): errors, dead letters, counters and the
    # default transactional id prefix, as on the direct runner
    user = composite_label(label, "Write", sink.composite)
    policy = cfg.get("on_error") or "fail"
    if policy == "dead_letter" and tr.graph.is_downstream_of_dead_letters(node):
        policy = "fail"  # a write fed by p.dead_letters() cannot send its failures there
    dlq = tr._tag("dead-letters") if policy == "dead_letter" else None
    src = tr.wire(tr.stream_of(node.inputs[0]))
    encoded = src.ds.process(boot(KafkaEncode(user, cfg, tr.channel, policy, dlq, tr.options)),
                             Types.PRIMITIVE_ARRAY(Types.BYTE())).name(f"{label}#encode")
    if dlq is not None:
        tr.dead_letter_outputs.append(tr._side(encoded, dlq))
    prefix = cfg["transactional_id_prefix"] or default_prefix(
        user, cfg["topic"], getattr(tr.options, "checkpoint_dir", None))
    props = {
        "transaction.timeout.ms": cfg["transaction_timeout_ms"],
        "linger.ms": cfg["linger_ms"],
        "batch.size": cfg["batch_size"],
        "compression.type": cfg["compression_type"],
        "client.id": cfg["client_id"],
        **{kafka_name(k): v for k, v in cfg["producer_config"].items()},
    }
    servers = cfg["bootstrap_servers"]
    j_sink = factory.sink(",".join(servers) if isinstance(servers, (list, tuple)) else servers,
                          exactly, prefix, _properties(tr.jvm, props))
    encoded._j_data_stream.sinkTo(j_sink).name(label).uid(uid("kafka-sink", label))
