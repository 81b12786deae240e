"""ReadFromText / WriteToText: round trips, naming, sharding, reader positions and the staged
two-phase-commit protocol of the file sink."""

from __future__ import annotations

import gzip
import os

import pytest

import fluvial as fl
from fluvial.errors import PipelineConstructionError
from fluvial.testing import assert_that, equal_to
from fluvial.transforms import Count, Map
from fluvial.transforms.io import ReadFromText, TextSink, TextSource, WriteToText, shard_name
from fluvial.values import in_global_window


def pipeline(*extra: str) -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "direct", *extra])


def write_file(path, text: str, mode: str = "w") -> str:
    with open(path, mode, encoding="utf-8", newline="") as f:
        f.write(text)
    return str(path)


def read_lines(paths) -> list[str]:
    out = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            out.extend(f.read().splitlines())
    return out


def visible(d) -> list[str]:
    return sorted(n for n in os.listdir(d) if not n.startswith("."))


def hidden(d) -> list[str]:
    return sorted(n for n in os.listdir(d) if n.startswith("."))


def wvs(values):
    return [in_global_window(v) for v in values]


# -- reading ---------------------------------------------------------------------------------


def test_read_lines_of_matching_files_in_order(tmp_path):
    write_file(tmp_path / "b.txt", "3\n4")  # no trailing newline
    write_file(tmp_path / "a.txt", "1\r\n2\n")
    write_file(tmp_path / "other.log", "x\n")
    with pipeline() as p:
        assert_that(p | ReadFromText(str(tmp_path / "*.txt")), equal_to(["1", "2", "3", "4"]))


def test_read_empty_lines_and_unicode(tmp_path):
    path = write_file(tmp_path / "u.txt", "héllo\n\nwörld\n")
    with pipeline() as p:
        assert_that(p | ReadFromText(path), equal_to(["héllo", "", "wörld"]))


def test_read_gzip(tmp_path):
    path = tmp_path / "z.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("a\nb\n")
    with pipeline() as p:
        assert_that(p | ReadFromText(str(path)), equal_to(["a", "b"]))


def test_read_with_timestamps_and_windows(tmp_path):
    path = write_file(tmp_path / "ev.txt", "1 a\n5 b\n12 c\n")
    with pipeline() as p:
        lines = p | ReadFromText(path, with_timestamps=lambda line: float(line.split()[0]))
        counts = lines | fl.WindowInto(fl.FixedWindows(10)) | Count.Globally()
        assert_that(
            counts | Map(lambda n, w=fl.DoFn.WindowParam: (n, w.start_ms)),
            equal_to([(2, 0), (1, 10000)]),
        )


def test_missing_files_fail_at_construction(tmp_path):
    with pytest.raises(PipelineConstructionError, match="no files match"):
        ReadFromText(str(tmp_path / "nope-*.txt"))
    ReadFromText(str(tmp_path / "nope-*.txt"), validate=False)  # allowed


def test_reader_snapshot_restore_resumes_exactly(tmp_path):
    write_file(tmp_path / "a.txt", "a1\na2\na3\n")
    write_file(tmp_path / "b.txt", "b1\nb2\n")
    src = TextSource(str(tmp_path / "*.txt"))
    full = src.open(None)
    expected = []
    while (got := full.poll(2)) is not None:
        expected.extend(v for v, _ in got)
    assert expected == ["a1", "a2", "a3", "b1", "b2"]

    for cut in range(1, 6):
        r = src.open(None)
        seen = []
        while len(seen) < cut:
            seen.extend(v for v, _ in r.poll(1))
        state = r.snapshot()
        r.close()
        # a new file matching the glob after the checkpoint is not picked up on restore
        write_file(tmp_path / "0-new.txt", "zzz\n")
        r2 = src.open(None)
        r2.restore(state)
        while (got := r2.poll(3)) is not None:
            seen.extend(v for v, _ in got)
        r2.close()
        os.remove(tmp_path / "0-new.txt")
        assert seen == expected, cut


def test_reader_watermark(tmp_path):
    path = write_file(tmp_path / "a.txt", "10\n20\n")
    r = TextSource(path).open(None)
    assert r.watermark() == fl.timeutil.MIN_TIMESTAMP_MS
    r.poll(10)
    assert r.poll(10) is None
    assert r.watermark() == fl.timeutil.MAX_TIMESTAMP_MS

    r = TextSource(path, with_timestamps=float, watermark=fl.BoundedOutOfOrderness(1)).open(None)
    assert r.poll(1) == [("10", 10_000)]
    assert r.watermark() == 9_000


def test_bad_timestamp_names_file_and_line(tmp_path):
    path = write_file(tmp_path / "a.txt", "1\nxx\n")
    r = TextSource(path, with_timestamps=float).open(None)
    with pytest.raises(ValueError, match=r"a\.txt:2"):
        r.poll(10)


# -- writing ---------------------------------------------------------------------------------


