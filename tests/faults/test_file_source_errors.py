"""Issue 11, defect 6: ReadFromText and ReadFromJsonLines took no ``on_error`` and ignored
``--on-error dead_letter``: one malformed or non-UTF-8 line failed the whole run with "while
processing element None".

Now a bad line (bytes not valid in the encoding, malformed JSON, no usable timestamp, a
``with_timestamps`` function raising) follows the source's ``on_error``, else the pipeline's
``--on-error``: a dead-letter record (the shape of every other record, labelled with the user's
transform label) keeps the line (its raw bytes when they do not decode, as Kafka records keep
raw bytes), the file's path (``topic``) and the line number (``offset``); "skip" counts it;
"fail" raises BadInputError naming the transform, the file and line, and the restart strategy
never retries it.
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from faults_support import collect

import fluvial as fl
from fluvial.errors import BadInputError
from fluvial.transforms import Map
from fluvial.transforms.deadletter import WriteDeadLettersToJsonLines
from fluvial.transforms.io import ReadFromJsonLines, ReadFromText, WriteToJsonLines

# line 1 good; 2 malformed JSON; 3 good; 4 not UTF-8; 5 no timestamp; 6 blank (skipped, as
# always); 7 a timestamp that is not a number; 8 good
JSONL = (b'{"id": 1, "t": 1}\n{oops\n{"id": 3, "t": 3}\n\xff\xfe bad bytes\n{"id": 5}\n\n'
         b'{"id": 7, "t": "noon"}\r\n{"id": 8, "t": 8}\n')
GOOD = [({"id": 1, "t": 1}, 1000), ({"id": 3, "t": 3}, 3000), ({"id": 8, "t": 8}, 8000)]


def write(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def pipeline(*argv: str) -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "direct", *argv])


def fields(rec) -> tuple:
    return (rec.transform, rec.error_type, rec.payload, rec.topic, rec.partition, rec.offset,
            rec.timestamp_ms)


def expected_jsonl_records(label: str, path: str) -> list[tuple]:
    return [
        (label, "JSONDecodeError", "{oops", path, None, 2, None),
        (label, "UnicodeDecodeError", b"\xff\xfe bad bytes", path, None, 4, None),
        (label, "ValueError", '{"id": 5}', path, None, 5, None),
        (label, "ValueError", '{"id": 7, "t": "noon"}', path, None, 7, None),
    ]


def test_jsonl_bad_lines_go_to_the_dead_letters_with_on_error(tmp_path):
    path = write(tmp_path / "orders.jsonl", JSONL)
    p = pipeline()
    good = collect(p | "Orders" >> ReadFromJsonLines(path, timestamp_field="t",
                                                     on_error="dead_letter"), "Good")
    dead = collect(p.dead_letters(), "Dead")
    result = p.run()
    assert good.items == GOOD
    records = [r for r, _ in dead.items]
    assert [fields(r) for r in records] == expected_jsonl_records("Orders", path)
    assert [r.message for r in records[2:]] == [
        "record has no timestamp field 't'", "timestamp field 't' must be a number (s), got 'noon'"]
    assert "Traceback" in records[0].traceback and "JSONDecodeError" in records[0].traceback
    # JSON-safe form: undecodable bytes as base64, like a Kafka record's raw value
    assert json.loads(json.dumps(records[1].to_dict()))["payload"] == {
        "bytes_b64": base64.b64encode(b"\xff\xfe bad bytes").decode()}
    assert result.metrics().query(namespace="fluvial", name="dead_letters", step="Orders"
                                  ).counter("dead_letters") == 4


def test_pipeline_on_error_reaches_the_file_sources(tmp_path):
    path = write(tmp_path / "orders.jsonl", JSONL)
    text = write(tmp_path / "times.txt", b"1 a\nnoon b\n3 c\n\xe9t\xe9 d\n")
    p = pipeline("--on-error", "dead_letter")
    good = collect(p | "Orders" >> ReadFromJsonLines(path, timestamp_field="t"), "Good")
    lines = collect(p | "Lines" >> ReadFromText(
        text, with_timestamps=lambda line: float(line.split()[0])), "Lines out")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert good.items == GOOD
    assert lines.items == [("1 a", 1000), ("3 c", 3000)]
    got = sorted((fields(r) for r, _ in dead.items), key=repr)
    assert got == sorted(expected_jsonl_records("Orders", path) + [
        ("Lines", "ValueError", "noon b", text, None, 2, None),
        ("Lines", "UnicodeDecodeError", b"\xe9t\xe9 d", text, None, 4, None),
    ], key=repr)
    noon = next(r for r, _ in dead.items if r.payload == "noon b")
    assert noon.message == "could not convert string to float: 'noon'"
    assert "<lambda>" in noon.traceback  # down to the user's function


def test_the_label_is_the_users_also_inside_a_composite(tmp_path):
    path = write(tmp_path / "a.txt", b"ok\n\xff\n")

    class Ingest(fl.PTransform):
        def expand(self, pbegin):
            return pbegin | "Orders" >> ReadFromText(path, on_error="dead_letter")

    p = pipeline()
    collect(p | "Ingest" >> Ingest(), "Good")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert [(r.transform, r.offset) for r, _ in dead.items] == [("Ingest/Orders", 2)]


def test_skip_drops_and_counts_bad_lines(tmp_path):
    path = write(tmp_path / "orders.jsonl", JSONL)
    p = pipeline()
    good = collect(p | "Orders" >> ReadFromJsonLines(path, timestamp_field="t", on_error="skip"),
                   "Good")
    result = p.run()
    assert good.items == GOOD
    assert result.metrics().query(namespace="fluvial", name="errors_skipped", step="Orders"
                                  ).counter("errors_skipped") == 4


@pytest.mark.parametrize("how", ["default", "own", "option"])
def test_fail_names_the_transform_file_line_and_record(tmp_path, how):
    path = write(tmp_path / "orders.jsonl", JSONL)
    argv = ("--on-error", "fail") if how == "option" else ()
    own = {"on_error": "fail"} if how == "own" else {}
    p = pipeline(*argv)
    collect(p | "Orders" >> ReadFromJsonLines(path, timestamp_field="t", **own), "Good")
    with pytest.raises(BadInputError) as ei:
        p.run()
    msg = str(ei.value)
    assert msg.startswith(f"transform 'Orders' cannot read the record at {path}:2: invalid JSON "
                          "(Expecting property name enclosed in double quotes: line 1 column 2 "
                          "(char 1)): '{oops'")
    assert "on_error='dead_letter'" in msg
    assert "element None" not in msg


def test_fail_on_undecodable_bytes_shows_them(tmp_path):
    path = write(tmp_path / "a.txt", b"ok\n\xff\xfe\n")
    p = pipeline()
    collect(p | "Lines" >> ReadFromText(path), "Good")
    with pytest.raises(BadInputError) as ei:
        p.run()
    assert str(ei.value).startswith(
        f"transform 'Lines' cannot read the record at {path}:2: not valid utf-8 (invalid start "
        "byte at byte 0): b'\\xff\\xfe'")


def test_a_bad_line_is_never_retried(tmp_path):
    path = write(tmp_path / "orders.jsonl", JSONL)
    attempts = []

    def count(x):
        attempts.append(x)
        return x

    p = pipeline("--checkpoint-dir", str(tmp_path / "ck"), "--restart-attempts", "3",
                 "--restart-delay", "0", "--batch-size", "1")
    collect(p | "Orders" >> ReadFromJsonLines(path, timestamp_field="t") | Map(count), "Good")
    with pytest.raises(BadInputError):
        p.run()
    assert attempts == [{"id": 1, "t": 1}]  # one attempt reached line 1, then failed at line 2


def test_bad_policy_is_refused_when_built(tmp_path):
    path = write(tmp_path / "a.txt", b"x\n")
    with pytest.raises(fl.PipelineConstructionError, match="ReadFromText: on_error must be one"):
        ReadFromText(path, on_error="ignore")
    with pytest.raises(fl.PipelineConstructionError, match="ReadFromJsonLines: on_error must"):
        ReadFromJsonLines(path, on_error="ignore")


def test_dead_letters_of_a_file_source_are_written_exactly_once_across_a_restart(tmp_path):
    # a restart replays the file from the checkpoint; its dead letters are committed once
    # every 4th line is not UTF-8
    lines = b"".join(b"%d\n" % i if i % 4 else b"\xff%d\n" % i for i in range(1, 41))
    path = write(tmp_path / "n.txt", lines)
    marker = tmp_path / "crashed"

    def crash_once(x):
        if x == 30 and not marker.exists():
            marker.write_text("x")
            raise RuntimeError("crash")
        return x

    p = pipeline("--checkpoint-dir", str(tmp_path / "ck"), "--checkpoint-interval", "0",
                 "--batch-size", "3", "--restart-attempts", "1", "--restart-delay", "0")
    nums = (p | "Numbers" >> ReadFromText(path, on_error="dead_letter")
            | "Parse" >> Map(lambda s: int(s)) | "Crash" >> Map(crash_once))
    _ = nums | "Out" >> WriteToJsonLines(str(tmp_path / "out" / "n"))
    _ = p.dead_letters() | WriteDeadLettersToJsonLines(str(tmp_path / "dlq" / "d"))
    result = p.run()
    assert result.info["restarts"] == 1 and marker.exists()
    out = [json.loads(line) for name in sorted(os.listdir(tmp_path / "out"))
           for line in open(tmp_path / "out" / name)]
    assert sorted(out) == [i for i in range(1, 41) if i % 4]
    dlq = [json.loads(line) for name in sorted(os.listdir(tmp_path / "dlq"))
           for line in open(tmp_path / "dlq" / name)]
    assert sorted((d["offset"], d["payload"], d["transform"], d["topic"]) for d in dlq) == [
        (i, {"bytes_b64": base64.b64encode(b"\xff%d" % i).decode()}, "Numbers", path)
        for i in range(4, 41, 4)]
