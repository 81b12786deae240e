"""The SIGKILL crash test on Flink: a real job process (crash_job.py, --runner flink) reads a
Kafka topic with Flink's KafkaSource and writes exactly once to a Kafka topic (Flink's KafkaSink,
transactions committed at checkpoints) and to JSON-lines files (fluvial's file sink on Flink's
checkpoints). It is killed with SIGKILL (the whole process group: the Python driver and its
JVM) several times, each time restarted with the same command, which resumes from the newest
completed checkpoint; the last run finishes by itself (the read is bounded, stop="end").

The committed output must then equal the expected output exactly: every row once, none lost,
none twice. Expected rows are derived here by arithmetic from how the input was made. The Kafka
output is checked on the read_committed view rebuilt from the raw log
(tests/support/committed_view.py: Tansu returns aborted records to read_committed readers).

Kills are placed by the job's progress, not by wall-clock time: each run is killed at a random
moment (up to half a second) after a checkpoint newer than the one it resumed from completed,
so every kill lands mid-stream with committed and uncommitted output on both sides. The job
throttles its input, so a run cannot finish before it is killed. The seed is printed; set
CRASH_SEED to replay.
"""

from __future__ import annotations

import glob
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

from .kafka_jars import kafka_jars

JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crash_job.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILLS = 3
T0 = 1_700_000_000_000
N = 240


def _produce(servers: str, topic: str) -> list[tuple[str, int, int]]:
    """N records: key k{i % 4}, JSON value i, partition i % 2, timestamp T0 + 250 ms * i."""
    from kafka import KafkaProducer

    rows = [(f"k{i % 4}", i, T0 + 250 * i) for i in range(N)]
    prod = KafkaProducer(bootstrap_servers=servers, linger_ms=5)
    for i, (k, v, ts) in enumerate(rows):
        prod.send(topic, key=k.encode(), value=json.dumps(v).encode(), partition=i % 2,
                  timestamp_ms=ts)
    prod.flush()
    prod.close()
    return rows


def _latest_checkpoint(ck: str) -> int:
    found = [int(m.group(1)) for p in glob.glob(os.path.join(ck, "flink", "*", "chk-*", "_metadata"))
             if (m := re.search(r"chk-(\d+)", p))]
    return max(found, default=0)


def _stop(proc: subprocess.Popen) -> None:
    """SIGKILL the process group this test started (the job and its JVM), by its id."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def _run_with_kills(cmd: list[str], ck: str, log: str, seed: int) -> int:
    rng = random.Random(seed)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.join(ROOT, "tests", "support"), os.environ.get("PYTHONPATH", "")]))
    kills = 0
    with open(log, "ab") as out:
        for _ in range(KILLS):
            before = _latest_checkpoint(ck)
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
            try:
                deadline = time.monotonic() + 300
                while proc.poll() is None and time.monotonic() < deadline:
                    if _latest_checkpoint(ck) > before:
                        time.sleep(rng.uniform(0.0, 0.5))
                        break
                    time.sleep(0.1)
                if proc.poll() is None:
                    kills += 1
            finally:
                _stop(proc)
        final = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=600,
                               start_new_session=True)
    assert final.returncode == 0, open(log, encoding="utf-8", errors="replace").read()[-4000:]
    return kills


def _crash_run(tmp_path, kafka_broker, kafka_topic, windowed: bool):
    from committed_view import committed_view

    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    print(f"CRASH_SEED={seed}")
    s = kafka_broker.bootstrap_servers
    t_in, t_out = kafka_topic(partitions=2), kafka_topic(partitions=1)
    rows = _produce(s, t_in)
    ck, out = str(tmp_path / "ck"), str(tmp_path / "out" / "rows")
    cmd = [sys.executable, JOB, "--bootstrap", s, "--input", t_in, "--output-topic", t_out,
           "--out-prefix", out, "--throttle", "0.05", "--flink-jars", ",".join(kafka_jars()),
           "--checkpoint-dir", ck, "--checkpoint-interval", "0.3",
           *(["--windowed", "--window", "10"] if windowed else [])]
    kills = _run_with_kills(cmd, ck, str(tmp_path / "job.log"), seed)
    assert kills == KILLS, f"only {kills} runs were killed mid-stream (seed {seed})"
    files = [json.loads(line) for f in sorted(glob.glob(out + "-*"))
             for line in open(f, encoding="utf-8")]
    view = committed_view(s, t_out)
    kafka = [json.loads(v) for v in view.values()]
    return rows, files, kafka


def _key(r: dict) -> tuple:
    return tuple(sorted(r.items()))


def test_sigkill_and_restart_keep_kafka_and_file_output_exactly_once(tmp_path, kafka_broker,
                                                                      kafka_topic):
    rows, files, kafka = _crash_run(tmp_path, kafka_broker, kafka_topic, windowed=False)
    expected = sorted(_key({"key": k, "value": v * 2}) for k, v, _ in rows)
    assert sorted(map(_key, files)) == expected
    assert sorted(map(_key, kafka)) == expected


def test_sigkill_and_restart_keep_windowed_sums_exactly_once(tmp_path, kafka_broker, kafka_topic):
    rows, files, kafka = _crash_run(tmp_path, kafka_broker, kafka_topic, windowed=True)
    sums: dict[tuple[str, int], int] = {}
    for k, v, ts in rows:
        w = ts // 10_000 * 10_000
        sums[(k, w)] = sums.get((k, w), 0) + v
    expected = sorted(_key({"key": k, "window_start": w, "value": n}) for (k, w), n in sums.items())
    assert sorted(map(_key, files)) == expected
    assert sorted(map(_key, kafka)) == expected


def test_unbounded_read_commits_at_checkpoints(tmp_path, kafka_broker, kafka_topic):
    """An unbounded read never ends, so its exactly-once output can only become visible when
    checkpoints complete: the test waits until both sinks hold every row, then kills the job."""
    from committed_view import committed_view

    s = kafka_broker.bootstrap_servers
    t_in, t_out = kafka_topic(partitions=2), kafka_topic(partitions=1)
    rows = _produce(s, t_in)
    out = str(tmp_path / "out" / "rows")
    cmd = [sys.executable, JOB, "--bootstrap", s, "--input", t_in, "--output-topic", t_out,
           "--out-prefix", out, "--unbounded", "--flink-jars", ",".join(kafka_jars()),
           "--checkpoint-dir", str(tmp_path / "ck"), "--checkpoint-interval", "0.3"]
    expected = sorted(_key({"key": k, "value": v * 2}) for k, v, _ in rows)

    def files() -> list:
        return sorted(_key(json.loads(line)) for f in sorted(glob.glob(out + "-*"))
                      for line in open(f, encoding="utf-8"))

    def kafka() -> list:
        return sorted(_key(json.loads(v)) for v in committed_view(s, t_out).values())

    with open(tmp_path / "job.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and proc.poll() is None:
                if len(files()) >= N and len(kafka()) >= N:
                    break
                time.sleep(1)
            assert proc.poll() is None, (tmp_path / "job.log").read_text()[-4000:]
        finally:
            _stop(proc)
    assert files() == expected
    assert kafka() == expected
