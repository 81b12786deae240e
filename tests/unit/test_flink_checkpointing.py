"""The Flink runner's checkpoint, restart and sink-commit logic that needs no JVM (runs without
pyflink): the options as Flink settings, the checkpoint directory (where a run resumes, one
pipeline per directory, the lock, permissions), the sink's saved pre-commit states, the sink
function driven with the marker records Flink's checkpoints become, the sink guarantees, and
the byte layouts shared with the Java Kafka helpers. Expected outputs are derived by hand from
the two-phase-commit protocol (docs/exactly-once.md)."""

from __future__ import annotations

import os
import pickle
import stat
import struct

import pytest

import fluvial as fl
from fluvial.errors import (
    CheckpointLockedError,
    CheckpointMismatchError,
    CheckpointSecurityError,
    UnsupportedFeatureError,
)
from fluvial.metrics import MetricsContainer
from fluvial.runners.flink.checkpointing import (
    CheckpointDirectory,
    CheckpointSettings,
    checkpoint_id,
    flink_config,
)
from fluvial.runners.flink.committing import (
    COMMIT,
    DATA,
    END,
    RESTORED,
    SNAPSHOT,
    CommittingWrite,
    SinkStates,
    finish_sinks,
)
from fluvial.runners.flink.guarantees import check_resumable, sink_mode
from fluvial.runners.flink.kafka_functions import (
    FINISHED,
    KafkaDecode,
    decode_consumed,
    decode_sink_record,
    encode_record,
)
from fluvial.transforms.io.filesink import FileSink


def _settings(tmp_path, *args):
    return CheckpointSettings.from_options(fl.PipelineOptions.from_argv(
        ["--checkpoint-dir", str(tmp_path / "ck"), *args]))


