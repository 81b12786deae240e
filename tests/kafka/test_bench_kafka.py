"""The Kafka benchmarks on a small input (cli/bench/kafka_passthrough.py, kafka_windowed.py):
every variant writes exactly the expected records, checked record by record (the figures
themselves are not asserted: no timing assertions)."""

from __future__ import annotations

from collections import Counter

import pytest

from fluvial.cli.bench import kafka_passthrough, kafka_windowed
from fluvial.cli.bench.kafka_common import (
    ReadBackIncomplete,
    check_output,
    difference,
    read_back,
)


def test_kafka_passthrough_outputs_are_checked():
    res = kafka_passthrough.run(1000, "both")
    names = ["plain at_least_once", "fluvial confluent at_least_once",
             "fluvial kafka-python at_least_once", "plain exactly_once",
             "fluvial confluent exactly_once", "fluvial kafka-python exactly_once"]
    assert res["output_counts"] == dict.fromkeys(names, 1000)
    assert res["outputs_ok"] is True and res["problems"] == {}
    assert sorted(res["records_per_s"]) == sorted(names)
    assert all(v > 0 for v in res["ratios"].values()) and len(res["ratios"]) == 4
    # one repeat: the range is that repeat's ratio
    assert res["ratio_ranges"] == {k: [v, v] for k, v in res["ratios"].items()}
    assert sorted(res["cpu_s"]) == sorted(names) and all(v > 0 for v in res["cpu_s"].values())
    assert sorted(res["cpu_ratios"]) == sorted(res["ratios"])


def test_kafka_windowed_outputs_are_the_expected_sums():
    # 12,000 records over 2 windows of 10,000 ms: window 0 holds records 0..9999, window 1
    # 10000..11999, each window 1,000 users: 2,000 rows
    res = kafka_windowed.run(12_000, clients=("confluent",))
    assert res["output_counts"] == {"plain": 2000, "fluvial confluent": 2000}
    assert res["outputs_ok"] is True and res["problems"] == {}


def test_expected_windowed_sums_by_hand():
    want = kafka_windowed.expected(2_000)  # one window; user u has records u and u + 1000
    assert sum(want.values()) == 1000
    row = b'{"user":"user-5","window_start":1700000000000,"sum":%d}' % (5 % 97 + 1005 % 97)
    assert want[(b"user-5", row)] == 1


def test_difference_names_missing_and_unexpected_records():
    want = Counter({b"a": 1, b"b": 1, b"c": 1})
    assert difference(Counter({b"a": 1, b"b": 1, b"c": 1}), want) is None
    assert difference(Counter({b"a": 1}), want) == "2 of the expected records missing"
    assert difference(Counter({b"a": 2, b"b": 1, b"c": 1, b"d": 1}), want) == (
        "2 record(s) not expected (duplicates or foreign)")


def test_a_read_back_that_misses_its_deadline_is_unchecked_not_short(kafka_broker, kafka_topic):
    """A read-back that does not reach the end of every partition raises (a slow broker must
    not make a complete output look short); given the time, the same topic checks out."""
    from kafka_support import produce

    s = kafka_broker.bootstrap_servers
    t = kafka_topic(partitions=2)
    produce(s, t, [(b"k", b"v%d" % i, i % 2, 1_000 + i) for i in range(10)])
    with pytest.raises(ReadBackIncomplete) as e:
        read_back(s, t, 2, deadline_s=0)
    assert f"partition(s) 0, 1 of {t!r} not read to their end within 0 s" in str(e.value)
    assert "unchecked, not short" in str(e.value)
    want = Counter((b"k", b"v%d" % i) for i in range(10))
    assert check_output(s, t, 2, want) == (10, None)
    assert check_output(s, t, 2, want + Counter({(b"k", b"v10"): 1})) == (
        10, "1 of the expected records missing")
