"""Why a client could not connect: telling "nothing listens" from "a listener that refuses
the client" (a SASL or TLS listener the client is not configured for).

:func:`listener_state` opens a TCP connection to a bootstrap server and sends a Kafka
``ApiVersions`` v0 request, which every Kafka broker answers before any authentication, then a
``Metadata`` request (v4, or the nearest version the broker lists), which a SASL listener does
not serve before authentication (it closes the connection):

- ``"refused"``: nothing accepts connections there (or the host does not resolve);
- ``"closed"``: the connection was accepted and closed, or answered with something that is
  not a Kafka response (a TLS listener's alert), without a Kafka answer: the listener expects
  a handshake (TLS) the client did not make;
- ``"auth"``: a Kafka broker answered ``ApiVersions`` and closed the connection on
  ``Metadata``: the listener requires authentication (SASL);
- ``"answered"``: a Kafka broker answered both: it is reachable without authentication, and a
  client failing to connect failed for another reason.

:func:`connect_failure` turns a failed connection into the error to raise.

>>> listener_state("127.0.0.1:1", timeout=0.5)
'refused'
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from ..errors import BrokerUnreachableError, KafkaAuthenticationError, KafkaIOError

_CORRELATION = 0x5EED
_CLIENT = b"fluvial"


def _request(key: int, version: int, body: bytes) -> bytes:
    req = struct.pack(">hhih", key, version, _CORRELATION, len(_CLIENT)) + _CLIENT + body
    return struct.pack(">i", len(req)) + req


def _servers(servers: Any) -> list[str]:
    if isinstance(servers, str):
        return [s.strip() for s in servers.split(",") if s.strip()]
    return list(servers)


def _host_port(server: str) -> tuple[str, int]:
    server = server.split("://", 1)[-1]
    host, _, port = server.rpartition(":")
    return host.strip("[]") or "localhost", int(port or 9092)


def _response(sock: socket.socket) -> bytes | None:
    """One response body (after the correlation id), None: closed or not a Kafka answer."""
    head = b""
    while len(head) < 8:
        part = sock.recv(8 - len(head))
        if not part:
            return None
        head += part
    size, correlation = struct.unpack(">ii", head)
    if correlation != _CORRELATION or not 4 <= size < 1 << 24:
        return None
    body = b""
    while len(body) < size - 4:
        part = sock.recv(size - 4 - len(body))
        if not part:
            return None
        body += part
    return body


def _metadata_version(api_versions: bytes) -> int | None:
    """A non-flexible Metadata version (v1-v8) the broker lists, nearest to v4; None: none."""
    try:
        (count,) = struct.unpack(">i", api_versions[2:6])
        for i in range(count):
            key, lo, hi = struct.unpack(">hhh", api_versions[6 + 6 * i:12 + 6 * i])
            if key == 3:
                v = min(max(4, lo), hi)
                return v if 1 <= v <= 8 else None
    except struct.error:
        return None
    return None


def listener_state(server: str, timeout: float = 2.0) -> str:
    """``"refused"``, ``"closed"``, ``"auth"`` or ``"answered"`` for one ``host:port``
    (module docstring)."""
    try:
        host, port = _host_port(server)
        sock = socket.create_connection((host, port), timeout=timeout)
    except (OSError, ValueError):
        return "refused"
    try:
        sock.settimeout(timeout)
        sock.sendall(_request(18, 0, b""))
        versions = _response(sock)
        if versions is None:
            return "closed"
        mv = _metadata_version(versions)
        if mv is None:
            return "answered"
        body = struct.pack(">i", 0) + (b"\0" if mv >= 4 else b"")  # no topics; no creation
        sock.sendall(_request(3, mv, body))
        return "answered" if _response(sock) is not None else "auth"
    except OSError:
        return "closed"
    finally:
        sock.close()


def connect_failure(label: str, servers: Any, seconds: float, auth_error: str | None,
                    last_error: str | None) -> KafkaIOError:
    """The error for a client that did not connect within ``seconds``: an authentication
    failure when the library reported one (``auth_error``) or when the listeners refuse
    unauthenticated requests (``"auth"``) or plain connections (``"closed"``); else
    unreachable, with the library's ``last_error``."""
    if auth_error:
        return KafkaAuthenticationError(label, servers, auth_error)
    states = {s: listener_state(s) for s in _servers(servers)}
    auth = [s for s, st in states.items() if st == "auth"]
    closed = [s for s, st in states.items() if st == "closed"]
    if auth and all(st in ("auth", "refused") for st in states.values()):
        return KafkaAuthenticationError(
            label, servers,
            f"{', '.join(auth)} answered ApiVersions and closed the connection on the next "
            "request without authentication: the listener requires SASL authentication, and "
            "the client offered none or one the broker does not accept")
    if closed and all(st in ("closed", "refused") for st in states.values()):
        return KafkaAuthenticationError(
            label, servers,
            f"{', '.join(closed)} accepted the connection and closed it without answering a "
            "Kafka request, as a TLS listener does with a client not configured for TLS")
    if any(st == "answered" for st in states.values()):
        detail = "the broker answers, but the client could not complete its connection"
        last_error = f"{detail}: {last_error}" if last_error else detail
    return BrokerUnreachableError(label, servers, "connect", last_error, seconds)


__all__ = ["listener_state", "connect_failure"]
