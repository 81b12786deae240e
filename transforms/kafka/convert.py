"""Kafka records to elements and elements to Kafka records: the conversions every runner's Kafka
IO shares, so a record decodes (and a dead letter looks) the same on each of them.

* :func:`decode_columns`: consumed records of one partition, as columns (what a client
  backend's record access gives, :mod:`fluvial.transforms.kafka.clients.base`), to
  ``(element, timestamp_ms)`` pairs, with the read's deserializers, ``timestamp_fn`` and
  ``with_metadata``; a record that fails goes to the read's error policy
  (:meth:`fluvial.source.SourceContext.handle_error`) with its topic, partition, offset, raw
  key and timestamp, and so does a record whose event time is out of range
  (:meth:`~fluvial.source.SourceContext.check_event_time`): it is never handed out, so it
  never moves a partition's watermark. :func:`decode_records` does the same for record objects
  (anything with ``topic``, ``partition``, ``offset``, ``key``, ``value``, ``timestamp``,
  ``headers``).
* :class:`RecordEncoder`: elements to ``(topic, key bytes, value bytes, timestamp ms or None)``
  with the write's serializers, ``key_fn``, ``topic_fn`` and ``with_timestamps``; an element
  that cannot become a record raises :class:`~fluvial.errors.BadRecordError`.

>>> from fluvial.values import WindowedValue
>>> enc = RecordEncoder({"key_serializer": "str", "value_serializer": "json", "key_fn": None,
...                      "topic": "out", "topic_fn": None, "with_timestamps": True}, "Write")
>>> enc.records([WindowedValue(("k", {"n": 1}), 5, (), None)])
[('out', b'k', b'{"n":1}', 5)]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fluvial.errors import BadRecordError
from fluvial.source import SourceContext
from fluvial.timeutil import MIN_EVENT_TIME_MS, MIN_TIMESTAMP_MS

from .record import KafkaRecord
from .serde import _to_bytes, serializer


def decode_columns(tp: tuple[str, int], keys: list, values: list, stamps: list, offsets: list,
                   headers: list | None, kd: Callable[[Any], Any] | None,
                   vd: Callable[[Any], Any] | None,
                   timestamp_fn: Callable[[KafkaRecord], int] | None, with_metadata: bool,
                   on_error: str | None, ctx: SourceContext,
                   latest_ms: int | None = None) -> list:
    """``(element, timestamp_ms)`` for each record of partition ``tp`` given as columns (raw
    keys, raw values, timestamps, offsets and, needed only with ``with_metadata`` or
    ``timestamp_fn``, header tuples) that decodes and whose event time is in range;
    ``kd`` / ``vd``: deserializers (never called with None) or None for raw bytes. A record
    that fails to decode goes to ``ctx.handle_error``; one whose event time (the record's, or
    ``timestamp_fn``'s) is out of range to ``ctx.check_event_time`` (``latest_ms``: the
    context's :meth:`~fluvial.source.SourceContext.latest_event_time`, found here when None).
    Both with the raw value as payload and the record's topic, partition, offset and raw key."""
    topic, part = tp
    latest = ctx.latest_event_time() if latest_ms is None else latest_ms
    out = []
    for i, (kb, vb, ts, off) in enumerate(zip(keys, values, stamps, offsets)):
        try:
            k = kd(kb) if kd is not None and kb is not None else kb
            v = vd(vb) if vd is not None and vb is not None else vb
            if with_metadata or timestamp_fn is not None:
                rec = KafkaRecord(topic, part, off, k, v, ts,
                                  tuple(headers[i] or ()) if headers is not None else ())
                t = int(timestamp_fn(rec)) if timestamp_fn is not None else ts
                el = rec if with_metadata else (k, v)
            else:
                t, el = ts, (k, v)
        except Exception as e:  # noqa: BLE001 - routed by the error policy
            ctx.handle_error(e, vb, policy=on_error, timestamp_ms=ts, topic=topic, partition=part,
                             offset=off, key=kb)
            continue
        if MIN_EVENT_TIME_MS <= t <= latest or ctx.check_event_time(
                t, vb, on_error, latest, topic=topic, partition=part, offset=off, key=kb):
            out.append((el, t))
    return out


def decode_records(chunk: list, kd: Callable[[Any], Any] | None, vd: Callable[[Any], Any] | None,
                   timestamp_fn: Callable[[KafkaRecord], int] | None, with_metadata: bool,
                   on_error: str | None, ctx: SourceContext) -> list:
    """:func:`decode_columns` for records given as objects (each with ``topic``,
    ``partition``, ``offset``, ``key``, ``value``, ``timestamp``, ``headers``)."""
    out: list = []
    latest = ctx.latest_event_time()
    for r in chunk:
        out += decode_columns((r.topic, r.partition), [r.key], [r.value], [r.timestamp],
                              [r.offset], [r.headers], kd, vd, timestamp_fn, with_metadata,
                              on_error, ctx, latest)
    return out


class RecordEncoder:
    """Elements to Kafka records for the write configured by ``cfg`` (module docstring), on
    every runner. ``zero_ok``: the client can write the timestamp 0 (librdkafka reads 0 as
    "now", so the confluent-kafka backend passes False and such an element is a bad record).

    :meth:`record` converts one element; :meth:`fast` a whole batch in the common case
    (``fast_ok``: no ``key_fn``, no ``topic_fn``, element timestamps), raising on anything
    else so that the caller goes element by element; :meth:`records` every element of a batch,
    raising at the first that cannot become a record."""

    def __init__(self, cfg: dict[str, Any], label: str, zero_ok: bool = True) -> None:
        self.label = label
        self.ks = serializer(cfg["key_serializer"])
        self.vs = serializer(cfg["value_serializer"])
        self.key_fn: Callable[[Any], Any] | None = cfg["key_fn"]
        self.topic = cfg["topic"]
        self.topic_fn: Callable[[Any], str] | None = cfg["topic_fn"]
        self.with_timestamps = cfg["with_timestamps"]
        self.zero_ok = zero_ok
        self.fast_ok = self.key_fn is None and self.topic_fn is None and self.with_timestamps

    def records(self, batch: list) -> list[tuple]:
        """(topic, key bytes, value bytes, timestamp ms or None) for each element; an element
        that cannot become a record raises :class:`~fluvial.errors.BadRecordError`."""
        if self.fast_ok:
            try:
                return self.fast(batch)
            except Exception:  # noqa: BLE001 - found again element by element
                pass
        return [self.record(wv) for wv in batch]

    def fast(self, batch: list) -> list[tuple]:
        """The common case: (key, value) pairs to one topic at their event times. Raises on
        anything else, and the caller goes element by element. With the "bytes" serializers
        (bytes in, bytes out) no serializer is called."""
        ks, vs, topic, record_time = self.ks, self.vs, self.topic, self.record_time
        out = []
        append = out.append
        if ks is _to_bytes and vs is _to_bytes:
            for wv in batch:
                k, v = wv.value
                ts = wv.timestamp
                if ts <= 0:
                    ts = record_time(ts, wv.value)
                if (k.__class__ is not bytes and k is not None) or \
                        (v.__class__ is not bytes and v is not None):
                    raise ValueError("element by element")
                append((topic, k, v, ts))
            return out
        for wv in batch:
            k, v = wv.value
            ts = wv.timestamp
            if ts <= 0:
                ts = record_time(ts, wv.value)
            append((topic, None if k is None else ks(k), None if v is None else vs(v), ts))
        return out

    def record_time(self, ts: int, el: Any) -> int | None:
        """The record timestamp of an element whose event time ``ts`` is not after the epoch:
        None (the producer's clock) for an element without event time; 0 where the client can
        write it; else :class:`~fluvial.errors.BadRecordError` saying why."""
        if ts == MIN_TIMESTAMP_MS:  # no event time: the producer's clock
            return None
        if ts < 0:
            raise BadRecordError(
                self.label, el, f"its event time {ts} ms is before 1970, and Kafka record "
                "timestamps are epoch milliseconds >= 0; pass with_timestamps=False to use "
                "the producer's clock, or re-timestamp the elements")
        if not self.zero_ok:
            raise BadRecordError(
                self.label, el, "its event time is 0 ms (1970-01-01T00:00:00Z), which the "
                "confluent-kafka client cannot write (librdkafka reads timestamp 0 as 'now'); "
                "pass with_timestamps=False, or client='kafka-python'")
        return ts

    def record(self, wv: Any) -> tuple:
        """One element as a record; raises :class:`~fluvial.errors.BadRecordError` saying why
        it cannot be one."""
        el = wv.value
        if self.key_fn is not None:
            try:
                k, v = self.key_fn(el), el
            except Exception as e:  # noqa: BLE001 - user code: a bad element
                raise BadRecordError(self.label, el, f"key_fn raised {type(e).__name__}: "
                                     f"{e}") from e
        else:
            try:
                k, v = el
            except (TypeError, ValueError):
                raise BadRecordError(
                    self.label, el, "elements must be (key, value) pairs; pass key_fn=... "
                    "to write plain values") from None
        ts = None
        if self.with_timestamps:
            ts = wv.timestamp
            if ts <= 0:
                ts = self.record_time(ts, el)
        try:
            kb = None if k is None else self.ks(k)
        except (TypeError, ValueError) as e:
            raise BadRecordError(self.label, el, f"the key serializer failed: {e}") from e
        try:
            vb = None if v is None else self.vs(v)
        except (TypeError, ValueError) as e:
            raise BadRecordError(self.label, el, f"the value serializer failed: {e}") from e
        try:
            topic = self.topic_fn(el) if self.topic_fn is not None else self.topic
        except Exception as e:  # noqa: BLE001 - user code: a bad element
            raise BadRecordError(self.label, el, f"topic_fn raised {type(e).__name__}: "
                                 f"{e}") from e
        return (topic, kb, vb, ts)
