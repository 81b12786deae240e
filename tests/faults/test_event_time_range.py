"""Issue 11, defect 8: event times outside the supported range were accepted. One far-future
record advanced the watermark, and the valid records after it were dropped as late (counted,
not dead-lettered).

Now an event time must lie in the supported range — ``MIN_EVENT_TIME_MS .. MAX_EVENT_TIME_MS``
(Beam's minimum, the end of the global window), and for a record a source reads, no more than
``--max-event-time-ahead`` (default one day) ahead of the wall clock. A record outside it goes
to the source's error policy with the reason, before it is emitted or seen by a watermark;
``TimestampedValue`` refuses such a time where it is made (in a DoFn: the ParDo's policy; in
Create: when the pipeline is built).
"""

from __future__ import annotations

import json
import time

import pytest
from faults_support import collect

import fluvial as fl
from fluvial.errors import BadInputError, EventTimeOutOfRangeError, UserCodeError
from fluvial.source import ListReader
from fluvial.timeutil import MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS
from fluvial.transforms.io import ReadFromJsonLines

DAY_S = 86_400
VALID_S = [10, 11, 12, 13, 14, 15]  # one minute's orders, in order


def far_future_ms() -> int:
    """Ten years ahead of the wall clock: past any sane bound, inside Beam's range."""
    return int((time.time() + 10 * 365 * DAY_S) * 1000)


class Orders(fl.Source):
    """A bounded source of ``(("orders", i), t_ms)`` records in the given order."""

    def __init__(self, stamps_ms: list[int], on_error: str | None = None) -> None:
        self.stamps = stamps_ms
        self.on_error = on_error

    def open(self, ctx):
        return ListReader([(("orders", i), t) for i, t in enumerate(self.stamps)])


def count_per_minute(p: fl.Pipeline, stamps_ms: list[int], **source_kw):
    orders = p | "Orders" >> fl.Read(Orders(stamps_ms, **source_kw),
                                     watermark_strategy=fl.BoundedOutOfOrderness(2))
    counts = (orders | fl.WindowInto(fl.FixedWindows(60))
              | "Count" >> fl.Map(lambda kv: (kv[0], 1)) | "Sum" >> fl.CombinePerKey(sum))
    return collect(counts, "Counts")


def pipeline(*argv: str) -> fl.Pipeline:
    # one record per batch: the far-future record moves the watermark before the next is read
    return fl.Pipeline(argv=["--runner", "direct", "--batch-size", "1", *argv])


def dropped(result) -> int:
    return result.metrics().query(namespace="fluvial", name="dropped_due_to_lateness"
                                  ).counter("dropped_due_to_lateness")


def test_a_far_future_record_no_longer_makes_the_valid_ones_late():
    stamps = [VALID_S[0] * 1000, far_future_ms()] + [s * 1000 for s in VALID_S[1:]]
    p = pipeline("--on-error", "dead_letter")
    counts = count_per_minute(p, stamps)
    dead = collect(p.dead_letters(), "Dead")
    result = p.run()
    assert [v for v, _ in counts.items] == [("orders", 6)]  # every valid order, on time
    assert dropped(result) == 0
    [(rec, ts)] = dead.items
    assert (rec.transform, rec.error_type, rec.payload, rec.timestamp_ms) == (
        "Orders", "EventTimeOutOfRangeError", ("orders", 1), None)
    assert f"event time {stamps[1]} ms (" in rec.message
    assert "is more than 86400 s ahead of the wall clock" in rec.message
    assert ts == MIN_EVENT_TIME_MS  # a record without a usable time: at the minimum


def test_turning_the_bound_off_keeps_only_the_fixed_range():
    # the documented opt-out: a time ten years ahead is then accepted, with its consequence
    stamps = [VALID_S[0] * 1000, far_future_ms()] + [s * 1000 for s in VALID_S[1:]]
    p = pipeline("--max-event-time-ahead", "off")
    counts = count_per_minute(p, stamps)
    result = p.run()
    assert sorted(v for v, _ in counts.items) == [("orders", 1), ("orders", 1)]
    assert dropped(result) == 5  # late behind the far-future record


@pytest.mark.parametrize("bad, reason", [
    (MAX_EVENT_TIME_MS + 1, "is after the latest supported event time"),
    (MIN_EVENT_TIME_MS - 1, "is before the earliest supported event time"),
])
def test_times_outside_the_fixed_range_are_refused_even_without_the_bound(bad, reason):
    stamps = [10_000, bad, 11_000]
    p = pipeline("--max-event-time-ahead", "off", "--on-error", "dead_letter")
    counts = count_per_minute(p, stamps)
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert [v for v, _ in counts.items] == [("orders", 2)]
    [(rec, _)] = dead.items
    assert rec.error_type == "EventTimeOutOfRangeError" and reason in rec.message


