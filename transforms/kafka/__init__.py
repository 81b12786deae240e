"""Kafka IO without Java: ReadFromKafka and WriteToKafka over confluent-kafka (librdkafka,
the default when installed) or kafka-python (see :mod:`fluvial.transforms.kafka.clients`).
Against a broker at 127.0.0.1:9092 (docs/kafka.md has examples that run)::

    from fluvial.transforms.kafka import ReadFromKafka, WriteToKafka
    p | ReadFromKafka("127.0.0.1:9092", topics=["in"], stop="end") | WriteToKafka(
        "127.0.0.1:9092", "out", delivery="exactly_once")

Importing this package imports no Kafka client; opening a reader or writer does.
"""

from .errors import BrokerUnreachableError, KafkaAuthenticationError, KafkaIOError
from .read import ReadFromKafka
from .reader import KafkaReader, KafkaSource
from .record import KafkaRecord
from .write import WriteToKafka
from .writer import KafkaSink, KafkaWriter, TransactionalKafkaWriter

__all__ = [
    "ReadFromKafka", "WriteToKafka", "KafkaRecord", "KafkaIOError", "BrokerUnreachableError",
    "KafkaAuthenticationError", "KafkaSource", "KafkaSink",
    "KafkaReader", "KafkaWriter", "TransactionalKafkaWriter",
]
