"""The supported range of event times (fluvial.timeutil), the ``--max-event-time-ahead``
option, and the SourceContext checks runners and readers apply to records."""

from __future__ import annotations

import time

import numpy as np
import pytest

import fluvial as fl
from fluvial.columnar import ColumnBatch
from fluvial.errors import EventTimeOutOfRangeError, PipelineConstructionError
from fluvial.options import PipelineOptions
from fluvial.source import SourceContext
from fluvial.timeutil import (
    GLOBAL_WINDOW_MAX_MS,
    MAX_EVENT_TIME_MS,
    MIN_EVENT_TIME_MS,
    MIN_TIMESTAMP_MS,
    check_event_time,
    describe_ms,
    event_time_problem,
)
from fluvial.values import TimestampedValue


def test_the_range_is_beams_minimum_to_the_end_of_the_global_window():
    assert (MIN_EVENT_TIME_MS, MAX_EVENT_TIME_MS) == (MIN_TIMESTAMP_MS, GLOBAL_WINDOW_MAX_MS)
    assert check_event_time(MIN_EVENT_TIME_MS) == MIN_EVENT_TIME_MS  # Create's default time
    assert check_event_time(MAX_EVENT_TIME_MS) == MAX_EVENT_TIME_MS
    for bad in (MIN_EVENT_TIME_MS - 1, MAX_EVENT_TIME_MS + 1):
        with pytest.raises(EventTimeOutOfRangeError) as ei:
            check_event_time(bad)
        assert ei.value.timestamp_ms == bad
        assert isinstance(ei.value, ValueError)  # an error of the code that made the time


def test_reasons_name_the_time_and_the_bound():
    assert describe_ms(86_400_000) == "86400000 ms (1970-01-02T00:00:00.000Z)"
    assert describe_ms(10**16) == "10000000000000000 ms"  # no calendar for it
    assert event_time_problem(MIN_EVENT_TIME_MS - 1) == (
        f"event time {MIN_EVENT_TIME_MS - 1} ms is before the earliest supported event time "
        f"({MIN_EVENT_TIME_MS} ms)")
    assert event_time_problem(172_800_001, latest_ms=172_800_000, ahead_s=3600) == (
        "event time 172800001 ms (1970-01-03T00:00:00.001Z) is more than 3600 s ahead of the "
        "wall clock (the latest accepted now is 172800000 ms (1970-01-03T00:00:00.000Z)); fix "
        "the record's time, or raise --max-event-time-ahead (or set it to 'off')")


def test_timestamped_value_refuses_a_time_out_of_range():
    assert TimestampedValue("x", 12.5).timestamp_ms == 12_500
    with pytest.raises(EventTimeOutOfRangeError, match="after the latest supported"):
        TimestampedValue("x", 10**13)  # seconds: 1e16 ms


def test_the_option_takes_seconds_or_off():
    assert PipelineOptions().max_event_time_ahead == 86_400.0
    assert PipelineOptions.from_argv(["--max-event-time-ahead", "60"]).max_event_time_ahead == 60
    assert PipelineOptions.from_argv(["--max-event-time-ahead", "off"]).max_event_time_ahead is None
    for bad in ("-1", "nan", "soon"):
        with pytest.raises(PipelineConstructionError, match="max-event-time-ahead"):
            PipelineOptions.from_argv(["--max-event-time-ahead", bad])
    with pytest.raises(PipelineConstructionError, match="max_event_time_ahead"):
        PipelineOptions(max_event_time_ahead=-5)


class Box:
    def __init__(self) -> None:
        self.records: list = []


def ctx(*argv: str, box: Box | None = None) -> SourceContext:
    sink = box.records.append if box is not None else None
    return SourceContext(PipelineOptions.from_argv(list(argv)), None, "Src", None, sink)


def test_latest_event_time_follows_the_wall_clock_and_the_option():
    before = int(time.time() * 1000)
    latest = ctx("--max-event-time-ahead", "10").latest_event_time()
    after = int(time.time() * 1000)
    assert before + 10_000 <= latest <= after + 10_000
    assert ctx("--max-event-time-ahead", "off").latest_event_time() == MAX_EVENT_TIME_MS
    assert ctx("--max-event-time-ahead", "1e30").latest_event_time() == MAX_EVENT_TIME_MS


def test_in_range_keeps_good_records_and_hands_the_others_to_the_policy():
    box = Box()
    c = ctx("--on-error", "dead_letter", box=box)
    far = int(time.time() * 1000) + 2 * 86_400_000
    got = [(("a", 1), 1_000), (("a", 2), far), (("a", 3), MIN_EVENT_TIME_MS - 5), (("a", 4), 2_000)]
    assert c.in_range(got) == [(("a", 1), 1_000), (("a", 4), 2_000)]
    assert [(r.transform, r.error_type, r.payload, r.timestamp_ms) for r in box.records] == [
        ("Src", "EventTimeOutOfRangeError", ("a", 2), None),
        ("Src", "EventTimeOutOfRangeError", ("a", 3), None),
    ]
    good = [(1, 5), (2, 6)]
    assert c.in_range(good) is good  # nothing to drop: the same list


def test_in_range_filters_column_batches():
    box = Box()
    c = ctx("--on-error", "dead_letter", "--max-event-time-ahead", "off", box=box)
    batch = ColumnBatch(np.array([1, 2, 3]), np.array([10.0, 20.0, 30.0]),
                        np.array([5, MAX_EVENT_TIME_MS + 1, 7]))
    out = c.in_range(batch)
    assert (out.keys.tolist(), out.values.tolist(), out.timestamps.tolist()) == (
        [1, 3], [10.0, 30.0], [5, 7])
    assert [r.payload for r in box.records] == [(2, 20.0)]
    assert c.in_range(out) is out


def test_check_event_time_under_fail_names_the_source():
    c = ctx()
    with pytest.raises(fl.UserCodeError, match="transform 'Src' raised EventTimeOutOfRangeError"):
        c.check_event_time(MAX_EVENT_TIME_MS + 1, "rec")
    assert c.check_event_time(5, "rec") is True


def test_a_list_reader_with_its_own_watermark_never_feeds_it_an_out_of_range_time():
    far = int(time.time() * 1000) + 10 * 86_400_000
    records = [("a", 10_000), ("b", far), ("c", 11_000), ("d", 12_000)]

    # with the context: the record goes to the policy in the reader
    box = Box()
    reader = fl.source.ListReader(records, fl.BoundedOutOfOrderness(0),
                                  ctx("--on-error", "dead_letter", box=box))
    assert reader.poll(3) == [("a", 10_000), ("c", 11_000)]
    assert reader.watermark() == 11_000  # ("d" is still to come)
    assert [r.payload for r in box.records] == ["b"]

    # without it: handed out for the runner's check, but the watermark ignores times outside
    # the fixed range
    reader = fl.source.ListReader([("a", 10_000), ("b", MAX_EVENT_TIME_MS + 1), ("c", 12_000)],
                                  fl.BoundedOutOfOrderness(0))
    assert len(reader.poll(2)) == 2 and reader.watermark() == 10_000
