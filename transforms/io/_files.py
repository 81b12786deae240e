"""Shared machinery of the file sources: matching a path or glob, and a line reader whose
position (file index + byte offset) is checkpointed."""

from __future__ import annotations

import glob
import gzip
import os
from collections.abc import Callable
from typing import IO, Any

from fluvial.errors import PipelineConstructionError
from fluvial.source import Source, SourceContext, SourceReader
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.watermarks import WatermarkStrategy

_GLOB_CHARS = set("*?[")

# (line text, path, 1-based line number) -> (value, timestamp_ms), or None to skip the line
LineParser = Callable[[str, str, int], Any]


def match_files(pattern: str) -> list[str]:
    """The files a path or glob names, sorted; hidden files (names starting with ``.``, such as
    the in-progress parts of the file sinks) only match when named exactly."""
    pattern = os.path.expanduser(os.fspath(pattern))
    if _GLOB_CHARS & set(pattern):
        return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    return [pattern] if os.path.isfile(pattern) else []


def check_pattern(kind: str, pattern: Any, validate: bool) -> str:
    if not isinstance(pattern, (str, os.PathLike)):
        raise PipelineConstructionError(f"{kind} needs a path or glob, got {pattern!r}")
    pattern = os.fspath(pattern)
    if validate and not match_files(pattern):
        raise PipelineConstructionError(
            f"{kind}: no files match {pattern!r}; check the path, or pass validate=False when the "
            "files are written before the pipeline runs"
        )
    return pattern


def _open(path: str) -> IO[bytes]:
    if path.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


class LineReader(SourceReader):
    """Reads the lines of several files in order. Position: ``(file index, byte offset)`` (of the
    decompressed stream for ``.gz`` files), plus the file list, so a restart reads the same
    files even if the glob would now match others. Watermark: the optional strategy over the
    records' timestamps, else the minimum until every file is read (then the end of time)."""

    def __init__(
        self,
        files: list[str],
        parse: LineParser,
        encoding: str = "utf-8",
        strategy: WatermarkStrategy | None = None,
    ) -> None:
        self.files = files
        self.parse = parse
        self.encoding = encoding
        self.index = 0
        self.offset = 0
        self.line_no = 0
        self.gen = strategy.create() if strategy is not None else None
        self._fh: IO[bytes] | None = None

    @property
    def exhausted(self) -> bool:
        return self.index >= len(self.files)

    def _handle(self) -> IO[bytes]:
        if self._fh is None:
            fh = _open(self.files[self.index])
            if self.offset:
                fh.seek(self.offset)
            self._fh = fh
        return self._fh

    def _next_file(self) -> None:
        self._close_handle()
        self.index += 1
        self.offset = 0
        self.line_no = 0

    def poll(self, max_records: int) -> list | None:
        if self.exhausted:
            return None
        out: list = []
        parse, enc = self.parse, self.encoding
        while len(out) < max_records and not self.exhausted:
            fh = self._handle()
            path = self.files[self.index]
            while len(out) < max_records:
                raw = fh.readline()
                if not raw:
                    self._next_file()
                    break
                self.offset += len(raw)
                self.line_no += 1
                if raw.endswith(b"\n"):
                    raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
                rec = parse(raw.decode(enc), path, self.line_no)
                if rec is not None:
                    out.append(rec)
        if self.gen is not None and out:
            self.gen.on_event(max(ts for _, ts in out))
        if not out and self.exhausted:
            return None
        return out

    def watermark(self) -> int:
        if self.exhausted:
            return MAX_TIMESTAMP_MS
        return self.gen.current() if self.gen is not None else MIN_TIMESTAMP_MS

    def snapshot(self) -> dict:
        return {
            "files": list(self.files),
            "index": self.index,
            "offset": self.offset,
            "line_no": self.line_no,
            "watermark": self.gen.snapshot() if self.gen is not None else None,
        }

    def restore(self, state: dict) -> None:
        self._close_handle()
        self.files = list(state["files"])
        self.index = state["index"]
        self.offset = state["offset"]
        self.line_no = state.get("line_no", 0)
        if self.gen is not None and state.get("watermark") is not None:
            self.gen.restore(state["watermark"])

    def _close_handle(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        self._close_handle()


class LineFileSource(Source):
    """A bounded source of the lines of the files matching a path or glob (matched when the
    pipeline runs). Subclasses turn a line into ``(value, timestamp_ms)`` with :meth:`parse`."""

    is_bounded = True

    def __init__(
        self,
        pattern: str,
        encoding: str = "utf-8",
        watermark: WatermarkStrategy | None = None,
    ) -> None:
        self.pattern = pattern
        self.encoding = encoding
        self.watermark = watermark

    def parse(self, line: str, path: str, line_no: int) -> Any:
        raise NotImplementedError

    def open(self, ctx: SourceContext) -> LineReader:
        files = match_files(self.pattern)
        if not files:
            raise FileNotFoundError(f"{self.display_name()}: no files match {self.pattern!r}")
        return LineReader(files, self.parse, self.encoding, self.watermark)
