"""When ReadFromKafka commits offsets to its group: after completed checkpoints, and at the end of
a successful bounded run without checkpoints; never for a failed or cancelled run (abort)."""

from __future__ import annotations

import pytest
from kafka_support import committed_offsets, frame_local, options, pipeline, produce

import fluvial as fl
from fluvial.source import SourceContext
from fluvial.transforms.kafka import KafkaIOError, KafkaReader, KafkaSource, ReadFromKafka

pytestmark = pytest.mark.usefixtures("kafka_client")


class _Clock:
    def now_ms(self) -> int:
        return 0


def _reader(servers: str, topic: str, group: str, **opts):
    cfg = ReadFromKafka(servers, topics=[topic], group_id=group, stop="end").cfg
    return KafkaSource(**cfg).open(SourceContext(options(**opts), _Clock(), "Read"))


def _drain(reader) -> int:
    n = 0
    while (b := reader.poll(100)) is not None:
        n += len(b)
    return n


def test_abort_of_an_exhausted_read_commits_nothing(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    produce(s, t, [(None, b"x%d" % i, i % 2, 1_000 + i) for i in range(10)])
    r = _reader(s, t, f"g-{t}")
    assert _drain(r) == 10 and r.exhausted
    r.abort()  # the run failed after the read reached its end
    assert committed_offsets(s, f"g-{t}", t, 2) == [None, None]


def test_close_without_checkpoints_commits_the_end_of_the_read(kafka_broker, kafka_topic):
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    produce(s, t, [(None, b"x%d" % i, i % 2, 1_000 + i) for i in range(10)])
    r = _reader(s, t, f"g-{t}")
    assert _drain(r) == 10
    r.close()
    assert committed_offsets(s, f"g-{t}", t, 2) == [5, 5]


def test_with_checkpoints_only_completed_checkpoints_commit(kafka_broker, kafka_topic, tmp_path):
    """Offsets of a completed checkpoint are committed; reading further and closing commits
    nothing more (a successful run's final checkpoint would commit the end)."""
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=1)
    produce(s, t, [(None, b"x%d" % i, 0, 1_000 + i) for i in range(30)])
    r = _reader(s, t, f"g-{t}", checkpoint_dir=str(tmp_path))
    got = []
    while len(got) < 12:
        got.extend(r.poll(4))
    assert len(got) == 12
    r.snapshot()
    assert committed_offsets(s, f"g-{t}", t, 1) == [None]  # not before the checkpoint completes
    r.notify_checkpoint_complete(1)
    assert committed_offsets(s, f"g-{t}", t, 1) == [12]
    assert _drain(r) == 18
    r.close()
    assert committed_offsets(s, f"g-{t}", t, 1) == [12]


class _FailingSink(fl.Sink):
    """Accepts every element; fails when asked to pre-commit (at the run's final commit)."""

    def open(self, ctx):
        class W(fl.SinkWriter):
            def write(self, batch):
                pass

            def snapshot(self, checkpoint_id):
                raise OSError("sink failed at the final commit")

        return W()


def test_failed_run_commits_no_group_offsets(kafka_broker, kafka_topic):
    """The read reaches its end, then the run fails: start="committed" must read everything
    again, so nothing is committed."""
    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=1)
    produce(s, t, [(None, b"x%d" % i, 0, 1_000 + i) for i in range(7)])
    with pytest.raises(Exception, match="sink failed at the final commit"):  # noqa: B017, PT011
        with pipeline() as p:
            _ = (p | ReadFromKafka(s, topics=[t], group_id=f"g-{t}", start="committed",
                                   stop="end")
                   | fl.Write(_FailingSink()))
    assert committed_offsets(s, f"g-{t}", t, 1) == [None]


def test_missing_topic_closes_the_consumer(kafka_broker):
    s = kafka_broker.bootstrap_servers
    with pytest.raises(KafkaIOError, match="do not exist") as ei:
        _reader(s, "no-such-topic-closes", "g-closes")
    reader = frame_local(ei, "self", KafkaReader)
    assert reader.consumer.closed