def test_write_then_read_round_trip(tmp_path):
    prefix = str(tmp_path / "out" / "words")
    with pipeline() as p:
        _ = p | fl.Create(["a", "b", 3, b"d"]) | WriteToText(prefix)
    assert visible(tmp_path / "out") == ["words-00000-of-00001.txt"]
    assert hidden(tmp_path / "out") == []
    assert sorted(read_lines([prefix + "-00000-of-00001.txt"])) == ["3", "a", "b", "d"]
    with pipeline() as p:
        assert_that(p | ReadFromText(prefix + "-*"), equal_to(["a", "b", "3", "d"]))


def test_sharded_write_creates_every_shard(tmp_path):
    prefix = str(tmp_path / "s")
    with pipeline() as p:
        _ = p | fl.Create(["x", "y"]) | WriteToText(prefix, suffix=".csv", num_shards=3)
    assert visible(tmp_path) == [
        "s-00000-of-00003.csv",
        "s-00001-of-00003.csv",
        "s-00002-of-00003.csv",
    ]
    assert sorted(read_lines(tmp_path / n for n in visible(tmp_path))) == ["x", "y"]


def test_empty_input_writes_an_empty_file(tmp_path):
    prefix = str(tmp_path / "e")
    with pipeline() as p:
        _ = p | fl.Create([]) | WriteToText(prefix)
    assert visible(tmp_path) == ["e-00000-of-00001.txt"]
    assert (tmp_path / "e-00000-of-00001.txt").read_text() == ""


def test_write_with_checkpoints_is_exactly_once(tmp_path):
    prefix = str(tmp_path / "out" / "n")
    n = 5000
    ck = str(tmp_path / "ck")
    with pipeline("--checkpoint-dir", ck, "--checkpoint-interval", "0", "--batch-size", "100") as p:
        _ = p | fl.Create(list(range(n))) | WriteToText(prefix)
    files = visible(tmp_path / "out")
    assert len(files) > 1  # checkpoints rolled the part files
    assert files[0] == "n-00000-of-00001.txt"
    assert all(f.startswith("n-00000-of-00001") for f in files)
    assert hidden(tmp_path / "out") == []
    lines = read_lines(tmp_path / "out" / f for f in files)
    assert sorted(map(int, lines)) == list(range(n))


def fail_at(x, limit):
    if limit is not None and x >= limit:
        raise RuntimeError(f"injected failure at {x}")
    return x


def test_write_survives_a_crash_and_restart_exactly_once(tmp_path):
    """Run 1 fails part-way after some checkpoints; run 2 restores from the latest checkpoint
    and finishes. Every element must be in the output exactly once."""
    prefix = str(tmp_path / "out" / "n")
    ck = str(tmp_path / "ck")
    argv = ("--checkpoint-dir", ck, "--checkpoint-interval", "0", "--batch-size", "100")
    n = 3000

    def build(p, limit):
        _ = p | fl.Create(list(range(n))) | Map(fail_at, limit) | WriteToText(prefix)

    with pytest.raises(Exception, match="injected failure"):
        with pipeline(*argv) as p:
            build(p, 2050)
    with pipeline(*argv) as p:
        build(p, None)
    files = visible(tmp_path / "out")
    assert hidden(tmp_path / "out") == []
    lines = sorted(map(int, read_lines(tmp_path / "out" / f for f in files)))
    assert lines == list(range(n))


def test_bad_sink_arguments():
    for kwargs in ({"num_shards": 0}, {"num_shards": 1.5}, {"suffix": None}):
        with pytest.raises(PipelineConstructionError):
            WriteToText("/tmp/x", **kwargs)
    with pytest.raises(PipelineConstructionError):
        WriteToText("")


# -- the sink protocol, driven directly ---------------------------------------------------------


def test_shard_names():
    assert shard_name("p", 0, 1, ".txt") == "p-00000-of-00001.txt"
    assert shard_name("p", 2, 10, "", part=3) == "p-00002-of-00010_part-00003"
    # later parts sort after the first part
    names = [shard_name("p", 0, 1, ".txt", part=i) for i in range(3)]
    assert sorted(names) == names


def test_output_is_invisible_until_the_checkpoint_completes(tmp_path):
    w = TextSink(str(tmp_path / "o")).open(None)
    w.write(wvs(["a", "b"]))
    assert visible(tmp_path) == []
    state = w.snapshot(1)
    assert visible(tmp_path) == []
    assert len(state["pending"]) == 1
    w.write(wvs(["c"]))  # after the snapshot: belongs to the next part
    w.notify_checkpoint_complete(1)
    assert visible(tmp_path) == ["o-00000-of-00001.txt"]
    assert read_lines([tmp_path / "o-00000-of-00001.txt"]) == ["a", "b"]
    w.snapshot(2)
    w.notify_checkpoint_complete(2)
    assert visible(tmp_path) == ["o-00000-of-00001.txt", "o-00000-of-00001_part-00001.txt"]
    w.snapshot(3)  # nothing new: no new part
    w.notify_checkpoint_complete(3)
    w.close()
    assert visible(tmp_path) == ["o-00000-of-00001.txt", "o-00000-of-00001_part-00001.txt"]
    assert hidden(tmp_path) == []
    assert read_lines(tmp_path / n for n in visible(tmp_path)) == ["a", "b", "c"]


