"""The watermark holds of one instance of a grouping on Flink (runners/flink/group_holds.py,
``SubtaskHolds``) without an engine: each key's earliest hold, the minimum over the keys (the
output watermark the instance computes), the reports sent on to ``GroupHolds`` (Java) in order,
and holds learnt after a restore, which are not reported again. Goldens by hand."""

from __future__ import annotations

import random

from fluvial.runners.flink.group_holds import SubtaskHolds
from fluvial.timeutil import MIN_TIMESTAMP_MS


def test_no_hold_publishes_the_input_watermark():
    h = SubtaskHolds()
    assert h.minimum() is None
    assert h.publish(MIN_TIMESTAMP_MS) == MIN_TIMESTAMP_MS
    assert h.publish(8_000) == 8_000
    assert h.drain() == []


def test_the_earliest_hold_of_any_key_holds_the_watermark():
    h = SubtaskHolds()
    h.update(b"a", 5_000)
    h.update(b"b", 7_000)
    assert h.minimum() == 5_000
    assert h.publish(8_000) == 5_000  # held
    assert h.publish(4_000) == 4_000  # the input watermark is below every hold
    h.update(b"a", 9_000)  # a's earliest hold moved later (its window fired)
    assert h.minimum() == 7_000 and h.publish(8_000) == 7_000
    h.update(b"b", None)  # b holds nothing any more
    assert h.minimum() == 9_000 and h.publish(8_000) == 8_000
    h.update(b"a", None)
    assert h.minimum() is None and h.by_key == {}
    assert h.drain() == [(b"a", 5_000), (b"b", 7_000), (b"a", 9_000), (b"b", None),
                         (b"a", None)]
    assert h.drain() == []  # drained


def test_keys_holding_at_the_same_time_are_counted():
    h = SubtaskHolds()
    h.update(b"a", 5_000)
    h.update(b"b", 5_000)
    h.update(b"a", None)
    assert h.minimum() == 5_000  # b still holds there
    h.update(b"b", 6_000)
    assert h.minimum() == 6_000
    h.update(b"b", 5_000)  # back to a time that was released before
    assert h.minimum() == 5_000


def test_a_learnt_hold_holds_but_is_not_reported():
    h = SubtaskHolds()
    h.learn(b"a", 5_000)  # reported by an instance before a restore: GroupHolds has it
    assert h.minimum() == 5_000 and h.publish(8_000) == 5_000
    assert h.drain() == []
    h.update(b"a", None)
    assert h.drain() == [(b"a", None)] and h.minimum() is None


def test_instances_have_different_epochs():
    assert len({SubtaskHolds().epoch for _ in range(20)}) == 20


def test_the_minimum_is_the_minimum_of_the_keys_holds():
    """Random updates against a plain dict: the minimum, and the last report per key is the
    key's hold."""
    rng = random.Random(7)
    h = SubtaskHolds()
    want: dict[bytes, int] = {}
    for _ in range(2_000):
        key = bytes([rng.randrange(8)])
        hold = None if rng.random() < 0.3 else rng.randrange(0, 50) * 1_000
        h.update(key, hold)
        if hold is None:
            want.pop(key, None)
        else:
            want[key] = hold
        assert h.minimum() == min(want.values(), default=None)
        assert h.by_key == want
    last: dict[bytes, int | None] = {}
    for key, hold in h.drain():
        last[key] = hold
    assert {k: v for k, v in last.items() if v is not None} == want
