"""Kafka IO in pure Python (kafka-python): ReadFromKafka and WriteToKafka.

>>> from fluvial.transforms.kafka import ReadFromKafka, WriteToKafka   # doctest: +SKIP
>>> p | ReadFromKafka("127.0.0.1:9092", topics=["in"], stop="end") | WriteToKafka(
...     "127.0.0.1:9092", "out", delivery="exactly_once")

Importing this package does not import kafka-python; opening a reader or writer does.
"""

from .client import KafkaIOError
from .read import ReadFromKafka
from .reader import KafkaReader, KafkaSource
from .record import KafkaRecord
from .write import WriteToKafka
from .writer import KafkaSink, KafkaWriter, TransactionalKafkaWriter

__all__ = [
    "ReadFromKafka", "WriteToKafka", "KafkaRecord", "KafkaIOError", "KafkaSource", "KafkaSink",
    "KafkaReader", "KafkaWriter", "TransactionalKafkaWriter",
]
