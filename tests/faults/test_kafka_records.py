"""Issue 11 item 9, Kafka records: the ``json`` deserializer is strict (a record holding NaN or
Infinity is undecodable, not read as a float the sink then writes as invalid JSON), the json
serializer refuses non-finite floats as a bad record, and Kafka dead letters carry the user's
label ("Orders", as the docs say; it was "Orders/Read"). Before the fix the NaN record went
through and the output topic held ``{"amount":NaN}``, and the dead letter said "Orders/Read".
Once per client backend."""

from __future__ import annotations

import json

import pytest

import fluvial as fl
from fluvial.transforms import Map
from fluvial.transforms.kafka import ReadFromKafka, WriteToKafka

SEEN: list = []


def _strict(text: bytes):
    def refuse(name):
        raise ValueError(name)

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_nan_record_is_a_dead_letter_and_never_reaches_the_output(kafka_broker, kafka_topic,
                                                                  client):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    s = kafka_broker.bootstrap_servers
    src, out = kafka_topic(), kafka_topic()
    prod = KafkaProducer(bootstrap_servers=s)
    for i, v in enumerate([b'{"amount": 1.5}', b'{"amount": NaN}', b'{"amount": -Infinity}',
                           b'{"amount": 2}']):
        prod.send(src, key=b"k%d" % i, value=v, partition=0, timestamp_ms=1_000 + i)
    prod.flush()
    prod.close()
    SEEN.clear()
    p = fl.Pipeline(argv=["--kafka-client", client])
    (p | "Orders" >> ReadFromKafka(s, topics=[src], stop="end", value_deserializer="json",
                                   on_error="dead_letter")
       | WriteToKafka(s, out, value_serializer="json"))
    _ = p.dead_letters() | Map(lambda d: SEEN.append(d) or d)
    p.run().wait_until_finish()
    assert [(d.transform, d.offset, d.key, d.payload, d.error_type) for d in SEEN] == [
        ("Orders", 1, b"k1", b'{"amount": NaN}', "ValueError"),
        ("Orders", 2, b"k2", b'{"amount": -Infinity}', "ValueError")]
    assert SEEN[0].message == "JSON does not allow NaN (strict JSON, RFC 8259)"
    c = KafkaConsumer(bootstrap_servers=s, enable_auto_commit=False, consumer_timeout_ms=1500)
    c.assign([TopicPartition(out, 0)])
    c.seek(TopicPartition(out, 0), 0)
    written = [r.value for r in c]
    c.close()
    assert written == [b'{"amount":1.5}', b'{"amount":2}']
    assert all(_strict(v) for v in written)
