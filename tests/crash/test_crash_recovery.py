"""The SIGKILL crash test: a real job process (tests/crash/job.py) reading a real Kafka topic is
killed with SIGKILL eighteen times, restarted from its checkpoint each time, then allowed to
finish. Its three exactly-once sinks must then hold exactly the expected
output, derived here by arithmetic from how the input was made (not by running fluvial):

- the JSON-lines files: every (key, window, sum) exactly once (no loss, no duplicate);
- the SQLite table: the same rows, each inserted once and never updated (triggers count every
  insert and update, so a row applied twice would show even though an upsert hides it);
- the Kafka topic: the records of committed transactions, reconstructed from the raw log by
  tests/support/committed_view.py (Tansu, the test broker, returns aborted records to
  read_committed consumers, but writes the COMMIT/ABORT control markers like Kafka does), equal
  the same rows exactly.

The job's runs alternate between the two Kafka client backends (confluent-kafka and
kafka-python): every run restores a checkpoint the other backend wrote and fences the other's
transactional producer, so both backends pass the whole schedule.

Every kill is placed by the job's progress, never by wall-clock time, so the schedule holds on any
machine speed: the job prints ``seen=<n>`` (elements this run processed) and SIGKILLs itself
once a run processed ``--cap`` elements. Six kills come at a random progress point (a random
number of elements, or a random moment of start-up and restore); six right after a new
checkpoint file appears, i.e. between the checkpoint being durable and the sinks' commits, or
during them; six at chosen steps of the sinks' two-phase commit, where the job SIGKILLs itself
(``--crash-at``, see crashpoints.py), so that every gap between two steps is reached in every
run. Each run's cap bounds how far it gets; the caps add up to less than the input
(``worst_case_progress``), so every kill lands before the input is drained. The order is
shuffled; the seed is printed; set CRASH_SEED to replay.

Two of the crash-point kills also damage the newest checkpoint (truncated to half), as a
failing disk would:

- after ``Files.notify.before`` (the checkpoint durable, no sink committed it): a later run
  must skip it for the checkpoint before (set aside as ``chk-N.ckpt.damaged``), since resuming
  from that one writes nothing twice;
- after ``Kafka.notify.after`` (every sink committed it): the next run must refuse at once
  (exit 1, CheckpointCorruptError naming the file), since the older checkpoint would write the
  committed output again; the test then puts the file back, as the message says, and goes on.
"""

from __future__ import annotations

import glob
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from kafka import KafkaProducer

JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "job.py")
T0 = 1_700_000_000_000  # epoch ms, a multiple of 10 s: window boundaries fall on T0 + 10 s * w
N = 3000  # input records i = 0 .. N-1
STEP_MS = 100  # record i has event time T0 + 0.1 s * i: 100 records per 10 s window, 30 windows
KEYS = 7
MIN_KILLS = 12  # kills from outside, at random progress points or right after a checkpoint
BATCH = 10  # --batch-size: each of the 3 reads hands over 10 elements per loop iteration
THROTTLE = 0.005  # seconds per element: an iteration (30 elements) takes > the 0.1 s interval,
# so the job checkpoints after every iteration, every 30 elements
RANDOM_MAX = 50  # a random kill comes after 0..50 elements of the run (0: during start-up)
RANDOM_SLACK = 30  # ... and the run's cap is 30 elements later
CHECKPOINT_CAP = 100  # the cap of a run killed after 1 or 2 new checkpoints (<= 60 elements)
# the job kills itself at these steps of the sinks' two-phase commit (tests/crash/crashpoints.py)
CRASH_POINTS = (
    "Sql.snapshot.after",  # SQL rows pre-committed, the checkpoint not yet written
    "Kafka.snapshot.after",  # every sink pre-committed, the checkpoint not yet written
    "Files.notify.before",  # the checkpoint durable, nothing committed
    "Sql.notify.before",  # files committed; SQL and Kafka not
    "Kafka.notify.before",  # files and SQL committed; Kafka not
    "Kafka.notify.after",  # everything committed
)


CLIENTS = ("confluent", "kafka-python")  # run n uses CLIENTS[n % 2]


def key_of(i: int) -> str:
    return f"k{i % KEYS}"


def amount_of(i: int) -> int:
    return i % 10 + 1


def expected_sums() -> dict[tuple[str, int], int]:
    """(key, window start ms) -> sum of the amounts, by arithmetic over the input's recipe."""
    out: dict[tuple[str, int], int] = {}
    for i in range(N):
        w = T0 + (i * STEP_MS) // 10_000 * 10_000
        out[(key_of(i), w)] = out.get((key_of(i), w), 0) + amount_of(i)
    return out


