"""``fluvial bench kafka-passthrough`` (cli/bench/kafka_passthrough.py) on a small input: every
pipeline writes exactly the transformed input records (checked record by record)."""

from __future__ import annotations

from fluvial.cli.bench.kafka_passthrough import run


def test_kafka_passthrough_outputs_are_checked():
    res = run(1000, "both")
    assert res["output_counts"] == {"plain": 1000, "at_least_once": 1000, "exactly_once": 1000}
    assert res["counts_ok"] is True and res["values_ok"] is True
    for field in ("plain_events_per_s", "fluvial_at_least_once_events_per_s",
                  "fluvial_exactly_once_events_per_s", "alo_over_plain", "eos_over_alo"):
        assert res[field] > 0
