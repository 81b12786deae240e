"""Kafka records to elements and elements to Kafka records: the conversions every runner's Kafka
IO shares, so a record decodes (and a dead letter looks) the same on each of them.

* :func:`decode_records`: consumed records (anything with ``topic``, ``partition``, ``offset``,
  ``key``, ``value``, ``timestamp``, ``headers``) to ``(element, timestamp_ms)`` pairs, with the
  read's deserializers, ``timestamp_fn`` and ``with_metadata``; a record that fails goes to
  ``handle_error`` (:meth:`fluvial.source.SourceContext.handle_error`) with its topic,
  partition, offset, raw key and timestamp.
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


def decode_records(chunk: list, kd: Callable[[Any], Any] | None, vd: Callable[[Any], Any] | None,
                   timestamp_fn: Callable[[KafkaRecord], int] | None, with_metadata: bool,
                   on_error: str | None, handle_error: Callable[..., None]) -> list:
    """``(element, timestamp_ms)`` for each record of ``chunk`` that decodes (see the module
    docstring); ``kd`` / ``vd`` are None-safe deserializers or None for raw bytes."""
    out = []
    for r in chunk:
        try:
            k = kd(r.key) if kd else r.key
            v = vd(r.value) if vd else r.value
            if with_metadata or timestamp_fn is not None:
                rec = KafkaRecord(r.topic, r.partition, r.offset, k, v, r.timestamp,
                                  tuple(r.headers or ()))
                ts = int(timestamp_fn(rec)) if timestamp_fn is not None else r.timestamp
                out.append((rec if with_metadata else (k, v), ts))
            else:
                out.append(((k, v), r.timestamp))
        except Exception as e:  # noqa: BLE001 - routed by the error policy
            handle_error(
                e, r.value, policy=on_error, timestamp_ms=r.timestamp,
                topic=r.topic, partition=r.partition, offset=r.offset, key=r.key,
            )
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
