"""The Kafka benchmarks on a small input (cli/bench/kafka_passthrough.py, kafka_windowed.py):
every variant writes exactly the expected records, checked record by record (the figures
themselves are not asserted: no timing assertions)."""

from __future__ import annotations

from fluvial.cli.bench import kafka_passthrough, kafka_windowed


def test_kafka_passthrough_outputs_are_checked():
    res = kafka_passthrough.run(1000, "both")
    names = ["plain at_least_once", "fluvial confluent at_least_once",
             "fluvial kafka-python at_least_once", "plain exactly_once",
             "fluvial confluent exactly_once", "fluvial kafka-python exactly_once"]
    assert res["output_counts"] == dict.fromkeys(names, 1000)
    assert res["outputs_ok"] is True
    assert sorted(res["records_per_s"]) == sorted(names)
    assert all(v > 0 for v in res["ratios"].values()) and len(res["ratios"]) == 4


def test_kafka_windowed_outputs_are_the_expected_sums():
    # 12,000 records over 2 windows of 10,000 ms: window 0 holds records 0..9999, window 1
    # 10000..11999, each window 1,000 users: 2,000 rows
    res = kafka_windowed.run(12_000, clients=("confluent",))
    assert res["output_counts"] == {"plain": 2000, "fluvial confluent": 2000}
    assert res["outputs_ok"] is True


def test_expected_windowed_sums_by_hand():
    want = kafka_windowed.expected(2_000)  # one window; user u has records u and u + 1000
    assert sum(want.values()) == 1000
    row = b'{"user":"user-5","window_start":1700000000000,"sum":%d}' % (5 % 97 + 1005 % 97)
    assert want[(b"user-5", row)] == 1
