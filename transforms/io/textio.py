"""Text files: ReadFromText and WriteToText (one element per line).

>>> import os, tempfile
>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> d = tempfile.mkdtemp()
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     _ = p | fl.Create(["a", "b"]) | WriteToText(os.path.join(d, "out"))
>>> sorted(os.listdir(d))
['out-00000-of-00001.txt']
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     assert_that(p | ReadFromText(os.path.join(d, "out-*")), equal_to(["a", "b"]))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fluvial.deadletter import check_policy
from fluvial.ptransform import PTransform
from fluvial.sink import Write
from fluvial.source import Read
from fluvial.timeutil import MIN_TIMESTAMP_MS, to_millis
from fluvial.transforms.io._files import READ_LABEL, LineFileSource, check_pattern
from fluvial.transforms.io.filesink import FileSink
from fluvial.watermarks import WatermarkStrategy

__all__ = ["ReadFromText", "WriteToText", "TextSource", "TextSink"]


class TextSource(LineFileSource):
    """Lines of the files matching ``pattern`` (without their line endings)."""

    def __init__(
        self,
        pattern: str,
        with_timestamps: Callable[[str], Any] | None = None,
        encoding: str = "utf-8",
        watermark: WatermarkStrategy | None = None,
        on_error: str | None = None,
        composite: bool = False,
    ) -> None:
        super().__init__(pattern, encoding, watermark, on_error, composite)
        self.with_timestamps = with_timestamps

    def parse(self, line: str) -> tuple[str, int]:
        if self.with_timestamps is None:
            return (line, MIN_TIMESTAMP_MS)
        return (line, to_millis(self.with_timestamps(line)))


class ReadFromText(PTransform):
    """Reads the lines of the files matching ``path_or_glob`` (sorted by name; ``.gz`` files
    are decompressed) as strings without their line endings.

    Elements are timestamped with ``with_timestamps(line)`` (seconds) when given, else with the
    minimum timestamp. The watermark stays at the minimum until every file is read, unless a
    ``watermark`` strategy (e.g. ``BoundedOutOfOrderness(5)``) lets it follow the timestamps.
    Checkpoints store the position (file index, byte offset). With ``validate`` (the default)
    a pattern that matches nothing fails when the pipeline is built.

    A line that is not valid in ``encoding``, or on which ``with_timestamps`` raises, goes to
    ``on_error`` ("fail", "skip", "dead_letter"; None: the pipeline's ``--on-error``): a
    dead-letter record holds the line (its raw bytes when they do not decode), the file's path
    as ``topic`` and the line number as ``offset`` (see :mod:`fluvial.transforms.io._files`).

    >>> t = ReadFromText("/tmp/*.log", with_timestamps=lambda line: float(line.split()[0]),
    ...                  validate=False, on_error="dead_letter")
    """

    def __init__(
        self,
        path_or_glob: str,
        with_timestamps: Callable[[str], Any] | None = None,
        *,
        watermark: WatermarkStrategy | None = None,
        encoding: str = "utf-8",
        validate: bool = True,
        on_error: str | None = None,
    ) -> None:
        pattern = check_pattern("ReadFromText", path_or_glob, validate)
        check_policy(on_error, "ReadFromText")
        self.source = TextSource(pattern, with_timestamps, encoding, watermark, on_error,
                                 composite=True)

    def expand(self, pbegin: Any) -> Any:
        return pbegin | READ_LABEL >> Read(self.source)


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


class TextSink(FileSink):
    """Elements as lines of text (``str(value)``; bytes are decoded as UTF-8)."""

    def __init__(self, path_prefix: str, suffix: str = ".txt", num_shards: int = 1,
                 encoding: str = "utf-8") -> None:
        super().__init__(path_prefix, suffix, num_shards, _to_text, encoding)


class WriteToText(PTransform):
    """Writes each element as a line of text to ``num_shards`` files
    ``{path_prefix}-SSSSS-of-NNNNN{suffix}``, exactly once under checkpoints (see
    :mod:`fluvial.transforms.io.filesink` for the naming of later parts and the protocol).

    >>> t = WriteToText("/tmp/out/counts", suffix=".csv", num_shards=2)
    """

    def __init__(self, path_prefix: str, suffix: str = ".txt", num_shards: int = 1,
                 encoding: str = "utf-8") -> None:
        self.sink = TextSink(path_prefix, suffix, num_shards, encoding)

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "Write" >> Write(self.sink)
