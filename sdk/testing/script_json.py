"""The JSON form of a :class:`~fluvial.testing.test_script.TestScript`, for players outside
Python (a JVM-side source, for example) and for storing scripts as files.

Format (version 1)::

    {"format": "fluvial.test_script", "version": 1, "max_timestamp_ms": 9223372036854775,
     "steps": [
       {"kind": "elements", "elements": [{"timestamp_ms": 1000, "value": <value>}, ...]},
       {"kind": "watermark", "watermark_ms": 60000},
       {"kind": "processing_time", "advance_ms": 5000},
       {"kind": "end"}]}

``watermark_ms == max_timestamp_ms`` is the advance to infinity. Values are encoded so that they
decode to equal values of the same types: ``null``, booleans, strings, int (64-bit), finite
floats and lists stay plain JSON; every other value is an object with exactly one key:
``{"tuple": [...]}``, ``{"dict": {"key": ...}}`` (str keys) or ``{"pickle": "<base64>"}`` (a
pickle, protocol 4, of anything else). A player that cannot read a value passes its JSON on to
the Python workers, which decode it with :func:`decode_value`.

>>> encode_value(("k", [1, 2.5, None]))
{'tuple': ['k', [1, 2.5, None]]}
>>> decode_value({"tuple": ["k", 1]})
('k', 1)
"""

from __future__ import annotations

import base64
import json
import math
import pickle
from typing import Any

from fluvial.errors import PipelineConstructionError
from fluvial.testing.test_script import (
    ElementEvent,
    EndOfInput,
    ProcessingTimeEvent,
    TestScript,
    WatermarkEvent,
)
from fluvial.timeutil import MAX_TIMESTAMP_MS

FORMAT = "fluvial.test_script"
VERSION = 1
_INT64 = 2**63


def encode_value(v: Any) -> Any:
    """``v`` as JSON-able data that :func:`decode_value` turns back into an equal value."""
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int and -_INT64 <= v < _INT64:
        return v
    if t is float and math.isfinite(v):
        return v
    if t is list:
        return [encode_value(x) for x in v]
    if t is tuple:
        return {"tuple": [encode_value(x) for x in v]}
    if t is dict and all(type(k) is str for k in v):
        return {"dict": {k: encode_value(x) for k, x in v.items()}}
    return {"pickle": base64.b64encode(pickle.dumps(v, protocol=4)).decode("ascii")}


def decode_value(obj: Any) -> Any:
    """The value :func:`encode_value` encoded."""
    if isinstance(obj, list):
        return [decode_value(x) for x in obj]
    if isinstance(obj, dict):
        if len(obj) != 1:
            raise ValueError(f"a test script value object has exactly one key, got {obj!r}")
        (kind, data), = obj.items()
        if kind == "tuple":
            return tuple(decode_value(x) for x in data)
        if kind == "dict":
            return {k: decode_value(x) for k, x in data.items()}
        if kind == "pickle":
            return pickle.loads(base64.b64decode(data))
        raise ValueError(f"unknown test script value kind {kind!r}")
    return obj


def _step_to_json(step: Any) -> dict:
    if isinstance(step, ElementEvent):
        return {
            "kind": "elements",
            "elements": [{"timestamp_ms": t, "value": encode_value(v)} for v, t in step.elements],
        }
    if isinstance(step, WatermarkEvent):
        return {"kind": "watermark", "watermark_ms": step.watermark_ms}
    if isinstance(step, ProcessingTimeEvent):
        return {"kind": "processing_time", "advance_ms": step.advance_ms}
    return {"kind": "end"}


def _step_from_json(d: dict) -> Any:
    kind = d.get("kind")
    if kind == "elements":
        return ElementEvent(
            tuple((decode_value(e["value"]), e["timestamp_ms"]) for e in d["elements"])
        )
    if kind == "watermark":
        return WatermarkEvent(d["watermark_ms"])
    if kind == "processing_time":
        return ProcessingTimeEvent(d["advance_ms"])
    if kind == "end":
        return EndOfInput()
    raise PipelineConstructionError(
        f"TestStream: unknown step kind {kind!r} in a JSON script; known: elements, watermark, "
        "processing_time, end"
    )


def script_to_json(script: TestScript) -> str:
    """The JSON text of ``script`` (one line, keys in a fixed order)."""
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "max_timestamp_ms": MAX_TIMESTAMP_MS,
        "steps": [_step_to_json(s) for s in script.steps],
    }
    return json.dumps(doc, allow_nan=False)


def script_from_json(text: str) -> TestScript:
    """The script of a JSON text written by :func:`script_to_json`."""
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PipelineConstructionError(
            f"TestStream: not a fluvial test script (expected \"format\": \"{FORMAT}\")"
        )
    if doc.get("version") != VERSION:
        raise PipelineConstructionError(
            f"TestStream: test script version {doc.get('version')!r} is not supported; this "
            f"fluvial reads version {VERSION}"
        )
    return TestScript(tuple(_step_from_json(s) for s in doc["steps"]))
