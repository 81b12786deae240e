"""ReadFromKafka on Beam without Java: a Kafka client (confluent-kafka or kafka-python, chosen
as on the direct runner: ``client=`` or ``--kafka-client``) inside a splittable DoFn.

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
  dead-letter record carries topic, partition, offset, raw key and payload, and the user's
  label of the read (``"Orders"``, not ``"Orders/Read"``).

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

from fluvial.errors import UnsupportedFeatureError
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


def _consumer(cfg: dict[str, Any], label: str, options: Any) -> Any:
    from fluvial.transforms.kafka.reader import open_consumer

    return open_consumer(cfg, label, options)


class PlanKafkaReadFn(beam.DoFn):
    """Impulse -> one PartitionRange per partition with records to read."""

    def __init__(self, cfg: dict[str, Any], label: str, options: Any = None) -> None:
        self.cfg = cfg
        self.label = label
        self.options = options

    def process(self, _impulse):
        from fluvial.transforms.kafka.plan import plan_offsets

        tps, starts, ends = plan_offsets(self.cfg, self.label, self.options, "Beam")
        for tp in tps:
            if starts[tp] < ends[tp]:
                yield PartitionRange(tp[0], tp[1], starts[tp], ends[tp])


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
    instance. Gives up with a clear error when no record arrives for ``broker_timeout``
    seconds (the transform's, else ``--kafka-broker-timeout``) while offsets remain (the broker
    is gone or lost them, or they are not readable)."""

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
        from fluvial.transforms.kafka.liveness import broker_timeout

        if not getattr(self, "ready", False):
            install_bridge()
            self._serde()
        label = self.label
        if self.consumer is None:
            self.consumer = _consumer(self.cfg, label, self.options)
        consumer = self.consumer
        tp = (element.topic, element.partition)
        start = tracker.current_restriction().start
        consumer.assign({tp: start})
        dead: list = []
        ctx = SourceContext(self.options, _WallClock(), label, STEP_BRIDGE, dead.append)
        idle_limit = broker_timeout(self.cfg.get("broker_timeout"), self.options)
        last_progress = time.monotonic()
        offset = consumer.access.offset
        while True:
            recs = [r for c in consumer.fetch(self.cfg["max_poll_records"],
                                              self.cfg["poll_timeout_ms"] / 1000)
                    if c.tp == tp for r in c.recs]
            if not recs:
                stop = tracker.current_restriction().stop
                pos = consumer.position(tp)
                if pos is not None and pos >= stop:
                    # the last offsets hold no records (e.g. transaction markers): done
                    tracker.try_claim(stop)
                    return self._done(element, stop)
                if time.monotonic() - last_progress > idle_limit:
                    from fluvial.transforms.kafka.errors import KafkaIOError

                    raise KafkaIOError(
                        f"transform '{label}': no record of {element.topic}/"
                        f"{element.partition} arrived for {idle_limit:g}s at offset "
                        f"{pos} (reading up to {stop}); check the broker, or raise "
                        "broker_timeout")
                continue
            last_progress = time.monotonic()
            for r in recs:
                if not tracker.try_claim(offset(r)):
                    return None
                out = self._convert(r, ctx, tp)
                if out is not None:
                    yield out
                if dead:
                    for rec in dead:
                        yield dead_letter_output(rec)
                    dead.clear()
            if offset(recs[-1]) + 1 >= tracker.current_restriction().stop:
                return self._done(element, tracker.current_restriction().stop)

    def _convert(self, r: Any, ctx: SourceContext, tp: tuple[str, int]) -> Any:
        """The record as a timestamped element, or None when it went to the error policy (it
        did not decode, or its event time is out of range: :func:`~fluvial.transforms.kafka.
        convert.decode_columns`, as on the other runners)."""
        from fluvial.transforms.kafka.convert import decode_columns

        cfg = self.cfg
        tsf, meta = cfg["timestamp_fn"], cfg["with_metadata"]
        acc = self.consumer.access
        one = [r]
        got = decode_columns(tp, acc.keys(one), acc.values(one), acc.timestamps(one),
                             acc.offsets(one), acc.headers(one) if meta or tsf is not None
                             else None, self.kd, self.vd, tsf, meta, cfg["on_error"], ctx)
        if not got:
            return None
        [(value, ts)] = got
        return BeamTimestampedValue(value, to_beam_ts(ts))

    def _done(self, element: PartitionRange, stop: int) -> None:
        """The partition's range is read: commit its end to ``group_id``."""
        if not self.cfg["group_id"] or stop != element.stop:
            return
        try:
            self.consumer.commit({(element.topic, element.partition): stop},
                                 self.cfg["connect_timeout"])
        except Exception:  # noqa: BLE001 - a failed offset commit must not fail the read
            pass

    def teardown(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None


class ReadKafkaRangeFn(ReadKafkaPartitionFn):
    """The same read as a plain DoFn (each partition's range read whole, no dynamic splits),
    for Beam's BundleBasedDirectRunner: it checks a splittable DoFn's restriction before
    iterating the outputs, and cannot run one with tagged outputs (the dead-letter output)."""

    def process(self, element: PartitionRange):
        return self._read(element, OffsetRestrictionTracker(OffsetRange(element.start,
                                                                         element.stop)))


def plan_kafka_read(bp: Any, source: Any, label: str, options: Any = None) -> Any:
    """``Impulse | plan``: the PCollection of PartitionRanges the read DoFn consumes."""
    return (
        bp
        | f"{label}#impulse" >> beam.Impulse()
        | f"{label}#partitions" >> beam.ParDo(PlanKafkaReadFn(
            source.cfg, source.user_label(label), options))
    )
