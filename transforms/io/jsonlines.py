"""JSON-lines files: ReadFromJsonLines and WriteToJsonLines (one JSON document per line).

>>> import os, tempfile
>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> d = tempfile.mkdtemp()
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     _ = p | fl.Create([{"id": 1, "t": 2.5}]) | WriteToJsonLines(os.path.join(d, "ev"))
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     rows = p | ReadFromJsonLines(os.path.join(d, "ev-*.jsonl"), timestamp_field="t")
...     assert_that(rows, equal_to([{"id": 1, "t": 2.5}]))
"""

from __future__ import annotations

import json
from typing import Any

from fluvial.deadletter import check_policy
from fluvial.errors import PipelineConstructionError, bounded_repr
from fluvial.ptransform import PTransform
from fluvial.sink import Write
from fluvial.source import Read
from fluvial.timeutil import MIN_TIMESTAMP_MS, to_millis
from fluvial.transforms.io._files import READ_LABEL, LineFileSource, check_pattern
from fluvial.transforms.io.filesink import FileSink
from fluvial.watermarks import WatermarkStrategy

__all__ = ["ReadFromJsonLines", "WriteToJsonLines", "JsonLinesSource", "JsonLinesSink"]

_UNITS = {"s": 1000, "ms": 1}


class JsonLinesSource(LineFileSource):
    """Parsed JSON documents, one per non-blank line."""

    def __init__(
        self,
        pattern: str,
        timestamp_field: str | None = None,
        timestamp_unit: str = "s",
        encoding: str = "utf-8",
        watermark: WatermarkStrategy | None = None,
        on_error: str | None = None,
        composite: bool = False,
    ) -> None:
        super().__init__(pattern, encoding, watermark, on_error, composite)
        self.timestamp_field = timestamp_field
        self.timestamp_unit = timestamp_unit

    def parse(self, line: str) -> tuple[Any, int] | None:
        if not line.strip():
            return None
        value = json.loads(line)
        field = self.timestamp_field
        if field is None:
            return (value, MIN_TIMESTAMP_MS)
        try:
            ts = value[field]
        except (KeyError, TypeError, IndexError):
            raise ValueError(f"record has no timestamp field {field!r}") from None
        if isinstance(ts, bool) or not isinstance(ts, (int, float)):
            raise ValueError(
                f"timestamp field {field!r} must be a number ({self.timestamp_unit}), got {bounded_repr(ts)}"
            )
        if self.timestamp_unit == "ms":
            return (value, int(ts))
        return (value, to_millis(ts))


class ReadFromJsonLines(PTransform):
    """Reads JSON-lines files matching ``path_or_glob``; each non-blank line becomes one element
    (the parsed document). With ``timestamp_field`` each element's event time is that field of
    the document, in seconds, or in milliseconds with ``timestamp_unit="ms"``. Watermark,
    checkpoints and validation as for :class:`~fluvial.transforms.io.ReadFromText`.

    A line that is not valid in ``encoding``, not JSON, or without a numeric timestamp field
    goes to ``on_error`` ("fail", "skip", "dead_letter"; None: the pipeline's ``--on-error``),
    as for ReadFromText.

    >>> t = ReadFromJsonLines("/tmp/tx-*.jsonl", timestamp_field="ts", timestamp_unit="ms",
    ...                       validate=False, on_error="skip")
    """

    def __init__(
        self,
        path_or_glob: str,
        timestamp_field: str | None = None,
        *,
        timestamp_unit: str = "s",
        watermark: WatermarkStrategy | None = None,
        encoding: str = "utf-8",
        validate: bool = True,
        on_error: str | None = None,
    ) -> None:
        pattern = check_pattern("ReadFromJsonLines", path_or_glob, validate)
        if timestamp_unit not in _UNITS:
            raise PipelineConstructionError(
                f"ReadFromJsonLines: timestamp_unit must be 's' or 'ms', got {timestamp_unit!r}"
            )
        if timestamp_field is not None and not isinstance(timestamp_field, str):
            raise PipelineConstructionError(
                f"ReadFromJsonLines: timestamp_field must be a field name, got {timestamp_field!r}"
            )
        check_policy(on_error, "ReadFromJsonLines")
        self.source = JsonLinesSource(
            pattern, timestamp_field, timestamp_unit, encoding, watermark, on_error,
            composite=True,
        )

    def expand(self, pbegin: Any) -> Any:
        return pbegin | READ_LABEL >> Read(self.source)


def _json_default(o: Any) -> Any:
    item = getattr(o, "item", None)  # NumPy scalars
    if callable(item) and getattr(o, "shape", None) == ():
        return item()
    tolist = getattr(o, "tolist", None)  # NumPy arrays
    if callable(tolist):
        return tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable: {bounded_repr(o)}")


def to_json_line(value: Any) -> str:
    """One compact JSON document (NumPy scalars and arrays, and sets, are converted)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


class JsonLinesSink(FileSink):
    """Elements as compact JSON documents, one per line."""

    def __init__(self, path_prefix: str, suffix: str = ".jsonl", num_shards: int = 1) -> None:
        super().__init__(path_prefix, suffix, num_shards, to_json_line, "utf-8")


class WriteToJsonLines(PTransform):
    """Writes each element as one JSON line to ``{path_prefix}-SSSSS-of-NNNNN{suffix}``,
    exactly once under checkpoints (naming and protocol as for WriteToText).

    >>> t = WriteToJsonLines("/tmp/out/alerts")
    """

    def __init__(self, path_prefix: str, suffix: str = ".jsonl", num_shards: int = 1) -> None:
        self.sink = JsonLinesSink(path_prefix, suffix, num_shards)

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "Write" >> Write(self.sink)
