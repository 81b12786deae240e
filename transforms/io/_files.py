"""Shared machinery of the file sources: matching a path or glob, and a line reader whose
position (file index + byte offset) is checkpointed.

**Bad lines.** A line that is not valid in the source's encoding, or that the source's parser
rejects (malformed JSON, no usable timestamp, a ``with_timestamps`` function raising), goes to
the error policy: the source's ``on_error``, else the pipeline's ``--on-error``, else "fail".
So does a line whose event time is out of range (before the earliest supported time, after the
latest, or more than ``--max-event-time-ahead`` ahead of the wall clock; docs/concepts.md): it
never reaches the watermark.

- "fail": :class:`~fluvial.errors.BadInputError` naming the transform, ``path:line``, the reason
  and the line; the restart strategy never retries it.
- "skip": the line is dropped and counted in ``fluvial/errors_skipped``.
- "dead_letter": a :class:`~fluvial.deadletter.DeadLetterRecord` with ``payload`` = the line
  (a str; the raw bytes, without the line ending, when they are not valid in the encoding),
  ``topic`` = the file's path, ``offset`` = the line number (from 1), ``partition`` and
  ``timestamp_ms`` = None, ``error_type`` / ``message`` / ``traceback`` of the error.

Records, counters and errors carry the user's label: the label of the
:class:`~fluvial.transforms.io.ReadFromText` / ``ReadFromJsonLines`` composite (``"Orders"``),
not of the ``Read`` primitive inside it (``"Orders/Read"``).
"""

from __future__ import annotations

import glob
import gzip
import json
import os
from collections.abc import Callable
from typing import IO, Any

from fluvial.errors import BadInputError, EventTimeOutOfRangeError, PipelineConstructionError
from fluvial.ptransform import composite_label
from fluvial.source import Source, SourceContext, SourceReader
from fluvial.timeutil import (
    MAX_EVENT_TIME_MS,
    MAX_TIMESTAMP_MS,
    MIN_EVENT_TIME_MS,
    MIN_TIMESTAMP_MS,
    event_time_problem,
)
from fluvial.watermarks import WatermarkStrategy

_GLOB_CHARS = set("*?[")

# line text -> (value, timestamp_ms), or None to skip the line; raises on a bad line
LineParser = Callable[[str], Any]

#: the inner label under which ReadFromText / ReadFromJsonLines apply their Read
READ_LABEL = "Read"


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


def user_label(read_label: str, composite: bool) -> str:
    """The label a user gave the read: a composite applies ``"Read" >> Read(source)``, so its
    Read primitive is labelled ``"<composite label>/Read"``.

    >>> user_label("Ingest/Orders/Read", composite=True)
    'Ingest/Orders'
    """
    return composite_label(read_label, READ_LABEL, composite)


def describe(exc: BaseException) -> str:
    """Why a line could not be read, for error messages."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid {exc.encoding} ({exc.reason} at byte {exc.start})"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc})"
    if type(exc) is ValueError or isinstance(exc, EventTimeOutOfRangeError):  # our own messages
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class LineReader(SourceReader):
    """Reads the lines of several files in order. Position: ``(file index, byte offset)`` (of the
    decompressed stream for ``.gz`` files), plus the file list, so a restart reads the same
    files even if the glob would now match others. Watermark: the optional strategy over the
    records' timestamps, else the minimum until every file is read (then the end of time).
    Bad lines go to the error policy (module docstring); ``ctx`` None: "fail"."""

    def __init__(
        self,
        files: list[str],
        parse: LineParser,
        encoding: str = "utf-8",
        strategy: WatermarkStrategy | None = None,
        ctx: SourceContext | None = None,
        on_error: str | None = None,
        label: str = "ReadFromFiles",
    ) -> None:
        self.files = files
        self.parse = parse
        self.encoding = encoding
        self.index = 0
        self.offset = 0
        self.line_no = 0
        self.gen = strategy.create() if strategy is not None else None
        self._fh: IO[bytes] | None = None
        self.label = label
        self.ctx = ctx
        options = getattr(ctx, "options", None)
        self.policy = on_error or getattr(options, "on_error", None) or "fail"

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

    def _bad(self, exc: Exception, record: Any, path: str) -> None:
        """Apply the error policy to a line that could not be read."""
        if self.policy == "fail" or self.ctx is None:
            raise BadInputError(self.label, f"{path}:{self.line_no}", describe(exc), record) from exc
        self.ctx.handle_error(exc, record, policy=self.policy, topic=path, offset=self.line_no)

    def poll(self, max_records: int) -> list | None:
        if self.exhausted:
            return None
        out: list = []
        parse, enc = self.parse, self.encoding
        latest = self.ctx.latest_event_time() if self.ctx is not None else MAX_EVENT_TIME_MS
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
                try:
                    line = raw.decode(enc)
                except UnicodeDecodeError as e:
                    self._bad(e, raw, path)
                    continue
                try:
                    rec = parse(line)
                except Exception as e:  # noqa: BLE001 - routed by the error policy
                    self._bad(e, line, path)
                    continue
                if rec is None:
                    continue
                if not MIN_EVENT_TIME_MS <= rec[1] <= latest:
                    ahead = self.ctx.max_ahead_s if self.ctx is not None else None
                    self._bad(EventTimeOutOfRangeError(
                        event_time_problem(rec[1], latest, ahead), rec[1]), line, path)
                    continue
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
    pipeline runs). Subclasses turn a line into ``(value, timestamp_ms)`` with :meth:`parse`,
    raising on a bad line. ``on_error`` (None: the pipeline's ``--on-error``) applies to bad
    lines; ``composite`` marks a source applied by a composite as ``"Read" >> Read(source)``,
    whose label is then the one records and errors carry."""

    is_bounded = True

    def __init__(
        self,
        pattern: str,
        encoding: str = "utf-8",
        watermark: WatermarkStrategy | None = None,
        on_error: str | None = None,
        composite: bool = False,
    ) -> None:
        self.pattern = pattern
        self.encoding = encoding
        self.watermark = watermark
        self.on_error = on_error  # also seen by the dead-letter consumer check
        self.composite = composite

    def parse(self, line: str) -> Any:
        raise NotImplementedError

    def open(self, ctx: SourceContext | None) -> LineReader:
        files = match_files(self.pattern)
        if not files:
            raise FileNotFoundError(f"{self.display_name()}: no files match {self.pattern!r}")
        label = self.display_name()
        if ctx is not None:
            label = user_label(ctx.label, self.composite)
            if label != ctx.label:
                ctx = SourceContext(ctx.options, ctx.clock, label, ctx.metrics, ctx.dead_letter)
        return LineReader(files, self.parse, self.encoding, self.watermark, ctx, self.on_error,
                          label)
