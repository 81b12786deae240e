"""How the direct runner ends a source reader's life: ``close`` after a successful run,
``abort`` (never ``close``) after a failed one; and at a checkpoint the sinks are told the
checkpoint completed before the readers, so a reader that publishes its position then (as the
Kafka reader commits group offsets) never runs ahead of committed output."""

from __future__ import annotations

import pytest

import fluvial as fl
from fluvial.errors import UserCodeError
from fluvial.sink import Sink, SinkWriter
from fluvial.source import ListReader, Source
from fluvial.transforms import Map

EVENTS: list[str] = []


class _Reader(ListReader):
    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        EVENTS.append(f"reader-complete-{checkpoint_id}")

    def close(self) -> None:
        EVENTS.append("reader-close")

    def abort(self) -> None:
        EVENTS.append("reader-abort")


class _Source(Source):
    def open(self, ctx):
        return _Reader([(i, i * 1000) for i in range(3)])


class _Writer(SinkWriter):
    def write(self, batch: list) -> None:
        pass

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        EVENTS.append(f"sink-complete-{checkpoint_id}")


class _Sink(Sink):
    def open(self, ctx):
        return _Writer()


def _fail_on_two(x):
    if x == 2:
        raise ValueError("two")
    return x


def test_success_closes_and_sinks_complete_before_readers(tmp_path):
    EVENTS.clear()
    p = fl.Pipeline(argv=["--runner", "direct", "--checkpoint-dir", str(tmp_path)])
    _ = p | fl.Read(_Source()) | fl.Write(_Sink())
    p.run().wait_until_finish()
    assert EVENTS == ["sink-complete-1", "reader-complete-1", "reader-close"]


def test_failure_aborts_the_reader_without_closing_it():
    EVENTS.clear()
    p = fl.Pipeline(argv=["--runner", "direct"])
    _ = p | fl.Read(_Source()) | Map(_fail_on_two) | fl.Write(_Sink())
    with pytest.raises(UserCodeError):
        p.run().wait_until_finish()
    assert EVENTS == ["reader-abort"]
