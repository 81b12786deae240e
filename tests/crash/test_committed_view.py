"""tests/support/committed_view.py against the real broker: committed, aborted, open and fenced
transactions, and plain (non-transactional) records, replayed from the raw log."""

from __future__ import annotations

from committed_view import committed_view
from kafka import KafkaProducer


def test_view_keeps_only_committed_transactions(kafka_broker, kafka_topic):
    bs = kafka_broker.bootstrap_servers
    topic = kafka_topic(partitions=2)
    plain = KafkaProducer(bootstrap_servers=bs)
    plain.send(topic, b"plain-0", partition=0)
    plain.flush()
    p = KafkaProducer(bootstrap_servers=bs, transactional_id=f"{topic}-a")
    p.init_transactions()
    p.begin_transaction()
    p.send(topic, b"c1", partition=0)
    p.send(topic, b"c2", partition=1)
    p.commit_transaction()
    p.begin_transaction()
    p.send(topic, b"x1", partition=0)
    p.send(topic, b"x2", partition=1)
    p.flush()
    p.abort_transaction()
    p.begin_transaction()
    p.send(topic, b"fenced", partition=1)  # left open, then fenced by a new producer
    p.flush()
    q = KafkaProducer(bootstrap_servers=bs, transactional_id=f"{topic}-a")
    q.init_transactions()
    q.begin_transaction()
    q.send(topic, b"c3", partition=1)
    q.commit_transaction()
    r = KafkaProducer(bootstrap_servers=bs, transactional_id=f"{topic}-b")
    r.init_transactions()
    r.begin_transaction()
    r.send(topic, b"open", partition=0)
    r.flush()
    plain.send(topic, b"plain-1", partition=0)
    plain.flush()

    view = committed_view(bs, topic)
    assert [(x.partition, x.value) for x in view.committed] == [
        (0, b"plain-0"), (0, b"c1"), (0, b"plain-1"), (1, b"c2"), (1, b"c3")]
    assert sorted(x.value for x in view.aborted) == [b"fenced", b"x1", b"x2"]
    assert [x.value for x in view.open] == [b"open"]
    # markers are written per partition the transaction touched
    assert view.commit_markers == 3  # c1/c2 transaction on 2 partitions, c3 on one
    assert view.abort_markers == 3  # x1/x2 on 2 partitions, the fenced one on partition 1
    for prod in (r, q, p, plain):
        try:
            prod.close(timeout=2)
        except Exception:  # noqa: BLE001 - the fenced producer may refuse to close cleanly
            pass
