"""Kafka client backends and how one is chosen.

``client=`` on ReadFromKafka / WriteToKafka (None: the pipeline option ``--kafka-client``,
default ``"auto"``):

- ``"confluent"``: confluent-kafka (librdkafka), ``pip install 'fluvial[kafka]'``;
- ``"kafka-python"``: kafka-python (pure Python), ``pip install 'fluvial[kafka-python]'``;
- ``"auto"``: confluent when it is installed, else kafka-python with one notice (a WARNING of
  logger ``fluvial.kafka``, once per process).

A client asked for by name and not installed is an error naming the extra that brings it.
Importing this package imports neither library.

>>> resolve_name("kafka-python", "Read")
'kafka-python'
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any

from fluvial.errors import PipelineConstructionError

from .base import TP, Backend, Chunk, ConsumerClient, ProducerClient, RecordAccess

CLIENTS = ("auto", "confluent", "kafka-python")
_MODULES = {"confluent": "confluent_kafka", "kafka-python": "kafka"}
_EXTRAS = {"confluent": "fluvial[kafka]", "kafka-python": "fluvial[kafka-python]"}

log = logging.getLogger("fluvial.kafka")
_noticed = False
_notice_lock = threading.Lock()


def check_client(client: str | None, where: str) -> None:
    if client is not None and client not in CLIENTS:
        raise PipelineConstructionError(
            f"{where}: client must be one of {', '.join(map(repr, CLIENTS))} (or None: the "
            f"pipeline's --kafka-client), got {client!r}")


def installed(name: str) -> bool:
    return importlib.util.find_spec(_MODULES[name]) is not None


def resolve_name(client: str | None, label: str, options: Any = None) -> str:
    """The backend name for a transform's ``client`` (None: the pipeline option)."""
    global _noticed
    name = client or getattr(options, "kafka_client", None) or "auto"
    check_client(name, f"transform '{label}'")
    if name != "auto":
        if not installed(name):
            raise PipelineConstructionError(
                f"transform '{label}': the Kafka client {name!r} is not installed; "
                f"pip install '{_EXTRAS[name]}'")
        return name
    if installed("confluent"):
        return "confluent"
    if installed("kafka-python"):
        with _notice_lock:
            if not _noticed:
                _noticed = True
                log.warning("confluent-kafka is not installed: Kafka IO uses kafka-python, "
                            "several times slower; pip install 'fluvial[kafka]' for librdkafka")
        return "kafka-python"
    raise PipelineConstructionError(
        f"transform '{label}': Kafka IO needs a Kafka client: pip install 'fluvial[kafka]' "
        "(confluent-kafka) or 'fluvial[kafka-python]'")


def backend(client: str | None, label: str, options: Any = None) -> Backend:
    """The backend a transform uses (see the module docstring)."""
    name = resolve_name(client, label, options)
    if name == "confluent":
        from .confluent import BACKEND
    else:
        from .kafka_python import BACKEND  # type: ignore[assignment]
    return BACKEND


__all__ = ["CLIENTS", "TP", "Backend", "Chunk", "ConsumerClient", "ProducerClient",
           "RecordAccess", "backend", "check_client", "installed", "resolve_name"]
