"""Issue 11 item 2: losing the broker must not hang a Kafka job. Each test starts a private
Tansu broker, runs a pipeline that SIGKILLs the broker (by pid) from inside the run after a
given number of elements, and checks that the run fails after ``broker_timeout`` with an error
naming the transform, the bootstrap servers and the last error, while the status line showed
the outage. Before the fix a reader showed ``0 ev/s`` forever (these tests would hit their
timeout), and a writer failed about 85 s later with a raw client error naming no transform.

Each runs once per client backend. (Bringing the broker back and restarting: the crash suite,
tests/crash/test_broker_outage.py.)
"""

from __future__ import annotations

import os
import re
import signal

import pytest

import fluvial as fl
from fluvial.cli.localbroker import LocalBroker
from fluvial.transforms import Map
from fluvial.transforms.kafka import BrokerUnreachableError, ReadFromKafka, WriteToKafka
from fluvial.transforms.kafka.topics import create_topics

N = 200
TIMEOUT_S = 3.0  # broker_timeout of the transforms under test
SEEN: list = []  # elements that passed the killing Map (DoFns are copied when a run starts)


@pytest.fixture(params=["confluent", "kafka-python"])
def client(request):
    return request.param


@pytest.fixture
def broker(tmp_path):
    """A private broker (the session's shared one must survive)."""
    b = LocalBroker(log_path=str(tmp_path / "broker.log")).start()
    try:
        yield b
    finally:
        b.stop()


def kill_at(pid: int, n: int):
    """A function for Map: passes elements through and SIGKILLs ``pid`` at the n-th."""
    def step(x):
        SEEN.append(x)
        if len(SEEN) == n:
            os.kill(pid, signal.SIGKILL)
        return x

    return step


def produce(servers: str, topic: str, client: str) -> None:
    with fl.Pipeline(argv=["--kafka-client", client]) as p:
        _ = (p | fl.Create([fl.TimestampedValue((f"k{i}", f"v{i}"), 1 + i) for i in range(N)])
               | WriteToKafka(servers, topic, key_serializer="str", value_serializer="str"))


LAST_ERROR = re.compile(r"refused|ECONNREFUSED|transport|down|disconnect", re.I)


@pytest.mark.timeout(120)
def test_lost_broker_fails_the_read_naming_it_and_shows_the_outage(broker, client, tmp_path,
                                                                    capsys):
    s = broker.bootstrap_servers
    create_topics("setup", s, ["orders"], 1, client=client)
    produce(s, "orders", client)
    SEEN.clear()
    p = fl.Pipeline(argv=["--kafka-client", client, "--progress", "on", "--checkpoint-dir",
                          str(tmp_path / "ck"), "--checkpoint-interval", "0.5"])
    _ = (p | "Orders" >> ReadFromKafka(s, topics=["orders"], key_deserializer="str",
                                       value_deserializer="str", broker_timeout=TIMEOUT_S)
           | Map(kill_at(broker.proc.pid, 30)))
    with pytest.raises(BrokerUnreachableError) as ei:
        p.run()
    e = ei.value
    assert (e.label, e.servers, e.when) == ("Orders", s, "lost")
    assert e.seconds >= TIMEOUT_S
    assert str(e).startswith(f"transform 'Orders': lost the Kafka broker at '{s}' (no answer "
                             f"for {e.seconds:g}s, last error: ")
    assert LAST_ERROR.search(e.last_error), e.last_error
    assert "--restart-attempts" in str(e) and "raise broker_timeout" in str(e)
    # everything before the kill went through, in order (one partition)
    assert len(SEEN) >= 30 and SEEN == [(f"k{i}", f"v{i}") for i in range(len(SEEN))]
    # the status line showed the outage and the retries
    assert re.search(rf"broker {re.escape(s)} down \d+s, retry #\d+ in \d+s",
                     capsys.readouterr().err)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
def test_lost_broker_fails_the_write_naming_it(broker, client, delivery, tmp_path):
    s = broker.bootstrap_servers
    create_topics("setup", s, ["out"], 1, client=client)
    SEEN.clear()
    p = fl.Pipeline(argv=["--kafka-client", client, "--batch-size", "20"])
    _ = (p | fl.Create([(f"k{i}", f"v{i}") for i in range(N)])
           | Map(kill_at(broker.proc.pid, 60))
           | "Out" >> WriteToKafka(s, "out", key_serializer="str", value_serializer="str",
                                   delivery=delivery, broker_timeout=TIMEOUT_S))
    with pytest.raises(BrokerUnreachableError) as ei:
        p.run()
    e = ei.value
    assert (e.label, e.servers, e.when) == ("Out", s, "lost")
    assert e.seconds >= TIMEOUT_S
    assert str(e).startswith(f"transform 'Out': lost the Kafka broker at '{s}' (no answer for ")
    assert e.last_error


def test_broker_timeout_from_the_pipeline_option(broker, client, tmp_path):
    """Without broker_timeout on the transform, --kafka-broker-timeout applies."""
    s = broker.bootstrap_servers
    create_topics("setup", s, ["orders"], 1, client=client)
    produce(s, "orders", client)
    SEEN.clear()
    p = fl.Pipeline(argv=["--kafka-client", client, "--kafka-broker-timeout", "2"])
    _ = (p | "Orders" >> ReadFromKafka(s, topics=["orders"])
           | Map(kill_at(broker.proc.pid, 10)))
    with pytest.raises(BrokerUnreachableError, match="no answer for [2-9]s") as ei:
        p.run()
    assert ei.value.seconds >= 2