def test_expected_sums_by_hand():
    exp = expected_sums()
    assert len(exp) == KEYS * 30
    # the amounts cycle 1..10 every 10 records: 300 cycles of 55
    assert sum(exp.values()) == 300 * 55
    # window 0 holds i = 0..99; key k0 has i = 0, 7, ..., 98 (15 records): amounts
    # 1, 8, 5, 2, 9, 6, 3, 10, 7, 4 (one full cycle of 1..10 = 55) then 1, 8, 5, 2, 9
    assert exp[("k0", T0)] == 55 + 1 + 8 + 5 + 2 + 9
    # the last window holds i = 2900..2999; key k6 has i = 2904, 2911, ..., 2996 (14 records)
    assert exp[("k6", T0 + 290_000)] == sum(i % 10 + 1 for i in range(2904, 3000, 7))


def produce_input(bootstrap: str, topic: str) -> None:
    # small record batches (a fetch returns whole batches), so that the job's reader gets the
    # three partitions interleaved and its watermark, their minimum, advances steadily
    prod = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, batch_size=400, acks="all")
    for i in range(N):
        prod.send(topic, key=key_of(i).encode(), value=json.dumps({"amount": amount_of(i)}).encode(),
                  partition=i % 3, timestamp_ms=T0 + i * STEP_MS)
    prod.flush()
    prod.close()


def prepare_db(db: str) -> None:
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE sums (key TEXT, window_start INTEGER, sum INTEGER, "
                  "PRIMARY KEY (key, window_start))")
        c.execute("CREATE TABLE changes (kind TEXT, key TEXT, window_start INTEGER)")
        c.execute("CREATE TRIGGER ti AFTER INSERT ON sums BEGIN INSERT INTO changes VALUES "
                  "('insert', NEW.key, NEW.window_start); END")
        c.execute("CREATE TRIGGER tu AFTER UPDATE ON sums BEGIN INSERT INTO changes VALUES "
                  "('update', NEW.key, NEW.window_start); END")


def crash_point_cap(n: int) -> int:
    """The cap of a run that SIGKILLs itself at the n-th meaningful step of a sink (n = 1, 2).
    A meaningful step follows a write, i.e. a window firing. Windows hold 100 elements (34 per
    partition); after a restore the current window fires once every partition has read past its
    end: at most 4 iterations of 3 x 10 elements, 120 elements; each further window 100 more;
    then a checkpoint follows within 60 elements (it comes after every iteration that ends at
    least 0.1 s after the last one, and 30 elements take 0.15 s). 100 * n + 150 leaves margin
    for a partition whose fetch lags behind the others'."""
    return 100 * n + 150


def worst_case_progress(schedule: list[tuple[str, int]]) -> int:
    """How many elements the kill runs of ``schedule`` can process at most, by their caps."""
    total = 0
    for mode, n in schedule:
        if mode == "random":
            total += RANDOM_MAX + RANDOM_SLACK
        elif mode == "after-checkpoint":
            total += CHECKPOINT_CAP
        else:
            total += crash_point_cap(n)
    return total


def seen(log: str) -> int:
    """The last ``seen=<n>`` the job printed (0: none yet)."""
    i = log.rfind("seen=")
    if i < 0:
        return 0
    j = log.find("\n", i)
    try:
        return int(log[i + 5:j if j >= 0 else None])
    except ValueError:  # a line still being written
        return 0


# after these crash points the newest checkpoint is truncated (see the module docstring)
TRUNCATE_FALLBACK = "Files.notify.before"
TRUNCATE_REFUSED = "Kafka.notify.after"


def checkpoint_file(ck: str, cid: int) -> str:
    return os.path.join(ck, f"chk-{cid:010d}.ckpt")


