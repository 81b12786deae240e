"""The Python functions around Flink's Kafka connector (pure Python, no pyflink import):

* :class:`KafkaDecode` follows the KafkaSource (same parallelism, chained): it reads the byte
  layout of ``KafkaRecordBytes.java``, applies the read's deserializers, ``timestamp_fn`` and
  ``with_metadata`` exactly as the direct runner's reader does
  (:func:`fluvial.transforms.kafka.convert.decode_records`), sends records that fail to the
  read's error policy (dead letters with topic, partition, offset and raw key), and records
  whose event time is out of range too (``SourceContext.check_event_time``), and emits
  ``(ELEMENT, event time, pickled element, slot)`` for ``PartitionWatermarks.java``, plus a
  :data:`FINISHED` record when a bounded read's partition reaches its stop offset.
* :class:`KafkaEncode` precedes the KafkaSink: elements to Kafka records with the write's
  serializers (:class:`fluvial.transforms.kafka.convert.RecordEncoder`), as the byte layout
  ``KafkaBytesSerializer.java`` reads; elements that cannot become records follow the write's
  ``on_error`` (dead letters with the reason).

>>> raw = encode_record("out", b"k", b"v", 7)
>>> decode_sink_record(raw)
('out', b'k', b'v', 7)
"""

from __future__ import annotations

import struct
from collections import namedtuple
from typing import Any

from fluvial.errors import BadRecordError
from fluvial.metrics import MetricKey
from fluvial.source import SourceContext
from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.transforms.kafka.convert import RecordEncoder, decode_records
from fluvial.transforms.kafka.serde import deserializer

from .functions import WallClock, _Function
from .records import ELEMENT, NO_PAYLOAD, dumps, from_wire
from .stages import dead_letter

FINISHED = 16  # matches PartitionWatermarks.FINISHED
JAVA_LONG_MIN = -(2**63)

Consumed = namedtuple("Consumed", "topic partition offset key value timestamp headers")

_I = struct.Struct(">i")
_IQQ = struct.Struct(">iqq")
_Q = struct.Struct(">q")


