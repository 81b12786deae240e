"""Jars the user supplies to a Flink job (``--flink-jars`` / ``FLUVIAL_FLINK_JARS``), and the
check that the Kafka connector is among them.

PyFlink's wheels ship no Kafka connector: a Kafka source or sink on Flink needs
``flink-connector-kafka`` (for Flink 2.x: version 4.0.x-2.0) and ``kafka-clients``, or the
single shaded ``flink-sql-connector-kafka`` jar that contains both. Get them from Maven Central
(``org.apache.flink:flink-connector-kafka:4.0.1-2.0`` and ``org.apache.kafka:kafka-clients``;
or ``org.apache.flink:flink-sql-connector-kafka:4.0.1-2.0``) or from your Flink distribution.

>>> kafka_jars_missing(["/j/flink-connector-kafka-4.0.1-2.0.jar", "/j/kafka-clients-3.9.1.jar"])
[]
>>> kafka_jars_missing(["/j/flink-connector-kafka.jar"])
['kafka-clients']
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from fluvial.errors import FluvialError

from .options import JARS_ENV

_KAFKA_JARS = {
    "flink-connector-kafka": re.compile(r"^flink-(sql-)?connector-kafka([-_].*)?\.jar$"),
    "kafka-clients": re.compile(r"^(kafka-clients|flink-sql-connector-kafka)([-_].*)?\.jar$"),
}
WHERE = (
    "download them from Maven Central (org.apache.flink:flink-connector-kafka:4.0.1-2.0 and "
    "org.apache.kafka:kafka-clients, or the single org.apache.flink:flink-sql-connector-kafka:"
    "4.0.1-2.0) or take them from a Flink distribution, and pass them with --flink-jars "
    f"PATH,PATH or the environment variable {JARS_ENV}"
)


def check_jars(paths: Sequence[str]) -> list[str]:
    """The user's jars as absolute paths; a path that is not an existing ``.jar`` file is an
    error naming it and the flag."""
    out = []
    for p in paths:
        if not p.endswith(".jar") or not os.path.isfile(p):
            raise FluvialError(
                f"--flink-jars / {JARS_ENV}: {p!r} is not an existing .jar file; pass the paths "
                "of the connector jars the job needs, separated by commas"
            )
        out.append(os.path.abspath(p))
    return out


def kafka_jars_missing(paths: Sequence[str]) -> list[str]:
    """Which of ``flink-connector-kafka`` and ``kafka-clients`` no jar in ``paths`` provides."""
    names = [os.path.basename(p) for p in paths]
    return [what for what, pat in _KAFKA_JARS.items() if not any(pat.match(n) for n in names)]


def require_kafka_jars(paths: Sequence[str], label: str) -> None:
    """Raise an error naming the missing Kafka jars and where to get them."""
    missing = kafka_jars_missing(paths)
    if missing:
        raise FluvialError(
            f"transform '{label}' reads or writes Kafka on Flink, which needs the jars "
            f"flink-connector-kafka and kafka-clients; missing: {', '.join(missing)}. PyFlink "
            f"ships no Kafka connector: {WHERE}"
        )
