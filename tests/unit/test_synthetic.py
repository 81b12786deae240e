"""SyntheticEvents / SyntheticSource: determinism, positions, rate limiting, watermarks,
columnar batches."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

import fluvial as fl
from fluvial.errors import PipelineConstructionError
from fluvial.testing import assert_that, equal_to
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.transforms import Count, Map, Sum
from fluvial.transforms.io import SyntheticEvents, SyntheticSource


def pipeline() -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "direct"])


def drain(reader, batch: int) -> list:
    out = []
    while (got := reader.poll(batch)) is not None:
        out.extend(got)
    return out


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_dict_events_shape():
    events = drain(SyntheticSource(count=50, keys=5, seed=1).open(None), 16)
    assert len(events) == 50
    for value, ts in events:
        assert set(value) == {"account", "amount", "ts"}
        assert value["ts"] == ts and isinstance(ts, int)
        assert value["account"] in {f"acct-{k:05d}" for k in range(5)}
        assert isinstance(value["amount"], float) and 1.0 <= value["amount"] < 500.0
        assert round(value["amount"], 2) == value["amount"]


def test_deterministic_for_a_seed_and_independent_of_batch_sizes():
    src = SyntheticSource(count=1000, keys=7, seed=42)
    a = drain(src.open(None), 1)
    b = drain(src.open(None), 333)
    c = drain(SyntheticSource(count=1000, keys=7, seed=42).open(None), 1000)
    assert a == b == c
    d = drain(SyntheticSource(count=1000, keys=7, seed=43).open(None), 1000)
    assert d != a


def test_keys_are_spread_over_all_accounts():
    events = drain(SyntheticSource(count=5000, keys=10, seed=3).open(None), 1000)
    counts = defaultdict(int)
    for v, _ in events:
        counts[v["account"]] += 1
    assert len(counts) == 10
    assert min(counts.values()) > 350  # roughly uniform (expected 500)


def test_explicit_key_names():
    events = drain(SyntheticSource(count=100, keys=["x", "y"], seed=3).open(None), 100)
    assert {v["account"] for v, _ in events} == {"x", "y"}


def test_timestamps_increase_with_bounded_jitter_and_nothing_is_late():
    src = SyntheticSource(count=5000, seed=9, start=1000, spacing=0.01, max_jitter=0.5)
    r = src.open(None)
    assert r.watermark() == MIN_TIMESTAMP_MS
    i = 0
    while (got := r.poll(97)) is not None:
        for _, ts in got:
            base = 1_000_000 + (i * 10)
            assert base <= ts <= base + 500
            i += 1
        # no later event may be behind the watermark reached now
        wm = r.watermark()
        upcoming = r.columns(r.index, 200)[2] if r.index < 5000 else np.array([MAX_TIMESTAMP_MS])
        assert upcoming.min() >= wm
    assert i == 5000
    assert r.watermark() == MAX_TIMESTAMP_MS


def test_snapshot_restore_resumes_exactly():
    src = SyntheticSource(count=777, keys=13, seed=5)
    expected = drain(src.open(None), 100)
    r = src.open(None)
    got = r.poll(250) + r.poll(5)
    state = r.snapshot()
    r2 = src.open(None)
    r2.restore(state)
    assert r2.watermark() == r.watermark()
    got += drain(r2, 64)
    assert got == expected


def test_rate_limiting_uses_the_injected_clock():
    clock = FakeClock()
    r = SyntheticSource(count=100, rate=10, clock=clock).open(None)
    assert r.poll(1000) == []  # nothing due at t0
    clock.now += 0.25
    assert len(r.poll(1000)) == 2
    assert r.poll(1000) == []
    clock.now += 1.0
    assert len(r.poll(1000)) == 10
    assert len(r.poll(3)) == 0
    clock.now += 100.0  # catch up, bounded by max_records and count
    assert len(r.poll(50)) == 50
    assert len(r.poll(1000)) == 100 - 62
    assert r.poll(1000) is None


def test_rate_restarts_from_the_restored_position():
    clock = FakeClock()
    src = SyntheticSource(count=None, rate=100, clock=clock)
    r = src.open(None)
    r.poll(10)
    clock.now += 1
    assert len(r.poll(1000)) == 100
    state = r.snapshot()
    r2 = src.open(None)
    r2.restore(state)
    clock.now += 10  # time passed while down does not create a burst
    assert r2.poll(1000) == []
    clock.now += 0.5
    got = r2.poll(1000)
    assert len(got) == 50
    assert got == SyntheticSource(count=None).open(None).poll(150)[100:]


def test_unbounded_source():
    src = SyntheticSource(count=None, seed=1)
    assert not src.is_bounded
    r = src.open(None)
    for _ in range(5):
        assert len(r.poll(1000)) == 1000
    assert SyntheticSource(count=10).is_bounded


def test_columnar_batches_match_dict_mode():
    col = SyntheticSource(count=1000, keys=50, seed=11, columnar=True).open(None)
    dic = drain(SyntheticSource(count=1000, keys=50, seed=11).open(None), 1000)
    batches = []
    while (b := col.poll(300)) is not None:
        assert isinstance(b, fl.ColumnBatch)
        batches.append(b)
    assert [len(b) for b in batches] == [300, 300, 300, 100]
    keys = np.concatenate([b.keys for b in batches])
    values = np.concatenate([b.values for b in batches])
    ts = np.concatenate([b.timestamps for b in batches])
    assert keys.dtype == np.int64 and ts.dtype == np.int64
    assert [f"acct-{k:05d}" for k in keys.tolist()] == [v["account"] for v, _ in dic]
    assert values.tolist() == [v["amount"] for v, _ in dic]
    assert ts.tolist() == [t for _, t in dic]


def test_custom_column_functions_reproduce_the_bench_stream():
    k = 1000
    src = SyntheticSource(
        count=5000,
        keys=k,
        columnar=True,
        key_fn=lambda i, u: (i * 2654435761) % k,
        value_fn=lambda i, u: i % 10 + 1,
        timestamp_fn=lambda i, u: 1_000_000 + i + (i * 7919) % 101 - 50,
        watermark=fl.BoundedOutOfOrderness(0.1),
    )
    b = src.open(None).poll(5000)
    i = np.arange(5000)
    assert b.keys.tolist() == ((i * 2654435761) % k).tolist()
    assert b.values.tolist() == (i % 10 + 1).tolist()
    assert b.timestamps.tolist() == (1_000_000 + i + (i * 7919) % 101 - 50).tolist()


def test_pipeline_dicts():
    with pipeline() as p:
        ev = p | SyntheticEvents(count=2000, keys=4, seed=2)
        assert_that(ev | Count.Globally(), equal_to([2000]))
        per_account = ev | Map(lambda e: (e["account"], 1)) | Sum.PerKey()
        assert_that(per_account | "N" >> Map(lambda kv: kv[0]),
                    equal_to([f"acct-{k:05d}" for k in range(4)]), label="accounts")


def test_pipeline_columnar_windowed_sum_matches_numpy():
    n, k = 20000, 5
    src_args = dict(count=n, keys=k, seed=4, spacing=0.01, max_jitter=0.2)
    r = SyntheticSource(**src_args, columnar=True).open(None)
    b = r.poll(n)
    expected = defaultdict(float)
    for key, val, ts in b.rows():
        expected[(key, ts // 60_000 * 60)] += val
    with pipeline() as p:
        ev = p | SyntheticEvents(**src_args, columnar=True)
        sums = ev | fl.WindowInto(fl.FixedWindows(60)) | Sum.PerKey()
        out = sums | Map(lambda kv, w=fl.DoFn.WindowParam: (kv[0], w.start_ms // 1000,
                                                             round(kv[1], 6)))
        assert_that(out, equal_to([(key, w, round(v, 6)) for (key, w), v in expected.items()]))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": -1},
        {"count": 1.5},
        {"rate": 0},
        {"rate": -3},
        {"keys": 0},
        {"keys": []},
        {"value_fn": 3},
        {"max_jitter": -1},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(PipelineConstructionError):
        SyntheticSource(**kwargs)