def test_notify_commits_every_earlier_checkpoint(tmp_path):
    w = TextSink(str(tmp_path / "o")).open(None)
    w.write(wvs(["a"]))
    w.snapshot(1)
    w.write(wvs(["b"]))
    w.snapshot(2)
    assert visible(tmp_path) == []
    w.notify_checkpoint_complete(2)
    assert read_lines(tmp_path / n for n in visible(tmp_path)) == ["a", "b"]


def test_restore_commits_covered_parts_and_deletes_the_rest(tmp_path):
    w = TextSink(str(tmp_path / "o")).open(None)
    w.write(wvs(["a"]))
    s1 = w.snapshot(1)  # checkpoint 1 written, but the process dies before notify
    w.write(wvs(["b"]))
    w.snapshot(2)  # checkpoint 2 never completes
    w.write(wvs(["c"]))  # not covered by any checkpoint
    # crash: no notify, no close
    assert visible(tmp_path) == []
    assert len(hidden(tmp_path)) == 3

    w2 = TextSink(str(tmp_path / "o")).open(None)
    w2.restore(s1)
    assert visible(tmp_path) == ["o-00000-of-00001.txt"]
    assert hidden(tmp_path) == []
    # the replay continues with the next part number
    w2.write(wvs(["b", "c"]))
    w2.snapshot(2)
    w2.notify_checkpoint_complete(2)
    w2.close()
    assert read_lines(tmp_path / n for n in visible(tmp_path)) == ["a", "b", "c"]


def test_restore_is_idempotent_after_a_completed_notify(tmp_path):
    w = TextSink(str(tmp_path / "o")).open(None)
    w.write(wvs(["a"]))
    s1 = w.snapshot(1)
    w.notify_checkpoint_complete(1)
    w2 = TextSink(str(tmp_path / "o")).open(None)
    w2.restore(s1)
    w2.restore(s1)
    w2.close()
    assert read_lines(tmp_path / n for n in visible(tmp_path)) == ["a"]


def test_restore_leaves_other_prefixes_alone(tmp_path):
    other = TextSink(str(tmp_path / "other")).open(None)
    other.write(wvs(["keep"]))
    w = TextSink(str(tmp_path / "o")).open(None)
    w.write(wvs(["x"]))
    w.restore({"pending": [], "next_part": [0], "rr": 0})
    assert len(hidden(tmp_path)) == 2  # its own open part and the other sink's part survive
    other.close()
    assert read_lines([tmp_path / "other-00000-of-00001.txt"]) == ["keep"]


def test_abort_discards_uncommitted_parts(tmp_path):
    w = TextSink(str(tmp_path / "o")).open(None)
    w.write(wvs(["a"]))
    w.abort()
    assert os.listdir(tmp_path) == []


def test_round_robin_sharding(tmp_path):
    w = TextSink(str(tmp_path / "o"), num_shards=2).open(None)
    w.write(wvs(["a", "b", "c"]))
    w.write(wvs(["d"]))
    w.close()
    assert read_lines([tmp_path / "o-00000-of-00002.txt"]) == ["a", "c"]
    assert read_lines([tmp_path / "o-00001-of-00002.txt"]) == ["b", "d"]


def test_committed_after_finds_parts_committed_after_the_older_state(tmp_path):
    prefix = str(tmp_path / "out" / "w")
    w = TextSink(prefix, num_shards=2).open(None)
    w.write(wvs(["a", "b"]))
    s1 = w.snapshot(1)
    w.notify_checkpoint_complete(1)
    w.write(wvs(["c"]))
    w.snapshot(2)
    assert w.committed_after(s1, 1) is None  # checkpoint 2 staged, not committed
    w.notify_checkpoint_complete(2)
    assert w.committed_after(s1, 1) == (
        f"the parts w-00000-of-00002_part-00001.txt in {tmp_path / 'out'}")


def test_abort_deletes_parts_sealed_for_a_checkpoint_that_was_never_written(tmp_path):
    prefix = str(tmp_path / "out" / "w")
    w = TextSink(prefix).open(None)
    w.write(wvs(["a"]))
    w.snapshot(1)  # checkpoint 1 may be durable: its part waits for the restore
    w.write(wvs(["b"]))
    w.snapshot(2)
    w.notify_checkpoint_aborted(2)
    w.write(wvs(["c"]))  # open, in no snapshot
    w.abort()
    staged = sorted(n for n in os.listdir(tmp_path / "out"))
    assert len(staged) == 1 and staged[0].startswith(".w-00000-of-00001.txt.inprogress.")
    with open(tmp_path / "out" / staged[0]) as f:
        assert f.read() == "a\n"