# -- options as Flink settings ---------------------------------------------------------------------
def test_options_become_flink_checkpoint_and_restart_settings(tmp_path):
    s = _settings(tmp_path, "--checkpoint-interval", "2.5", "--restart-attempts", "3",
                  "--restart-delay", "0.5")
    conf = flink_config(s, None)
    assert conf["execution.checkpointing.interval"] == "2500 ms"
    assert conf["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert conf["execution.checkpointing.dir"] == "file://" + str(tmp_path / "ck" / "flink")
    assert conf["execution.checkpointing.externalized-checkpoint-retention"] == "RETAIN_ON_CANCELLATION"
    assert (conf["restart-strategy.type"], conf["restart-strategy.fixed-delay.attempts"],
            conf["restart-strategy.fixed-delay.delay"]) == ("fixed-delay", "3", "500 ms")
    assert "execution.state-recovery.path" not in conf
    resumed = flink_config(s, str(tmp_path / "ck" / "flink" / "j" / "chk-7"))
    assert resumed["execution.state-recovery.path"].endswith("/ck/flink/j/chk-7")
    assert resumed["execution.state-recovery.claim-mode"] == "CLAIM"


def test_interval_zero_is_flinks_shortest_and_no_restarts_without_a_directory(tmp_path):
    assert _settings(tmp_path, "--checkpoint-interval", "0").interval_ms == 100
    no_dir = CheckpointSettings.from_options(
        fl.PipelineOptions.from_argv(["--restart-attempts", "4"]))
    assert (no_dir.enabled, no_dir.restart_attempts) == (False, 0)
    assert flink_config(no_dir, None) == {"restart-strategy.type": "none"}


# -- the checkpoint directory ----------------------------------------------------------------------
def _chk(root, job, n, complete=True):
    d = root / "flink" / job / f"chk-{n}"
    d.mkdir(parents=True)
    if complete:
        (d / "_metadata").write_bytes(b"x")
    return d


def test_resume_from_the_newest_completed_checkpoint_over_all_jobs(tmp_path):
    s = _settings(tmp_path)
    d = CheckpointDirectory(s)
    try:
        assert d.latest_checkpoint() is None
        _chk(tmp_path / "ck", "a" * 32, 3)
        newest = _chk(tmp_path / "ck", "b" * 32, 12)
        _chk(tmp_path / "ck", "b" * 32, 13, complete=False)  # in progress when the job died
        assert d.latest_checkpoint() == str(newest)
        assert checkpoint_id(d.latest_checkpoint()) == 12
        assert oct(os.stat(tmp_path / "ck").st_mode & 0o777) == "0o700"
    finally:
        d.close()


def test_one_pipeline_per_directory(tmp_path):
    s = _settings(tmp_path)
    d = CheckpointDirectory(s)
    try:
        with pytest.raises(CheckpointLockedError, match=str(os.getpid())):
            CheckpointDirectory(s)
        d.check_pipeline("fp-one")
        d.check_pipeline("fp-two")  # no checkpoint yet: the new pipeline takes the directory
        _chk(tmp_path / "ck", "c" * 32, 1)
        with pytest.raises(CheckpointMismatchError, match="fp-two.*fp-one"):
            d.check_pipeline("fp-one")
        d.check_pipeline("fp-two")
    finally:
        d.close()
    CheckpointDirectory(s).close()  # the lock went with close


def test_a_directory_others_can_write_is_refused(tmp_path):
    (tmp_path / "ck").mkdir(mode=0o777)
    os.chmod(tmp_path / "ck", 0o777)
    with pytest.raises(CheckpointSecurityError, match="chmod 700"):
        CheckpointDirectory(_settings(tmp_path))


def test_after_a_finished_run_every_checkpoint_is_discarded(tmp_path):
    s = _settings(tmp_path)
    d = CheckpointDirectory(s)
    try:
        d.check_pipeline("fp")
        _chk(tmp_path / "ck", "a" * 32, 3)
        d.discard_checkpoints()
        assert d.latest_checkpoint() is None
        assert sorted(os.listdir(tmp_path / "ck" / "flink")) == ["pipeline.json"]
    finally:
        d.close()


# -- saved sink states -----------------------------------------------------------------------------
def test_which_saved_state_a_restored_checkpoint_covers(tmp_path):
    st = SinkStates(str(tmp_path), "Out/Write")
    st.save("pre", 4, {"n": 4})
    st.save("pre", 5, {"n": 5})
    assert st.load(st.covering(5)) == {"n": 5}
    assert st.covering(6) is None  # no snapshot for 6: nothing pre-committed is covered
    st.save("end", 5, {"n": "end"})  # the input ended after checkpoint 5
    assert st.load(st.covering(5)) == {"n": 5}  # restored from 5: the end is not covered
    assert st.load(st.covering(6)) == {"n": "end"}  # a checkpoint after the end covers it
    st.drop_before(5)
    assert sorted(os.listdir(st.dir)) == ["end-0000000005.pkl", "pre-0000000005.pkl"]


def test_a_state_file_others_can_write_is_not_loaded(tmp_path):
    st = SinkStates(str(tmp_path), "W")
    st.save("pre", 1, {"x": 1})
    path = os.path.join(st.dir, "pre-0000000001.pkl")
    os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | 0o022)
    with pytest.raises(CheckpointSecurityError, match="not loaded"):
        st.load("pre-0000000001.pkl")


# -- the sink function, driven with the markers of Flink's checkpoints -------------------------------
def _data(v):
    return (DATA, 0, pickle.dumps((v, 0, None, None)))


def _writer(tmp_path, root):
    sink = FileSink(str(tmp_path / "out" / "n"))
    fn = CommittingWrite("W", sink, fl.PipelineOptions(), str(tmp_path / "side"), 100, root)
    fn.open()
    return sink, fn


def _committed(tmp_path):
    out = tmp_path / "out"
    lines = []
    for name in sorted(os.listdir(out)):
        if not name.startswith("."):
            lines += (out / name).read_text().splitlines()
    return lines