def _bytes(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    (n,) = _I.unpack_from(buf, pos)
    pos += 4
    if n < 0:
        return None, pos
    return buf[pos:pos + n], pos + n


def decode_consumed(buf: bytes) -> Consumed:
    """A record in ``KafkaRecordBytes.java``'s layout."""
    topic, pos = _bytes(buf, 0)
    partition, offset, ts = _IQQ.unpack_from(buf, pos)
    pos += _IQQ.size
    key, pos = _bytes(buf, pos)
    value, pos = _bytes(buf, pos)
    (n,) = _I.unpack_from(buf, pos)
    pos += 4
    headers = []
    for _ in range(n):
        name, pos = _bytes(buf, pos)
        hv, pos = _bytes(buf, pos)
        headers.append(((name or b"").decode("utf-8"), hv))
    return Consumed((topic or b"").decode("utf-8"), partition, offset, key, value, ts,
                    tuple(headers))


def _put(parts: list, b: bytes | None) -> None:
    if b is None:
        parts.append(_I.pack(-1))
    else:
        parts.append(_I.pack(len(b)))
        parts.append(b)


def encode_record(topic: str, key: bytes | None, value: bytes | None, ts: int | None) -> bytes:
    """A record in ``KafkaBytesSerializer.java``'s layout."""
    parts: list = []
    _put(parts, topic.encode("utf-8"))
    _put(parts, key)
    _put(parts, value)
    parts.append(_Q.pack(JAVA_LONG_MIN if ts is None else ts))
    return b"".join(parts)


def decode_sink_record(buf: bytes) -> tuple:
    """The inverse of :func:`encode_record` (for tests and diagnostics)."""
    topic, pos = _bytes(buf, 0)
    key, pos = _bytes(buf, pos)
    value, pos = _bytes(buf, pos)
    (ts,) = _Q.unpack_from(buf, pos)
    return ((topic or b"").decode("utf-8"), key, value, None if ts == JAVA_LONG_MIN else ts)


def _none_safe(fn: Any) -> Any:
    if fn is None:
        return None
    return lambda b: None if b is None else fn(b)


class KafkaDecode(_Function):
    """Decodes the KafkaSource's records (module docstring). ``slots`` maps ``(topic,
    partition)`` to the partition's index in the read; ``stops`` the index to its stop offset
    (bounded reads)."""

    def __init__(self, label: str, cfg: dict[str, Any], slots: dict[tuple[str, int], int],
                 stops: dict[int, int] | None, options: Any, channel: str, dlq_tag: Any) -> None:
        super().__init__(channel)
        self.label = label
        self.key_deserializer = cfg["key_deserializer"]
        self.value_deserializer = cfg["value_deserializer"]
        self.timestamp_fn = cfg["timestamp_fn"]
        self.with_metadata = cfg["with_metadata"]
        self.on_error = cfg["on_error"]
        self.slots = slots
        self.stops = stops
        self.options = options
        self.dlq_tag = dlq_tag

    def open(self, runtime_context: Any = None) -> None:
        self._open_metrics()
        self.kd = _none_safe(deserializer(self.key_deserializer))
        self.vd = _none_safe(deserializer(self.value_deserializer))
        self.dead: list = []
        self.ctx = SourceContext(self.options, WallClock(), self.label, self.metrics,
                                 self.dead.append)
        self.read = MetricKey(self.label, "fluvial", "records_read")

    def process_element(self, raw: bytes, ctx: Any = None) -> list:
        self._bind(self.label)
        r = decode_consumed(raw)
        slot = self.slots[(r.topic, r.partition)]
        try:
            # event times out of range go to the policy too, as every runner checks a source's
            # records before they are emitted or move a watermark
            got = decode_records([r], self.kd, self.vd, self.timestamp_fn, self.with_metadata,
                                 self.on_error, self.ctx)
        except Exception as e:
            raise self._fail(e, r.value) from None
        out: list = [(ELEMENT, ts, dumps(value), slot) for value, ts in got]
        self.metrics.inc(self.read)  # type: ignore[union-attr]
        if self.dead:
            for rec in self.dead:
                dead_letter(self.dlq_tag, rec, out, self.metrics)
            self.dead.clear()
        if self.stops is not None and r.offset + 1 >= self.stops[slot]:
            out.append((FINISHED, 0, NO_PAYLOAD, slot))
        return out

    def close(self) -> None:
        self._close_metrics()


class KafkaEncode(_Function):
    """Elements (wire records) to the KafkaSink's byte records (module docstring). An element
    that cannot become a record follows the write's ``policy`` as on the direct runner:
    "fail" fails the job with the BadRecordError, "skip" counts it in
    ``fluvial/errors_skipped``, "dead_letter" sends it to ``dlq_tag`` with the reason."""

    def __init__(self, label: str, cfg: dict[str, Any], channel: str, policy: str = "fail",
                 dlq_tag: Any = None, options: Any = None) -> None:
        super().__init__(channel)
        self.label = label
        self.cfg = {k: cfg[k] for k in ("key_serializer", "value_serializer", "key_fn", "topic",
                                        "topic_fn", "with_timestamps")}
        self.policy = policy
        self.dlq_tag = dlq_tag
        self.options = options

    def open(self, runtime_context: Any = None) -> None:
        self._open_metrics()
        self.encoder = RecordEncoder(self.cfg, self.label)
        self.written = MetricKey(self.label, "fluvial", "elements_written")
        self.dead: list = []
        self.ctx = SourceContext(self.options, WallClock(), self.label, self.metrics,
                                 self.dead.append if self.dlq_tag is not None else None)

    def process_element(self, rec: Any, ctx: Any = None) -> list:
        self._bind(self.label)
        wv = from_wire(rec)
        try:
            (topic, k, v, ts), = self.encoder.records([wv])
        except BadRecordError as e:
            if self.policy == "fail":
                raise self._fail(e, wv.value) from None
            return self._bad(e, wv)
        except Exception as e:
            raise self._fail(e, wv.value) from None
        self.metrics.inc(self.written)  # type: ignore[union-attr]
        return [encode_record(topic, k, v, ts)]

    def _bad(self, e: BadRecordError, wv: Any) -> list:
        out: list = []
        try:
            self.ctx.handle_error(ValueError(e.reason), wv.value, policy=self.policy,
                                  timestamp_ms=None if wv.timestamp == MIN_TIMESTAMP_MS
                                  else wv.timestamp, topic=self.cfg["topic"])
        except Exception as err:
            raise self._fail(err, wv.value) from None
        for d in self.dead:
            dead_letter(self.dlq_tag, d, out, self.metrics)
        self.dead.clear()
        return out

    def close(self) -> None:
        self._close_metrics()
