"""Kafka records to elements and elements to Kafka records: the conversions every runner's Kafka
IO shares, so a record decodes (and a dead letter looks) the same on each of them.

* :func:`decode_columns`: consumed records of one partition, as columns (what a client
  backend's record access gives, :mod:`fluvial.transforms.kafka.clients.base`), to
  ``(element, timestamp_ms)`` pairs, with the read's deserializers, ``timestamp_fn`` and
  ``with_metadata``; a record that fails goes to ``handle_error``
  (:meth:`fluvial.source.SourceContext.handle_error`) with its topic, partition, offset, raw
  key and timestamp. :func:`decode_records` does the same for record objects (anything with
  ``topic``, ``partition``, ``offset``, ``key``, ``value``, ``timestamp``, ``headers``).
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
from fluvial.timeutil import MIN_TIMESTAMP_MS

from .record import KafkaRecord
from .serde import serializer


def decode_columns(tp: tuple[str, int], keys: list, values: list, stamps: list, offsets: list,
                   headers: list | None, kd: Callable[[Any], Any] | None,
                   vd: Callable[[Any], Any] | None,
                   timestamp_fn: Callable[[KafkaRecord], int] | None, with_metadata: bool,
                   on_error: str | None, handle_error: Callable[..., None]) -> list:
    """``(element, timestamp_ms)`` for each record of partition ``tp`` given as columns (raw
    keys, raw values, timestamps, offsets and, needed only with ``with_metadata`` or
    ``timestamp_fn``, header tuples) that decodes; ``kd`` / ``vd``: deserializers (never called
    with None) or None for raw bytes. A record that fails goes to ``handle_error``."""
    topic, part = tp
    out = []
    for i, (kb, vb, ts, off) in enumerate(zip(keys, values, stamps, offsets)):
        try:
            k = kd(kb) if kd is not None and kb is not None else kb
            v = vd(vb) if vd is not None and vb is not None else vb
            if with_metadata or timestamp_fn is not None:
                rec = KafkaRecord(topic, part, off, k, v, ts,
                                  tuple(headers[i] or ()) if headers is not None else ())
                t = int(timestamp_fn(rec)) if timestamp_fn is not None else ts
                out.append((rec if with_metadata else (k, v), t))
            else:
                out.append(((k, v), ts))
        except Exception as e:  # noqa: BLE001 - routed by the error policy
            handle_error(e, vb, policy=on_error, timestamp_ms=ts, topic=topic, partition=part,
                         offset=off, key=kb)
    return out


def decode_records(chunk: list, kd: Callable[[Any], Any] | None, vd: Callable[[Any], Any] | None,
                   timestamp_fn: Callable[[KafkaRecord], int] | None, with_metadata: bool,
                   on_error: str | None, handle_error: Callable[..., None]) -> list:
    """:func:`decode_columns` for records given as objects (each with ``topic``,
    ``partition``, ``offset``, ``key``, ``value``, ``timestamp``, ``headers``)."""
    out: list = []
    for r in chunk:
        out += decode_columns((r.topic, r.partition), [r.key], [r.value], [r.timestamp],
                              [r.offset], [r.headers], kd, vd, timestamp_fn, with_metadata,
                              on_error, handle_error)
    return out


class RecordEncoder:
    """Elements to Kafka records for the write configured by ``cfg`` (module docstring)."""

    def __init__(self, cfg: dict[str, Any], label: str) -> None:
        self.label = label
        self.ks = serializer(cfg["key_serializer"])
        self.vs = serializer(cfg["value_serializer"])
        self.key_fn: Callable[[Any], Any] | None = cfg["key_fn"]
        self.topic = cfg["topic"]
        self.topic_fn: Callable[[Any], str] | None = cfg["topic_fn"]
        self.with_timestamps = cfg["with_timestamps"]

    def records(self, batch: list) -> list[tuple]:
        """(topic, key bytes, value bytes, timestamp ms or None) for each element; an element
        that cannot become a record raises :class:`~fluvial.errors.BadRecordError`."""
        ks, vs, key_fn, topic, topic_fn = self.ks, self.vs, self.key_fn, self.topic, self.topic_fn
        with_ts = self.with_timestamps
        out = []
        for wv in batch:
            el = wv.value
            if key_fn is not None:
                k, v = key_fn(el), el
            else:
                try:
                    k, v = el
                except (TypeError, ValueError):
                    raise BadRecordError(
                        self.label, el, "elements must be (key, value) pairs; pass key_fn=... "
                        "to write plain values") from None
            ts = wv.timestamp if with_ts else None
            if ts == MIN_TIMESTAMP_MS:  # no event time: the producer's clock
                ts = None
            elif ts is not None and ts < 0:
                raise BadRecordError(
                    self.label, el, f"its event time {ts} ms is before 1970, and Kafka record "
                    "timestamps are epoch milliseconds >= 0; pass with_timestamps=False to use "
                    "the producer's clock, or re-timestamp the elements")
            try:
                kb = None if k is None else ks(k)
            except (TypeError, ValueError) as e:
                raise BadRecordError(self.label, el, f"the key serializer failed: {e}") from e
            try:
                vb = None if v is None else vs(v)
            except (TypeError, ValueError) as e:
                raise BadRecordError(self.label, el, f"the value serializer failed: {e}") from e
            out.append((topic_fn(el) if topic_fn is not None else topic, kb, vb, ts))
        return out
