"""ReadFromKafka on Beam without Java: kafka-python inside a splittable DoFn.

``Impulse -> plan -> read``:

* **plan** (:class:`PlanKafkaReadFn`): when the pipeline runs, connects, checks (or creates) the
  topics, lists the partitions and resolves ``start`` and ``stop`` to offsets, exactly as the
  direct runner's reader does (``stop="end"``: the ends found now). It emits one
  :class:`PartitionRange` per partition with something to read.
* **read** (:class:`ReadKafkaPartitionFn`): a splittable DoFn whose restriction is the
  partition's ``OffsetRange`` (one initial restriction per partition, so Beam can read the
  partitions in parallel, split a range dynamically and checkpoint a partly read one). It
  claims each record's offset before emitting it, at the record's timestamp (or
  ``timestamp_fn``), deserialized; records that fail to deserialize follow the source's error
  policy through the same :class:`~fluvial.source.SourceContext` as on the direct runner, so a
  dead-letter record carries topic, partition, offset, raw key and payload.

Only bounded reads (``stop="end"`` or a stop offset per partition): see
:func:`check_bounded`.

>>> PartitionRange("orders", 0, 5, 9).size
4
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.window import TimestampedValue as BeamTimestampedValue

from fluvial.errors import FluvialError, UnsupportedFeatureError, UserCodeError
from fluvial.source import SourceContext

from .convert import RUNNER, to_beam_ts
from .deadletters import dead_letter_output
from .metrics import STEP_BRIDGE, install_bridge


class PartitionRange(NamedTuple):
    """Offsets ``[start, stop)`` of one partition to read."""

    topic: str
    partition: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


def is_kafka_source(source: Any) -> bool:
    from fluvial.transforms.kafka.reader import KafkaSource

    return isinstance(source, KafkaSource)


def check_bounded(source: Any, label: str) -> None:
    """Refuse an unbounded ReadFromKafka (no ``stop``), naming the transform."""
    if source.cfg["stop"] is not None:
        return
    raise UnsupportedFeatureError(
        RUNNER, label,
        "ReadFromKafka without stop is unbounded. On Beam fluvial reads Kafka with a splittable "
        "DoFn over offset ranges, which needs an end offset per partition: Beam's local "
        "FnApiRunner runs a stage to completion before the next one starts (an endless read "
        "would never hand its records downstream) and the BundleBasedDirectRunner has no "
        "splittable-DoFn checkpointing for an endless restriction. Pass stop='end' (or "
        "stop={(topic, partition): offset}) for a bounded read, or use the direct runner for "
        "unbounded reads",
    )


class _WallClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)


def _consumer(cfg: dict[str, Any], label: str) -> Any:
    from kafka import KafkaConsumer

    from fluvial.transforms.kafka.client import connect

    return connect(
        KafkaConsumer, label, cfg["bootstrap_servers"], cfg["connect_timeout"],
        group_id=cfg["group_id"], enable_auto_commit=False, auto_offset_reset="earliest",
        isolation_level=cfg["isolation_level"], max_poll_records=cfg["max_poll_records"],
        fetch_max_bytes=cfg["fetch_max_bytes"],
        max_partition_fetch_bytes=cfg["max_partition_fetch_bytes"],
        client_id=cfg["client_id"], **cfg["consumer_config"],
    )


class PlanKafkaReadFn(beam.DoFn):
    """Impulse -> one PartitionRange per partition with records to read."""

    def __init__(self, cfg: dict[str, Any], label: str) -> None:
        self.cfg = cfg
        self.label = label

    def process(self, _impulse):
        from kafka import TopicPartition

        from fluvial.transforms.kafka.client import KafkaIOError, ensure_topics
        from fluvial.transforms.kafka.offsets import end_offsets, start_offsets

        cfg = self.cfg
        consumer = _consumer(cfg, self.label)
        try:
            topics = cfg["topics"] or sorted({t for t, _ in cfg["partitions"]})
            ensure_topics(self.label, consumer, topics, cfg["create_partitions"],
                          cfg["bootstrap_servers"], cfg["connect_timeout"])
            if cfg["partitions"]:
                tps = [TopicPartition(t, p) for t, p in cfg["partitions"]]
            else:
                tps = [TopicPartition(t, p) for t in topics
                       for p in sorted(consumer.partitions_for_topic(t))]
            consumer.assign(tps)
            stop = cfg["stop"]
            if stop == "end":
                ends = end_offsets(consumer, tps)
            else:
                missing = [f"{tp.topic}/{tp.partition}" for tp in tps
                           if (tp.topic, tp.partition) not in stop]
                if missing:
                    raise KafkaIOError(
                        f"transform '{self.label}': stop gives no offset for partition(s) "
                        f"{', '.join(missing)}; on Beam a bounded read needs a stop offset for "
                        "every partition it reads (or stop='end')")
                ends = {tp: int(stop[(tp.topic, tp.partition)]) for tp in tps}
            starts = start_offsets(consumer, tps, cfg["start"], ends)
        finally:
            consumer.close(autocommit=False)
        for tp in tps:
            if starts[tp] < ends[tp]:
                yield PartitionRange(tp.topic, tp.partition, starts[tp], ends[tp])


class _OffsetRanges(RestrictionProvider):
    """The restriction of a PartitionRange: its OffsetRange, one per partition."""

    def initial_restriction(self, element: PartitionRange) -> OffsetRange:
        return OffsetRange(element.start, element.stop)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element: PartitionRange, restriction: OffsetRange) -> int:
        return restriction.size()


class ReadKafkaPartitionFn(beam.DoFn):
    """Reads the claimed offsets of one partition (a splittable DoFn); one consumer per DoFn
    instance. Gives up with a clear error when no record arrives for ``connect_timeout``
    seconds while offsets remain (the broker lost them, or they are not readable)."""

    def __init__(self, cfg: dict[str, Any], label: str, options: Any) -> None:
        self.cfg = cfg
        self.label = label
        self.options = options
        self.consumer: Any = None

    def setup(self) -> None:
        install_bridge()
        self._serde()

    def _serde(self) -> None:
        """The deserializers (also called from process: Beam's BundleBasedDirectRunner does not
        call setup on a splittable DoFn)."""
        from fluvial.transforms.kafka.serde import deserializer

        def none_safe(fn: Any) -> Any:
            return None if fn is None else (lambda b: None if b is None else fn(b))

        self.kd = none_safe(deserializer(self.cfg["key_deserializer"]))
        self.vd = none_safe(deserializer(self.cfg["value_deserializer"]))
        self.ready = True

    def start_bundle(self) -> None:
        install_bridge()

    def process(self, element: PartitionRange,
                tracker=beam.DoFn.RestrictionParam(_OffsetRanges())):
        return self._read(element, tracker)

    def _read(self, element: PartitionRange, tracker: Any):
        from kafka import TopicPartition

        if not getattr(self, "ready", False):
            install_bridge()
            self._serde()
        if self.consumer is None:
            self.consumer = _consumer(self.cfg, self.label)
        consumer = self.consumer
        tp = TopicPartition(element.topic, element.partition)
        start = tracker.current_restriction().start
        consumer.assign([tp])
        consumer.seek(tp, start)
        dead: list = []
        ctx = SourceContext(self.options, _WallClock(), self.label, STEP_BRIDGE, dead.append)
        idle_limit = self.cfg["connect_timeout"]
        last_progress = time.monotonic()
        while True:
            got = consumer.poll(timeout_ms=self.cfg["poll_timeout_ms"])
            recs = got.get(tp, [])
            if not recs:
                stop = tracker.current_restriction().stop
                if consumer.position(tp) >= stop:
                    # the last offsets hold no records (e.g. transaction markers): done
                    tracker.try_claim(stop)
                    return self._done(element, stop)
                if time.monotonic() - last_progress > idle_limit:
                    from fluvial.transforms.kafka.client import KafkaIOError

                    raise KafkaIOError(
                        f"transform '{self.label}': no record of {element.topic}/"
                        f"{element.partition} arrived for {idle_limit:g}s at offset "
                        f"{consumer.position(tp)} (reading up to {stop}); check the broker, or "
                        "raise connect_timeout")
                continue
            last_progress = time.monotonic()
            for r in recs:
                if not tracker.try_claim(r.offset):
                    return None
                out = self._convert(r, ctx)
                if out is not None:
                    yield out
                if dead:
                    for rec in dead:
                        yield dead_letter_output(rec)
                    dead.clear()
            if recs[-1].offset + 1 >= tracker.current_restriction().stop:
                return self._done(element, tracker.current_restriction().stop)

    def _convert(self, r: Any, ctx: SourceContext) -> Any:
        from fluvial.transforms.kafka.record import KafkaRecord

        cfg = self.cfg
        tsf, meta = cfg["timestamp_fn"], cfg["with_metadata"]
        try:
            k = self.kd(r.key) if self.kd else r.key
            v = self.vd(r.value) if self.vd else r.value
            if meta or tsf is not None:
                rec = KafkaRecord(r.topic, r.partition, r.offset, k, v, r.timestamp,
                                  tuple(r.headers or ()))
                ts = int(tsf(rec)) if tsf is not None else r.timestamp
                value = rec if meta else (k, v)
            else:
                value, ts = (k, v), r.timestamp
        except FluvialError:
            raise
        except Exception as e:  # noqa: BLE001 - routed by the error policy
            try:
                ctx.handle_error(e, r.value, policy=cfg["on_error"], timestamp_ms=r.timestamp,
                                 topic=r.topic, partition=r.partition, offset=r.offset, key=r.key)
            except UserCodeError:
                raise
            return None
        return BeamTimestampedValue(value, to_beam_ts(ts))

    def _done(self, element: PartitionRange, stop: int) -> None:
        """The partition's range is read: commit its end to ``group_id``."""
        if not self.cfg["group_id"] or stop != element.stop:
            return
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        try:
            tp = TopicPartition(element.topic, element.partition)
            self.consumer.commit({tp: OffsetAndMetadata(stop, "", -1)})
        except Exception:  # noqa: BLE001 - a failed offset commit must not fail the read
            pass

    def teardown(self) -> None:
        if self.consumer is not None:
            self.consumer.close(autocommit=False)
            self.consumer = None


class ReadKafkaRangeFn(ReadKafkaPartitionFn):
    """The same read as a plain DoFn (each partition's range read whole, no dynamic splits),
    for Beam's BundleBasedDirectRunner: it checks a splittable DoFn's restriction before
    iterating the outputs, and cannot run one with tagged outputs (the dead-letter output)."""

    def process(self, element: PartitionRange):
        return self._read(element, OffsetRestrictionTracker(OffsetRange(element.start,
                                                                         element.stop)))


def plan_kafka_read(bp: Any, source: Any, label: str) -> Any:
    """``Impulse | plan``: the PCollection of PartitionRanges the read DoFn consumes."""
    return (
        bp
        | f"{label}#impulse" >> beam.Impulse()
        | f"{label}#partitions" >> beam.ParDo(PlanKafkaReadFn(source.cfg, label))
    )