def truncate(path: str) -> bytes:
    """Cut the file to half its size; its original bytes."""
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "r+b") as f:
        f.truncate(len(data) // 2)
    return data


def latest_checkpoint(ck: str) -> int:
    ids = [int(n[4:14]) for n in os.listdir(ck) if n.startswith("chk-") and n.endswith(".ckpt")] \
        if os.path.isdir(ck) else []
    return max(ids, default=0)


def staged_rows(db: str) -> int:
    with sqlite3.connect(db) as c:
        if not c.execute("SELECT name FROM sqlite_master WHERE name='fluvial_staging__sums'"
                         ).fetchall():
            return 0
        return c.execute("SELECT COUNT(*) FROM fluvial_staging__sums").fetchone()[0]


def file_rows(prefix: str) -> list[tuple[str, int, int]]:
    out = []
    for path in sorted(glob.glob(prefix + "-*.jsonl")):
        with open(path) as f:
            for line in f:
                d = json.loads(line)
                out.append((d["key"], d["window_start"], d["sum"]))
    return out


class Job:
    """Starts the job process; stopped (SIGKILL by pid) at teardown if still running."""

    def __init__(self, cmd: list[str], log_dir: str) -> None:
        self.cmd = cmd
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.runs = 0

    def start(self) -> subprocess.Popen:
        self.runs += 1
        log = open(os.path.join(self.log_dir, f"run-{self.runs:02d}.log"), "w")
        # the Kafka client backend alternates between runs: each restores checkpoints the
        # other wrote, and fences the other's transactional producer
        client = CLIENTS[self.runs % 2]
        self.proc = subprocess.Popen([*self.cmd, "--kafka-client", client], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return self.proc

    def log(self) -> str:
        with open(os.path.join(self.log_dir, f"run-{self.runs:02d}.log")) as f:
            return f.read()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        self.kill()


def test_sigkill_at_random_points_loses_and_duplicates_nothing(kafka_broker, kafka_topic,
                                                               tmp_path):
    bs = kafka_broker.bootstrap_servers
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 1_000_000))
    print(f"CRASH_SEED={seed}")
    rng = random.Random(seed)
    in_topic = kafka_topic(partitions=3)
    out_topic = kafka_topic(partitions=1)
    produce_input(bs, in_topic)
    db = str(tmp_path / "out.db")
    prepare_db(db)
    ck = str(tmp_path / "ck")
    prefix = str(tmp_path / "files" / "sums")
    logs = tmp_path / "logs"
    logs.mkdir()
    cmd = [sys.executable, JOB, "--bootstrap", bs, "--input", in_topic,
           "--group", f"{in_topic}-job", "--out-prefix", prefix, "--db", db,
           "--output-topic", out_topic, "--throttle", str(THROTTLE),
           "--checkpoint-dir", ck, "--checkpoint-interval", "0.1", "--batch-size", str(BATCH)]
    job = Job(cmd, str(logs))
    # (mode, elements the run processed, latest checkpoint id, rows pre-committed but not
    # committed in SQLite) at each kill
    kills = []
    truncated: list[int] = []  # checkpoints truncated after TRUNCATE_FALLBACK
    refusals = 0
    # crash points at their first (four of them) or second (two) meaningful step
    nth = [1, 1, 1, 1, 2, 2]
    rng.shuffle(nth)
    schedule = ([("random", 0), ("after-checkpoint", 0)] * (MIN_KILLS // 2)
                + list(zip(CRASH_POINTS, nth)))
    rng.shuffle(schedule)
    # every run ends at its cap at the latest: together they cannot drain the input
    assert worst_case_progress(schedule) < N, worst_case_progress(schedule)
    try:
        for mode, n in schedule:
            before = latest_checkpoint(ck)
            if mode in CRASH_POINTS:
                job.cmd = [*cmd, "--cap", str(crash_point_cap(n)), "--crash-at", f"{mode}:{n}"]
                proc = job.start()
                proc.wait(timeout=90)
                assert proc.returncode == -signal.SIGKILL and "CAP" not in job.log(), (
                    f"the job did not reach {mode}:{n} (exit {proc.returncode}):\n{job.log()}")
            else:
                if mode == "random":
                    target = rng.randint(0, RANDOM_MAX)
                    job.cmd = [*cmd, "--cap", str(target + RANDOM_SLACK)]
                else:
                    target = before + rng.randint(1, 2)
                    job.cmd = [*cmd, "--cap", str(CHECKPOINT_CAP)]
                proc = job.start()
                started = time.monotonic()
                deadline = started + 90
                if mode == "random" and target == 0:  # somewhere in start-up or restore
                    deadline = started + rng.uniform(0.0, 0.6)
                    while time.monotonic() < deadline and proc.poll() is None:
                        time.sleep(0.002)
                elif mode == "random":  # after a random number of elements
                    while (seen(job.log()) < target and time.monotonic() < deadline
                           and proc.poll() is None):
                        time.sleep(0.002)
                else:  # right after a new checkpoint file: around the sinks' commits
                    while (latest_checkpoint(ck) < target and time.monotonic() < deadline
                           and proc.poll() is None):
                        time.sleep(0.001)
                    time.sleep(rng.uniform(0, 0.005))
                job.kill()
                assert proc.returncode == -signal.SIGKILL, (
                    f"the job ended by itself (exit {proc.returncode}) after {len(kills)} "
                    f"kills; its cap should have stopped it. Its output:\n{job.log()}")
            if "CAP" in job.log():
                mode += "+cap"  # the job stopped itself at its cap before the test killed it
            kills.append((mode, seen(job.log()), latest_checkpoint(ck), staged_rows(db)))
            if mode == TRUNCATE_FALLBACK:  # a later run must resume from the one before
                newest = latest_checkpoint(ck)
                assert os.path.exists(checkpoint_file(ck, newest - 1)), os.listdir(ck)
                truncate(checkpoint_file(ck, newest))
                truncated.append(newest)
            elif mode == TRUNCATE_REFUSED:  # the next run must refuse; then the file is put back
                newest = checkpoint_file(ck, latest_checkpoint(ck))
                original = truncate(newest)
                # an earlier fallback may have set aside an older chk-N of the same number
                aside_before = sorted(f for f in os.listdir(ck) if ".damaged" in f)
                job.cmd = cmd
                proc = job.start()
                rc = proc.wait(timeout=90)
                log = job.log()
                assert rc == 1 and "CheckpointCorruptError" in log, (rc, log)
                assert f"{newest} is damaged: truncated" in log and "twice" in log, log
                assert "seen=" not in log and os.path.exists(newest)
                assert sorted(f for f in os.listdir(ck) if ".damaged" in f) == aside_before
                with open(newest, "wb") as f:
                    f.write(original)
                refusals += 1
        job.cmd = cmd
        proc = job.start()
        rc = proc.wait(timeout=150)
        assert rc == 0, job.log()
        assert "DONE" in job.log()
    finally:
        job.stop()
    print("kills:", kills, "final checkpoint:", latest_checkpoint(ck), "truncated:", truncated)
    # the truncated checkpoint was skipped and set aside by a later run; the refusal happened
    assert len(truncated) == 1 and refusals == 1
    assert os.path.exists(checkpoint_file(ck, truncated[0]) + ".damaged")
    # the kills between the SQL pre-commit and its commit left staged rows behind, which the
    # next run's restore committed (checkpoint written) or threw away (not written)
    for mode, _, _, staged in kills:
        if mode in ("Sql.snapshot.after", "Kafka.snapshot.after", "Files.notify.before",
                    "Sql.notify.before"):
            assert staged > 0, (mode, kills)
    assert len(kills) == MIN_KILLS + len(CRASH_POINTS)
    # every run was killed having processed no more than its cap
    assert sum(k[1] for k in kills) <= worst_case_progress(schedule) < N
    # the kills interrupted a run that was making progress: checkpoints advanced across them
    assert kills[-1][2] > kills[0][2]

    expected = sorted((k, w, s) for (k, w), s in expected_sums().items())

    # 1. files: exactly the expected rows, no leftovers of uncommitted parts
    assert sorted(file_rows(prefix)) == expected
    assert [n for n in os.listdir(tmp_path / "files") if ".inprogress." in n] == []

    # 2. SQLite: the same rows, each inserted once and never updated, nothing left staged
    with sqlite3.connect(db) as c:
        assert sorted(c.execute("SELECT key, window_start, sum FROM sums")) == expected
        kinds = sorted(c.execute("SELECT kind, key, window_start FROM changes"))
        assert kinds == sorted(("insert", k, w) for k, w, _ in expected)
        assert c.execute("SELECT COUNT(*) FROM fluvial_staging__sums").fetchone() == (0,)

    # 3. Kafka: the committed view of the output topic equals the expected rows exactly
    from committed_view import committed_view

    view = committed_view(bs, out_topic)
    got = sorted((json.loads(r.value)["key"], json.loads(r.value)["window_start"],
                  json.loads(r.value)["sum"]) for r in view.committed)
    assert got == expected
    assert all(r.key.decode() == json.loads(r.value)["key"] for r in view.committed)
    assert view.open == []  # the final run committed its last transaction
    # the kill after the Kafka pre-commit left an open transaction with records; the restarted
    # job's producer fenced it and the broker aborted it: those records are in the log, and a
    # read_committed consumer of the test broker would still see them
    assert view.abort_markers >= 1 and len(view.aborted) > 0
