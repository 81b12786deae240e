"""Issue 11 item 9: a SASL mismatch (any authentication failure) is reported as an
authentication failure naming the transform and the settings to check, not as "cannot reach
the broker", and the restart strategy does not retry it (restarting does not change
credentials). Before the fix every case below was "cannot reach the Kafka broker".

What is tested against what, per client backend:

- a real listener that requires authentication: Tansu started with ``--authentication``, and
  a client without SASL settings (Tansu answers ApiVersions, then closes the connection on
  the first other request, as a Kafka SASL listener does);
- the broker's explicit refusals, which Tansu 0.6 cannot produce (with ``--authentication`` it
  closes the connection on every SASL mechanism these clients offer, PLAIN, SCRAM-SHA-256 and
  SCRAM-SHA-512, without a Kafka error response): a loopback listener that speaks just enough
  of the protocol (tests/support/fake_sasl_broker.py) answers SaslHandshake with
  UNSUPPORTED_SASL_MECHANISM, or SaslAuthenticate with SASL_AUTHENTICATION_FAILED.

Not tested: a TLS listener (no TLS broker here; its case, a listener that accepts the
connection and never answers a Kafka request, is recognised by the same probe), and a
successful SASL login.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from fake_sasl_broker import FakeSaslBroker

import fluvial as fl
from fluvial.cli.localbroker import free_port, port_open, tansu_binary
from fluvial.runners.direct.restart import is_restartable
from fluvial.transforms.kafka import KafkaAuthenticationError, ReadFromKafka, WriteToKafka
from fluvial.transforms.kafka.clients.diagnose import listener_state

SASL = {
    "confluent": {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                  "sasl.username": "fluvial", "sasl.password": "wrong"},
    "kafka-python": {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                     "sasl_plain_username": "fluvial", "sasl_plain_password": "wrong"},
}


@pytest.fixture(params=["confluent", "kafka-python"])
def client(request):
    return request.param


@pytest.fixture
def auth_broker(tmp_path):
    """Tansu requiring client authentication, on a free loopback port."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with open(tmp_path / "broker.log", "wb") as log:
        proc = subprocess.Popen([tansu_binary(), "broker", "--listener-url", url,
                                 "--advertised-listener-url", url, "--storage-engine",
                                 "memory://tansu/", "--authentication"],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def read(servers: str, client: str, **kw) -> None:
    with fl.Pipeline(argv=["--kafka-client", client]) as p:
        _ = p | "Orders" >> ReadFromKafka(servers, topics=["orders"], stop="end",
                                          connect_timeout=3, **kw)


def test_listener_states(kafka_broker, auth_broker):
    assert listener_state(kafka_broker.bootstrap_servers) == "answered"
    assert listener_state(auth_broker) == "auth"
    assert listener_state(f"127.0.0.1:{free_port()}") == "refused"


def test_no_credentials_for_a_listener_that_requires_them(auth_broker, client):
    with pytest.raises(KafkaAuthenticationError) as ei:
        read(auth_broker, client)
    e = ei.value
    assert str(e).startswith(f"transform 'Orders': the Kafka broker at '{auth_broker}' refused "
                             "to authenticate the client (")
    assert "the listener requires SASL authentication" in e.detail
    assert "cannot reach" not in str(e)
    assert not is_restartable(e)


@pytest.mark.parametrize("mode, detail", [
    ("mechanism", r"(?i)unsupported ?sasl ?mechanism"),
    ("credentials", "Invalid username or password"),
])
def test_broker_refuses_the_sasl_exchange(client, mode, detail):
    with FakeSaslBroker(mode) as fake:
        with pytest.raises(KafkaAuthenticationError, match=detail) as ei:
            read(fake.bootstrap_servers, client, consumer_config=SASL[client])
    assert ei.value.label == "Orders"
    assert not is_restartable(ei.value)
    assert (17, 1) in fake.requests  # the client did start a SASL handshake


def test_writer_reports_the_refusal_too(client):
    with FakeSaslBroker("credentials") as fake:
        with pytest.raises(KafkaAuthenticationError, match="transform 'Out': .*Invalid username"):
            with fl.Pipeline(argv=["--kafka-client", client]) as p:
                _ = p | fl.Create([(b"k", b"v")]) | "Out" >> WriteToKafka(
                    fake.bootstrap_servers, "out", connect_timeout=3,
                    producer_config=SASL[client])
