"""A broker outage in the crash job (tests/crash/job.py), once per client backend: the job reads
its input from a private broker, which the test SIGKILLs (by pid) mid-run, and writes to the
three exactly-once sinks: JSON-lines files, a SQLite table, and a Kafka topic on the session's
broker (which stays up).

The job runs with ``--kafka-broker-timeout 3 --restart-attempts 6``. Expected, in order:

1. the read fails 3 s after the broker stopped answering, with an error naming the transform,
   the bootstrap servers and the last error, and the restart strategy restarts the run from
   its latest checkpoint (the job logs both: ``the run failed (BrokerUnreachableError:
   transform 'Read0': lost the Kafka broker at '127.0.0.1:PORT' ...); restarting``);
2. the test brings a broker back on the same port. Tansu keeps topics in memory only, so the
   new broker is empty: the test creates the input topic again and produces the same records
   (the recipe is deterministic, so every record has its old partition and offset), as a
   Kafka cluster that lost no data would hold them. A restart that comes before the topic is
   back fails again ("do not exist") and is restarted again;
3. the job completes (exit 0), resuming from its checkpointed offsets: every sink then holds
   the expected rows exactly once (derived by arithmetic from the input recipe, see
   test_crash_recovery.py).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from test_crash_recovery import (
    JOB,
    N,
    expected_sums,
    file_rows,
    latest_checkpoint,
    prepare_db,
    produce_input,
    seen,
)

from fluvial.cli.localbroker import LocalBroker
from fluvial.transforms.kafka.topics import create_topics

FAILED = "the run failed (BrokerUnreachableError: transform 'Read"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_broker_outage_restarts_and_completes_exactly_once(kafka_broker, kafka_topic, tmp_path,
                                                           client):
    out_topic = kafka_topic(partitions=1)
    broker = LocalBroker(log_path=str(tmp_path / "broker-1.log")).start()
    second = None
    proc = None
    try:
        src = broker.bootstrap_servers
        create_topics("setup", src, ["input"], 3)
        produce_input(src, "input")
        db = str(tmp_path / "out.db")
        prepare_db(db)
        ck = str(tmp_path / "ck")
        prefix = str(tmp_path / "files" / "sums")
        log_path = tmp_path / "job.log"
        cmd = [sys.executable, JOB, "--bootstrap", src, "--input", "input",
               "--group", "outage", "--out-prefix", prefix, "--db", db,
               "--output-topic", out_topic, "--output-bootstrap", kafka_broker.bootstrap_servers,
               "--throttle", "0.001", "--checkpoint-dir", ck, "--checkpoint-interval", "0.1",
               "--batch-size", "10", "--kafka-client", client, "--kafka-broker-timeout", "3",
               "--restart-attempts", "6", "--restart-delay", "1"]
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

        def job_log() -> str:
            return log_path.read_text()

        deadline = time.monotonic() + 90
        while (seen(job_log()) < N // 5 or latest_checkpoint(ck) < 2) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None and seen(job_log()) < N, job_log()
        # the outage: the input broker dies mid-run
        os.kill(broker.proc.pid, signal.SIGKILL)
        broker.proc.wait()
        deadline = time.monotonic() + 90
        while FAILED not in job_log() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        log = job_log()
        assert FAILED in log, log
        line = log[log.index(FAILED):].splitlines()[0]
        assert f"lost the Kafka broker at '{src}' (no answer for " in line
        assert ", last error: " in line and "restarting from the latest checkpoint" in line
        # a broker back on the same port, with the same input
        second = LocalBroker(port=broker.port, log_path=str(tmp_path / "broker-2.log")).start()
        create_topics("setup", src, ["input"], 3)
        produce_input(src, "input")
        rc = proc.wait(timeout=180)
        log = job_log()
        assert rc == 0 and "DONE" in log, log
        restarts = int(log.rsplit("restarts=", 1)[1].split()[0])
        assert restarts >= 1
    finally:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        broker.stop()
        if second is not None:
            second.stop()

    expected = sorted((k, w, s) for (k, w), s in expected_sums().items())
    assert sorted(file_rows(prefix)) == expected
    with sqlite3.connect(db) as c:
        assert sorted(c.execute("SELECT key, window_start, sum FROM sums")) == expected
        kinds = sorted(c.execute("SELECT kind, key, window_start FROM changes"))
        assert kinds == sorted(("insert", k, w) for k, w, _ in expected)
    from committed_view import committed_view

    view = committed_view(kafka_broker.bootstrap_servers, out_topic)
    got = sorted((json.loads(r.value)["key"], json.loads(r.value)["window_start"],
                  json.loads(r.value)["sum"]) for r in view.committed)
    assert got == expected
    assert view.open == []
