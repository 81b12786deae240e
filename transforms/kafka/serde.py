"""Key and value (de)serializers for Kafka IO: ``"bytes"``, ``"str"`` (UTF-8), ``"json"`` or a
callable. ``None`` (a null key or a tombstone value) passes through unchanged.

``"json"`` is strict JSON (RFC 8259) both ways: UTF-8 text; ``NaN``, ``Infinity`` and
``-Infinity``, which Python's json module reads and writes by default, are refused. Reading,
such a record fails like any undecodable record (the source's ``on_error``); writing, a value
holding a non-finite float fails the serializer with a ValueError naming the problem (the
writer's ``on_error``: a BadRecordError, or a dead letter).

>>> deserializer("json")(b'{"a": 1}')
{'a': 1}
>>> deserializer("json")(b'{"a": NaN}')
Traceback (most recent call last):
...
ValueError: JSON does not allow NaN (strict JSON, RFC 8259)
>>> serializer("json")({"a": float("inf")})
Traceback (most recent call last):
...
ValueError: JSON cannot hold the non-finite float in this value (NaN or Infinity; strict JSON, RFC 8259): {'a': inf}
>>> serializer("str")("héllo")
b'h\\xc3\\xa9llo'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fluvial.errors import PipelineConstructionError

Deserializer = Callable[[bytes], Any]
Serializer = Callable[[Any], bytes]

NAMES = ("bytes", "str", "json")


def _identity(b: Any) -> Any:
    return b


def _utf8(b: bytes) -> str:
    return b.decode("utf-8")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON does not allow {name} (strict JSON, RFC 8259)")


_DECODE = json.JSONDecoder(parse_constant=_reject_constant).decode
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _json_load(b: bytes) -> Any:
    return _DECODE(b.decode("utf-8") if not isinstance(b, str) else b)


def deserializer(spec: str | Deserializer, where: str = "ReadFromKafka") -> Deserializer | None:
    """The function for ``spec``; None for "bytes" (nothing to do)."""
    if spec == "bytes":
        return None
    if spec == "str":
        return _utf8
    if spec == "json":
        return _json_load
    if callable(spec):
        return spec
    raise PipelineConstructionError(
        f"{where}: a deserializer must be one of {', '.join(map(repr, NAMES))} or a callable "
        f"bytes -> value, got {spec!r}"
    )


def _to_bytes(v: Any) -> bytes:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"serializer 'bytes' needs bytes, got {type(v).__name__}: {v!r:.80}")


def _str_bytes(v: Any) -> bytes:
    return v.encode("utf-8") if isinstance(v, str) else str(v).encode("utf-8")


def _json_dump(v: Any) -> bytes:
    try:
        return _ENCODE(v).encode("utf-8")
    except ValueError as e:
        if "Out of range float" not in str(e):
            raise
        raise ValueError("JSON cannot hold the non-finite float in this value (NaN or "
                         f"Infinity; strict JSON, RFC 8259): {v!r:.200}") from None


def serializer(spec: str | Serializer, where: str = "WriteToKafka") -> Serializer:
    if spec == "bytes":
        return _to_bytes
    if spec == "str":
        return _str_bytes
    if spec == "json":
        return _json_dump
    if callable(spec):
        return spec
    raise PipelineConstructionError(
        f"{where}: a serializer must be one of {', '.join(map(repr, NAMES))} or a callable "
        f"value -> bytes, got {spec!r}"
    )


__all__ = ["deserializer", "serializer", "Deserializer", "Serializer"]
