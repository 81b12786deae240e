"""A loopback listener that speaks just enough of the Kafka protocol to refuse a SASL client,
as a Kafka broker with a SASL listener does:

- ``ApiVersions`` (v0-v3) answered, advertising SaslHandshake v0-1 and SaslAuthenticate v0-1;
- ``mode="mechanism"``: ``SaslHandshake`` answered with UNSUPPORTED_SASL_MECHANISM (33) and the
  one mechanism it enables, SCRAM-SHA-512 (the client asked for another one);
- ``mode="credentials"``: ``SaslHandshake`` accepted, then ``SaslAuthenticate`` answered with
  SASL_AUTHENTICATION_FAILED (58), "Authentication failed: Invalid username or password";
- any other request: the connection is closed (a SASL listener does not serve
  unauthenticated requests). A refused client is disconnected 100 ms after the answer, as
  Kafka does (``connection.failed.authentication.delay.ms``).

``requests`` records the (api_key, api_version) of every request received.

    with FakeSaslBroker("credentials") as fake:
        ... bootstrap_servers=fake.bootstrap_servers ...
"""

from __future__ import annotations

import socket
import struct
import threading

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
ADVERTISED = [(API_VERSIONS, 0, 3), (SASL_HANDSHAKE, 0, 1), (SASL_AUTHENTICATE, 0, 1),
              (3, 0, 1)]  # Metadata, never served


def _uvarint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class FakeSaslBroker:
    def __init__(self, mode: str) -> None:
        assert mode in ("mechanism", "credentials")
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests: list[tuple[int, int]] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> FakeSaslBroker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.sock.close()
        self.thread.join(5)

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            while True:
                head = self._read(conn, 4)
                if head is None:
                    return
                (size,) = struct.unpack(">i", head)
                req = self._read(conn, size)
                if req is None:
                    return
                key, version, correlation = struct.unpack(">hhi", req[:8])
                self.requests.append((key, version))
                body = self._answer(key, version, req[8:])
                if body is None:
                    return
                resp = struct.pack(">i", correlation) + body
                conn.sendall(struct.pack(">i", len(resp)) + resp)
                if key == SASL_AUTHENTICATE or (key == SASL_HANDSHAKE
                                                and self.mode == "mechanism"):
                    # a refused client is disconnected after the answer, with a delay as
                    # Kafka's (connection.failed.authentication.delay.ms, 100 ms by default)
                    conn.settimeout(0.1)
                    try:
                        conn.recv(1)
                    except OSError:
                        pass
                    return
        except OSError:
            return
        finally:
            conn.close()

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            part = conn.recv(n - len(data))
            if not part:
                return None
            data += part
        return data

    def _answer(self, key: int, version: int, rest: bytes) -> bytes | None:
        if key == API_VERSIONS:
            if version >= 3:  # flexible: compact array, tagged fields (header stays v0)
                apis = b"".join(struct.pack(">hhh", k, lo, hi) + b"\0" for k, lo, hi in ADVERTISED)
                return (struct.pack(">h", 0) + _uvarint(len(ADVERTISED) + 1) + apis
                        + struct.pack(">i", 0) + b"\0")
            apis = b"".join(struct.pack(">hhh", *a) for a in ADVERTISED)
            body = struct.pack(">hi", 0, len(ADVERTISED)) + apis
            return body + (struct.pack(">i", 0) if version >= 1 else b"")
        if key == SASL_HANDSHAKE:
            (n,) = struct.unpack(">h", rest[:2])  # the client id, then the mechanism
            skip = 2 + max(n, 0)
            (m,) = struct.unpack(">h", rest[skip:skip + 2])
            mechanism = rest[skip + 2:skip + 2 + m].decode()
            if self.mode == "mechanism":
                return struct.pack(">hi", 33, 1) + _string("SCRAM-SHA-512")
            return struct.pack(">hi", 0, 1) + _string(mechanism)
        if key == SASL_AUTHENTICATE:
            msg = "Authentication failed: Invalid username or password"
            body = struct.pack(">h", 58) + _string(msg) + struct.pack(">i", 0)
            return body + (struct.pack(">q", 0) if version >= 1 else b"")
        return None