def test_exactly_once_across_a_crash_and_a_restore(tmp_path):
    root = str(tmp_path / "ck" / "flink")
    sink, fn = _writer(tmp_path, root)
    for rec in [_data("a"), _data("b"), (SNAPSHOT, 1, b""), (COMMIT, 1, b""), _data("c"),
                (SNAPSHOT, 2, b""), _data("d")]:
        fn.process_element(rec)
    assert _committed(tmp_path) == ["a", "b"]  # checkpoint 2 pre-committed, not completed
    # the process dies (no close); Flink resumes from checkpoint 2, which completed: its
    # pre-commit (c) is committed by the restore; d, after it, is replayed by the source
    _, fn2 = _writer(tmp_path, root)
    for rec in [(RESTORED, 2, b""), _data("d"), _data("e"), (SNAPSHOT, 3, b""), _data("f"),
                (END, 3, b"")]:
        fn2.process_element(rec)
    assert _committed(tmp_path) == ["a", "b", "c"]
    fn2.close()  # the end of the input: the end state waits for the runner
    assert _committed(tmp_path) == ["a", "b", "c"]
    assert finish_sinks(root, {"W": sink}, fl.PipelineOptions(), MetricsContainer()) == 1
    assert sorted(_committed(tmp_path)) == ["a", "b", "c", "d", "e", "f"]
    assert not os.path.exists(SinkStates(root, "W").dir)


def test_a_restore_discards_what_a_later_uncompleted_checkpoint_pre_committed(tmp_path):
    root = str(tmp_path / "ck" / "flink")
    sink, fn = _writer(tmp_path, root)
    for rec in [_data("a"), (SNAPSHOT, 1, b""), _data("b"), (SNAPSHOT, 2, b"")]:
        fn.process_element(rec)
    # checkpoint 2 never completed: Flink resumes from 1 and the source replays b
    _, fn2 = _writer(tmp_path, root)
    for rec in [(RESTORED, 1, b""), _data("b"), (END, 1, b"")]:
        fn2.process_element(rec)
    fn2.close()
    finish_sinks(root, {"W": sink}, fl.PipelineOptions(), MetricsContainer())
    assert sorted(_committed(tmp_path)) == ["a", "b"]
    assert sorted(os.listdir(tmp_path / "out")) == ["n-00000-of-00001.txt",
                                                    "n-00000-of-00001_part-00001.txt"]


def test_without_checkpoints_the_sink_commits_once_at_the_end(tmp_path):
    sink, fn = _writer(tmp_path, None)
    fn.process_element(_data("a"))
    fn.process_element(_data("b"))
    assert not (tmp_path / "out").exists() or _committed(tmp_path) == []
    fn.process_element((END, 0, b""))
    assert _committed(tmp_path) == ["a", "b"]
    fn.close()


# -- sink guarantees --------------------------------------------------------------------------------
class _Once:
    def exactly_once_promise(self):
        return "files committed exactly once"


class _AtLeastOnce:
    def exactly_once_promise(self):
        return None


def test_how_each_sink_commits():
    assert sink_mode(_Once(), "W", None, checkpointed=True, bounded=False) == "checkpointed"
    assert sink_mode(_Once(), "W", None, checkpointed=False, bounded=True) == "once"
    assert sink_mode(_AtLeastOnce(), "W", None, checkpointed=False, bounded=False) == "periodic"
    assert sink_mode(_Once(), "W", "at_least_once", False, bounded=False) == "periodic"
    with pytest.raises(UnsupportedFeatureError, match="--checkpoint-dir DIR, or --flink-sink"):
        sink_mode(_Once(), "W", None, checkpointed=False, bounded=False)


