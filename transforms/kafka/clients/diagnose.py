"""Why a client could not connect: telling "nothing listens" from "a listener that refuses
plain Kafka requests" (a TLS or SASL listener the client is not configured for).

:func:`listener_state` opens a TCP connection to a bootstrap server and sends one Kafka
``ApiVersions`` v0 request, which every Kafka broker answers before any authentication:

- ``"refused"``: nothing accepts connections there (or the host does not resolve);
- ``"answered"``: a Kafka broker answered: it is reachable, and a client failing to connect
  failed later (e.g. its SASL authentication was rejected);
- ``"closed"``: the connection was accepted and closed, or answered with something that is
  not a Kafka response (a TLS listener's alert), without a Kafka answer: the listener expects
  a handshake the client did not make.

:func:`connect_failure` turns a failed connection into the error to raise.

>>> listener_state("127.0.0.1:1", timeout=0.5)
'refused'
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from ..errors import BrokerUnreachableError, KafkaAuthenticationError, KafkaIOError

_API_VERSIONS = struct.pack(">hhih", 18, 0, 0x5EED, 7) + b"fluvial"


def _servers(servers: Any) -> list[str]:
    if isinstance(servers, str):
        return [s.strip() for s in servers.split(",") if s.strip()]
    return list(servers)


def _host_port(server: str) -> tuple[str, int]:
    server = server.split("://", 1)[-1]
    host, _, port = server.rpartition(":")
    return host.strip("[]") or "localhost", int(port or 9092)


def listener_state(server: str, timeout: float = 2.0) -> str:
    """``"refused"``, ``"answered"`` or ``"closed"`` for one ``host:port`` (module docstring)."""
    try:
        host, port = _host_port(server)
        sock = socket.create_connection((host, port), timeout=timeout)
    except (OSError, ValueError):
        return "refused"
    try:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(_API_VERSIONS)) + _API_VERSIONS)
        head = b""
        while len(head) < 8:
            part = sock.recv(8 - len(head))
            if not part:
                return "closed"
            head += part
        size, correlation = struct.unpack(">ii", head)
        return "answered" if correlation == 0x5EED and 4 <= size < 1 << 20 else "closed"
    except OSError:
        return "closed"
    finally:
        sock.close()


def connect_failure(label: str, servers: Any, seconds: float, auth_error: str | None,
                    last_error: str | None) -> KafkaIOError:
    """The error for a client that did not connect within ``seconds``: an authentication
    failure when the library reported one (``auth_error``) or when the listeners accept
    connections but close them on a plain Kafka request; else unreachable, with the library's
    ``last_error``."""
    if auth_error:
        return KafkaAuthenticationError(label, servers, auth_error)
    states = {s: listener_state(s) for s in _servers(servers)}
    closed = [s for s, st in states.items() if st == "closed"]
    if closed and all(st != "answered" for st in states.values()):
        return KafkaAuthenticationError(
            label, servers,
            f"{', '.join(closed)} accepted the connection and closed it without answering a "
            "Kafka request, as a listener that expects SASL or TLS does with a client not "
            "configured for it")
    if any(st == "answered" for st in states.values()):
        detail = "the broker answers, but the client could not complete its connection"
        last_error = f"{detail}: {last_error}" if last_error else detail
    return BrokerUnreachableError(label, servers, "connect", last_error, seconds)


__all__ = ["listener_state", "connect_failure"]
