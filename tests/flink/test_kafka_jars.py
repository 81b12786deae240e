"""The Kafka connector jars the tests obtain (see kafka_jars.py) pass fluvial's jar check and
work with PyFlink 2.3: passed with --flink-jars, Flink's KafkaSource builds through PyFlink's
own connector API."""

from __future__ import annotations

from fluvial.runners.flink.environment import create_environment
from fluvial.runners.flink.jars import kafka_jars_missing
from fluvial.runners.flink.options import parse_flink_args

from .kafka_jars import kafka_jars


def test_kafka_jars_load_into_the_job(tmp_path):
    jars = kafka_jars()
    assert kafka_jars_missing(jars) == []
    fopts = parse_flink_args(["--flink-jars", ",".join(jars)], environ={})
    create_environment(fopts, str(tmp_path), 1)  # adds the jars to the job and the client JVM

    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

    source = (KafkaSource.builder()
              .set_bootstrap_servers("127.0.0.1:9")
              .set_topics("orders")
              .set_group_id("fluvial-test")
              .set_starting_offsets(KafkaOffsetsInitializer.earliest())
              .set_bounded(KafkaOffsetsInitializer.latest())
              .set_value_only_deserializer(SimpleStringSchema())
              .build())
    j = source.get_java_function()
    assert j.getClass().getName() == "org.apache.flink.connector.kafka.source.KafkaSource"
    assert str(j.getBoundedness()) == "BOUNDED"
