"""Sinks for the dead-letter output ``p.dead_letters()``.

A JSON-lines file (exactly once at checkpoints, as every file sink)::

    p.dead_letters() | WriteDeadLettersToJsonLines("errors/dlq")

A Kafka topic (one JSON document per record)::

    p.dead_letters() | DeadLettersToDicts() | WriteToKafka(..., value_serializer="json")

>>> import glob, json, os, tempfile
>>> import fluvial as fl
>>> from fluvial.transforms import Map
>>> d = tempfile.mkdtemp()
>>> with fl.Pipeline(argv=[]) as p:
...     _ = p | fl.Create(["1", "x"]) | "Parse" >> Map(int, on_error="dead_letter")
...     _ = p.dead_letters() | WriteDeadLettersToJsonLines(os.path.join(d, "dlq"))
>>> [rec] = [json.loads(line) for line in open(glob.glob(os.path.join(d, "dlq-*"))[0])]
>>> (rec["transform"], rec["error_type"], rec["payload"])
('Parse/ParDo', 'ValueError', 'x')
"""

from __future__ import annotations

from typing import Any

from fluvial.deadletter import DeadLetterRecord
from fluvial.elementwise import Map
from fluvial.ptransform import PTransform
from fluvial.transforms.io.jsonlines import WriteToJsonLines

__all__ = ["DeadLettersToDicts", "WriteDeadLettersToJsonLines"]


def _to_dict(record: DeadLetterRecord) -> dict[str, Any]:
    return record.to_dict()


class DeadLettersToDicts(PTransform):
    """Each :class:`~fluvial.deadletter.DeadLetterRecord` as its JSON-safe dict
    (``record.to_dict()``), e.g. to write them to Kafka with a JSON serializer. Its own errors
    always fail the run (a dead letter is never dropped or looped back).

    >>> t = DeadLettersToDicts()
    """

    def expand(self, pcoll: Any) -> Any:
        return pcoll | "ToDict" >> Map(_to_dict, on_error="fail")


class WriteDeadLettersToJsonLines(PTransform):
    """Writes dead-letter records as JSON lines to ``{path_prefix}-SSSSS-of-NNNNN{suffix}``,
    exactly once under checkpoints (as :class:`~fluvial.transforms.io.WriteToJsonLines`).

    >>> t = WriteDeadLettersToJsonLines("/tmp/errors/dlq")
    """

    def __init__(self, path_prefix: str, suffix: str = ".jsonl", num_shards: int = 1) -> None:
        self.path_prefix = path_prefix
        self.suffix = suffix
        self.num_shards = num_shards

    def expand(self, pcoll: Any) -> Any:
        dicts = pcoll | "ToDicts" >> DeadLettersToDicts()
        return dicts | "Write" >> WriteToJsonLines(self.path_prefix, self.suffix, self.num_shards)
