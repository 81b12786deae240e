"""Errors of Kafka IO. Each names the transform and the bootstrap servers, and says what to do.

- :class:`KafkaIOError`: the base; a runtime failure (the restart strategy may retry it).
- :class:`BrokerUnreachableError`: no broker answered, at the start (``connect_timeout``) or
  during the run (``broker_timeout``); carries the last error the client reported.
- :class:`KafkaAuthenticationError`: a broker answered and refused the client's credentials or
  security settings (SASL, TLS). A :class:`~fluvial.errors.ConfigurationError`: restarting does
  not change credentials, so the restart strategy never retries it.

>>> e = BrokerUnreachableError("Orders", "127.0.0.1:9092", "lost", "Connection refused", 60)
>>> str(e).split(";")[0]
"transform 'Orders': lost the Kafka broker at '127.0.0.1:9092' (no answer for 60s, last error: Connection refused)"
"""

from __future__ import annotations

from typing import Any

from fluvial.errors import ConfigurationError, FluvialError


class KafkaIOError(FluvialError):
    """Kafka IO could not connect, found no topic, or the broker refused an operation."""


def servers_text(servers: Any) -> str:
    return repr(servers if isinstance(servers, str) else ",".join(servers))


class BrokerUnreachableError(KafkaIOError):
    """No broker of ``servers`` answered for ``seconds``: ``when`` is "connect" (at the start)
    or "lost" (during the run)."""

    def __init__(self, label: str, servers: Any, when: str, last_error: str | None,
                 seconds: float) -> None:
        last = f", last error: {last_error}" if last_error else ""
        if when == "connect":
            head = (f"transform '{label}': cannot reach the Kafka broker at "
                    f"{servers_text(servers)} within {seconds:g}s{last.replace(', ', ' (', 1)}"
                    f"{')' if last else ''}")
            fix = ("check bootstrap_servers and that the broker runs (a local one: fluvial "
                   "broker start), or raise connect_timeout")
        else:
            head = (f"transform '{label}': lost the Kafka broker at {servers_text(servers)} "
                    f"(no answer for {seconds:g}s{last})")
            fix = ("the run fails here, and --restart-attempts decides whether it restarts from "
                   "its latest checkpoint; check the broker, or raise broker_timeout (on the "
                   "transform, or --kafka-broker-timeout for every Kafka transform)")
        super().__init__(f"{head}; {fix}")
        self.label = label
        self.servers = servers
        self.when = when
        self.last_error = last_error
        self.seconds = seconds


class KafkaAuthenticationError(KafkaIOError, ConfigurationError):
    """The broker refused the client's credentials or security settings."""

    def __init__(self, label: str, servers: Any, detail: str) -> None:
        super().__init__(
            f"transform '{label}': the Kafka broker at {servers_text(servers)} refused to "
            f"authenticate the client ({detail}); check the security settings passed in "
            "consumer_config / producer_config (security protocol, SASL mechanism, user name "
            "and password, TLS) against the broker's listener")
        self.label = label
        self.servers = servers
        self.detail = detail


__all__ = ["KafkaIOError", "BrokerUnreachableError", "KafkaAuthenticationError", "servers_text"]