def test_skip_counts_and_the_sources_own_policy_wins():
    stamps = [10_000, far_future_ms(), 11_000]
    p = pipeline("--on-error", "dead_letter")
    counts = count_per_minute(p, stamps, on_error="skip")
    _ = collect(p.dead_letters(), "Dead")
    result = p.run()
    assert [v for v, _ in counts.items] == [("orders", 2)]
    assert result.metrics().query(namespace="fluvial", name="errors_skipped", step="Orders"
                                  ).counter("errors_skipped") == 1


def test_fail_names_the_source_and_the_reason_and_is_never_retried(tmp_path):
    far = far_future_ms()
    p = pipeline("--checkpoint-dir", str(tmp_path / "ck"), "--restart-attempts", "3",
                 "--restart-delay", "0")
    seen = []
    _ = (p | "Orders" >> fl.Read(Orders([10_000, far]))
         | "Seen" >> fl.Map(lambda kv: seen.append(kv) or kv))
    with pytest.raises(UserCodeError) as ei:
        p.run()
    msg = str(ei.value)
    assert msg.startswith("user code in transform 'Orders' raised EventTimeOutOfRangeError: "
                          f"event time {far} ms (")
    assert "--max-event-time-ahead" in msg and "while processing element ('orders', 1)" in msg
    assert seen == [("orders", 0)]  # one attempt: bad data is not retried


def test_a_file_line_with_an_out_of_range_time_is_a_dead_letter_with_its_position(tmp_path):
    far_s = far_future_ms() // 1000
    path = tmp_path / "orders.jsonl"
    lines = [{"id": 1, "t": 10}, {"id": 2, "t": far_s}, {"id": 3, "t": 11}, {"id": 4, "t": 12}]
    path.write_text("".join(json.dumps(d) + "\n" for d in lines))
    p = fl.Pipeline(argv=["--runner", "direct", "--batch-size", "1"])
    orders = p | "Orders" >> ReadFromJsonLines(
        str(path), timestamp_field="t", watermark=fl.BoundedOutOfOrderness(2),
        on_error="dead_letter")
    counts = collect(orders | fl.WindowInto(fl.FixedWindows(60)) | "Key" >> fl.Map(
        lambda d: ("orders", 1)) | "Sum" >> fl.CombinePerKey(sum), "Counts")
    dead = collect(p.dead_letters(), "Dead")
    result = p.run()
    assert [v for v, _ in counts.items] == [("orders", 3)]
    assert dropped(result) == 0
    [(rec, _)] = dead.items
    assert (rec.transform, rec.error_type, rec.payload, rec.topic, rec.offset) == (
        "Orders", "EventTimeOutOfRangeError", json.dumps(lines[1]), str(path), 2)


def test_a_file_line_under_fail_is_a_bad_input_error(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text('{"t": 10}\n{"t": 4102444800}\n')  # 2100-01-01
    p = fl.Pipeline(argv=["--runner", "direct"])
    _ = p | "Orders" >> ReadFromJsonLines(str(path), timestamp_field="t")
    with pytest.raises(BadInputError) as ei:
        p.run()
    assert str(ei.value).startswith(
        f"transform 'Orders' cannot read the record at {path}:2: event time 4102444800000 ms "
        "(2100-01-01T00:00:00.000Z) is more than 86400 s ahead of the wall clock")


class Retime(fl.DoFn):
    def process(self, order):
        yield fl.TimestampedValue(order, order["t"])  # seconds, from the data


def test_retimestamping_out_of_range_in_a_dofn_follows_the_pardo_policy():
    orders = [{"id": 1, "t": 10}, {"id": 2, "t": 1e16}, {"id": 3, "t": 11}]
    p = fl.Pipeline(argv=["--runner", "direct"])
    out = collect(p | fl.Create(orders) | "Retime" >> fl.ParDo(Retime(), on_error="dead_letter"),
                  "Out")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    assert out.items == [({"id": 1, "t": 10}, 10_000), ({"id": 3, "t": 11}, 11_000)]
    [(rec, ts)] = dead.items
    assert (rec.transform, rec.error_type, rec.payload, rec.timestamp_ms) == (
        "Retime", "EventTimeOutOfRangeError", {"id": 2, "t": 1e16}, MIN_EVENT_TIME_MS)
    assert "is after the latest supported event time" in rec.message

    p = fl.Pipeline(argv=["--runner", "direct"])
    _ = p | fl.Create(orders) | "Retime" >> fl.ParDo(Retime())
    with pytest.raises(UserCodeError, match="transform 'Retime' raised EventTimeOutOfRangeError"):
        p.run()


def test_create_refuses_an_out_of_range_time_when_built():
    with pytest.raises(EventTimeOutOfRangeError, match="after the latest supported event time"):
        fl.Create([fl.TimestampedValue("x", 1e16)])
