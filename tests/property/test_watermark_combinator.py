"""Properties of fluvial.watermarks.WatermarkCombinator over random sequences of input events
(watermark advances, idle/active changes, finishes): the combined watermark never decreases, and
it equals the minimum over the live inputs whenever that minimum is not behind the value already
reached (else it holds); all finished gives the end of time, no live input holds. The expected
value is computed here from the rules, not by the combinator."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings

from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from fluvial.watermarks import WatermarkCombinator

N = 4
event = st.one_of(
    st.tuples(st.just("advance"), st.integers(0, N - 1),
              st.one_of(st.integers(-5, 100), st.just(MAX_TIMESTAMP_MS))),
    st.tuples(st.just("idle"), st.integers(0, N - 1), st.booleans()),
    st.tuples(st.just("finish"), st.integers(0, N - 1), st.none()),
)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, N), events=st.lists(event, max_size=60))
def test_never_decreases_and_is_the_minimum_over_live_inputs(n, events):
    c = WatermarkCombinator(range(n))
    wms = [MIN_TIMESTAMP_MS] * n
    idle = [False] * n
    done = [False] * n
    prev = c.current()
    assert prev == MIN_TIMESTAMP_MS
    for kind, i, arg in events:
        i %= n
        if kind == "advance":
            c.advance(i, arg)
            wms[i] = max(wms[i], arg)
            done[i] = done[i] or wms[i] >= MAX_TIMESTAMP_MS
        elif kind == "idle":
            c.set_idle(i, arg)
            idle[i] = arg
        else:
            c.finish(i)
            done[i] = True
        now = c.current()
        assert now >= prev  # never backwards
        live = [wms[k] for k in range(n) if not idle[k] and not done[k]]
        if all(done):
            assert now == MAX_TIMESTAMP_MS
            assert not c.idle
        elif not live:
            assert now == prev  # all idle (or idle and finished): hold
            assert c.idle
        else:
            # the minimum over live inputs, unless that is behind what was already reached
            assert now == max(prev, min(live))
            assert not c.idle
            held = c.holding_back()
            if held:
                assert all(wms[k] == min(live) for k in held)
        prev = now


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, N), events=st.lists(event, max_size=40), cut=st.integers(0, 40))
def test_restore_continues_like_the_original_apart_from_idleness(n, events, cut):
    # a combinator restored from a snapshot then sees the same events as the original: both
    # give the same watermark once every input has been told its idleness again
    a = WatermarkCombinator(range(n))
    for kind, i, arg in events[:cut]:
        _apply(a, kind, i % n, arg)
    a.current()
    b = WatermarkCombinator(range(n))
    b.restore(a.snapshot())
    for k in range(n):
        a.set_idle(k, False)
    assert b.current() == a.current()
    for kind, i, arg in events[cut:]:
        _apply(a, kind, i % n, arg)
        _apply(b, kind, i % n, arg)
        assert b.current() == a.current()


def _apply(c: WatermarkCombinator, kind: str, i: int, arg) -> None:
    if kind == "advance":
        c.advance(i, arg)
    elif kind == "idle":
        c.set_idle(i, arg)
    else:
        c.finish(i)