def test_exactly_once_after_a_source_that_cannot_resume_is_refused():
    check_resumable("files", "W", None, [])
    check_resumable(None, "W", None, ["Read(Numbers)"])
    check_resumable("files", "W", "at_least_once", ["Read(Numbers)"])
    with pytest.raises(UnsupportedFeatureError, match="'Read\\(Numbers\\)' cannot resume"):
        check_resumable("files", "W", None, ["Read(Numbers)"])


# -- the byte layouts shared with the Java Kafka helpers -------------------------------------------
def _java_record(topic, partition, offset, ts, key, value, headers):
    """A record as KafkaRecordBytes.java writes it (DataOutputStream, big-endian)."""

    def b(x):
        return struct.pack(">i", -1) if x is None else struct.pack(">i", len(x)) + x

    out = b(topic.encode()) + struct.pack(">iqq", partition, offset, ts) + b(key) + b(value)
    out += struct.pack(">i", len(headers))
    for name, v in headers:
        out += b(name.encode()) + b(v)
    return out


def test_consumed_record_layout():
    r = decode_consumed(_java_record("orders", 2, 41, 1_700_000_000_000, None, b'{"a":1}',
                                     [("h", b"1"), ("n", None)]))
    assert r == ("orders", 2, 41, None, b'{"a":1}', 1_700_000_000_000, (("h", b"1"), ("n", None)))


def test_produced_record_layout():
    assert decode_sink_record(encode_record("out", None, b"v", None)) == ("out", None, b"v", None)
    raw = encode_record("t", b"k", b"", 5)
    assert raw == (struct.pack(">i", 1) + b"t" + struct.pack(">i", 1) + b"k"
                   + struct.pack(">i", 0) + struct.pack(">q", 5))


def test_kafka_decode_gives_elements_dead_letters_and_the_end_of_a_partition(tmp_path):
    cfg = {"key_deserializer": "str", "value_deserializer": "json", "timestamp_fn": None,
           "with_metadata": False, "on_error": "dead_letter"}
    fn = KafkaDecode("Read", cfg, {("in", 0): 0, ("in", 1): 1}, {0: 2, 1: 9},
                     fl.PipelineOptions(), str(tmp_path), dlq_tag="DLQ")
    fn.open()
    out = fn.process_element(_java_record("in", 0, 0, 1000, b"k", b'{"n": 1}', []))
    assert [(k, t, pickle.loads(p), s) for k, t, p, s in out] == [(0, 1000, ("k", {"n": 1}), 0)]
    out = fn.process_element(_java_record("in", 0, 1, 2000, b"k", b"{oops", []))
    tag, (dead, ts, _, _) = out[0]
    assert (tag, ts, dead.transform, dead.topic, dead.partition, dead.offset, dead.key,
            dead.payload, dead.error_type) == ("DLQ", 2000, "Read", "in", 0, 1, b"k", b"{oops",
                                                "JSONDecodeError")
    assert out[1] == (FINISHED, 0, b"", 0)  # offset 1 is the last before stop 2


def test_kafka_decode_sends_out_of_range_event_times_to_the_policy(tmp_path):
    from fluvial.timeutil import MAX_EVENT_TIME_MS

    cfg = {"key_deserializer": "bytes", "value_deserializer": "str", "timestamp_fn": None,
           "with_metadata": False, "on_error": "dead_letter"}
    fn = KafkaDecode("Read", cfg, {("in", 0): 0}, None,
                     fl.PipelineOptions.from_argv(["--max-event-time-ahead", "off"]),
                     str(tmp_path), dlq_tag="DLQ")
    fn.open()
    [(tag, (dead, _, _, _))] = fn.process_element(
        _java_record("in", 0, 0, MAX_EVENT_TIME_MS + 1, None, b"late", []))
    # like a record that fails to decode (and as on the direct runner): the raw value, and
    # where the record was read
    assert (tag, dead.transform, dead.error_type, dead.payload, dead.topic, dead.partition,
            dead.offset, dead.key) == (
        "DLQ", "Read", "EventTimeOutOfRangeError", b"late", "in", 0, 0, None)
