"""fluvial's Kafka helpers for Flink, compiled against the user's Kafka connector jars.

The sources live in ``runners/flink/java_kafka/`` (package ``fluvial.flink.kafka``:
``KafkaRecordBytes``, ``KafkaBytesSerializer``, ``FluvialKafka``). They name Kafka's client
classes, whose package depends on the jars the user supplies: ``org.apache.kafka`` with
``flink-connector-kafka`` + ``kafka-clients``, ``org.apache.flink.kafka.shaded.org.apache.kafka``
with the single shaded ``flink-sql-connector-kafka``. So they are compiled at first use, like
the other helpers (:mod:`.jvm`), with that package filled in and the user's jars on the class
path, into ``<cache>/flink-kafka-java/<key>/``; the key hashes the sources, the Flink version,
the package and the bytes of the jars compiled against.

>>> kafka_package(["/nonexistent.jar"]) is None
True
"""

from __future__ import annotations

import hashlib
import pathlib
import zipfile
from collections.abc import Sequence

from fluvial.errors import FluvialError

from .jars import WHERE
from .jvm import RELEASE, build_jar, cache_root, pyflink_version

KAFKA_JAVA_DIR = pathlib.Path(__file__).resolve().parent / "java_kafka"
PLACEHOLDER = "@KAFKA@"
PACKAGES = {
    "org/apache/kafka/common/TopicPartition.class": "org.apache.kafka",
    "org/apache/flink/kafka/shaded/org/apache/kafka/common/TopicPartition.class":
        "org.apache.flink.kafka.shaded.org.apache.kafka",
}


def kafka_sources() -> list[pathlib.Path]:
    return sorted(KAFKA_JAVA_DIR.rglob("*.java"))


def kafka_package(jars: Sequence[str]) -> str | None:
    """The package of Kafka's client classes in ``jars`` (plain or shaded), or None."""
    for jar in jars:
        try:
            with zipfile.ZipFile(jar) as z:
                names = set(z.namelist())
        except (OSError, zipfile.BadZipFile):
            continue
        for member, package in PACKAGES.items():
            if member in names:
                return package
    return None


def _key(package: str, jars: Sequence[str]) -> str:
    h = hashlib.sha256()
    h.update(f"release={RELEASE};flink={pyflink_version()};kafka={package};".encode())
    for path in kafka_sources():
        h.update(str(path.relative_to(KAFKA_JAVA_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    for jar in sorted(jars):
        with open(jar, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def kafka_helper_jar(user_jars: Sequence[str]) -> pathlib.Path:
    """The jar of the Kafka helpers for these connector jars: from the cache, or built now."""
    package = kafka_package(user_jars)
    if package is None:
        raise FluvialError(
            "none of the jars passed with --flink-jars holds Kafka's client classes "
            f"(org.apache.kafka.common.TopicPartition); {WHERE}"
        )
    key = _key(package, user_jars)
    jar = cache_root() / "flink-kafka-java" / key / f"fluvial-flink-kafka-{key}.jar"
    if jar.is_file():
        return jar
    return build_jar(jar, sources=kafka_sources(), extra_classpath=tuple(user_jars),
                     substitutions={PLACEHOLDER: package})
