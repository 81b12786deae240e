"""IO transforms: text and JSON-lines files, SQLite tables, synthetic events.

Reads are bounded sources whose readers checkpoint their position; writes are exactly-once
file sinks committed at checkpoints (see :mod:`fluvial.transforms.io.filesink`) and SQLite
upserts committed with the checkpoint id (see :mod:`fluvial.transforms.io.sqlsink`).

>>> from fluvial.transforms.io import ReadFromText, WriteToJsonLines, SyntheticEvents
"""

from fluvial.transforms.io.filesink import FileSink, FileSinkWriter, shard_name
from fluvial.transforms.io.jsonlines import (
    JsonLinesSink,
    JsonLinesSource,
    ReadFromJsonLines,
    WriteToJsonLines,
)
from fluvial.transforms.io.sqlsink import SqliteSink, SqliteSinkWriter, WriteToSqlite
from fluvial.transforms.io.synthetic import SyntheticEvents, SyntheticReader, SyntheticSource
from fluvial.transforms.io.textio import ReadFromText, TextSink, TextSource, WriteToText

__all__ = [
    "FileSink",
    "FileSinkWriter",
    "JsonLinesSink",
    "JsonLinesSource",
    "ReadFromJsonLines",
    "ReadFromText",
    "SqliteSink",
    "SqliteSinkWriter",
    "SyntheticEvents",
    "SyntheticReader",
    "SyntheticSource",
    "TextSink",
    "TextSource",
    "WriteToJsonLines",
    "WriteToSqlite",
    "WriteToText",
    "shard_name",
]
