"""Random timelines (keys, out-of-order and late elements, watermark and processing-time steps,
checkpoints) driven through the window driver: the direct runner's store produces exactly the
reference store's panes, and no pane ever leaves a grouping stamped behind the grouping's output
watermark (LATE panes: by more than the allowed lateness), whatever the trigger, window fn,
accumulation mode, lateness or timestamp combiner."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from fluvial.combiners import SumCombineFn
from fluvial.runners.direct.keyed_store import KeyedWindowStore
from fluvial.testing.store_contract import (
    END,
    Checkpoint,
    Element,
    ProcessingTime,
    Script,
    Watermark,
    run_script,
)
from fluvial.triggers import (
    AccumulationMode,
    AfterAny,
    AfterCount,
    AfterProcessingTime,
    AfterWatermark,
    DefaultTrigger,
    Repeatedly,
)
from fluvial.window import FixedWindows, GlobalWindows, Sessions, SlidingWindows
from fluvial.window_store import InMemoryWindowStore
from fluvial.windowing import TimestampCombiner, Windowing

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

window_fns = st.sampled_from([FixedWindows(10), SlidingWindows(10, 5), Sessions(4), GlobalWindows()])
triggers = st.sampled_from([
    DefaultTrigger(),
    AfterWatermark(early=AfterCount(2)),
    AfterWatermark(early=AfterCount(3), late=AfterCount(1)),
    Repeatedly(AfterCount(2)),
    Repeatedly(AfterAny(AfterCount(3), AfterProcessingTime(5))),
    AfterWatermark(early=AfterProcessingTime(3), late=AfterCount(2)),
])


@st.composite
def timelines(draw):
    fn = draw(window_fns)
    trigger = draw(triggers)
    if isinstance(fn, GlobalWindows) and isinstance(trigger, DefaultTrigger):
        trigger = Repeatedly(AfterCount(2))
    windowing = Windowing(
        fn,
        trigger=trigger,
        accumulation_mode=draw(st.sampled_from(list(AccumulationMode))),
        allowed_lateness_ms=draw(st.sampled_from([0, 0, 3_000, 20_000])),
        timestamp_combiner=draw(st.sampled_from(list(TimestampCombiner)[:3])),
    )
    steps = []
    wm, now = 0, 0
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["e", "e", "e", "e", "w", "p", "c"]))
        if kind == "e":
            # around the watermark: on time, late within lateness, expired
            t = wm + draw(st.integers(-25_000, 15_000))
            steps.append(Element(draw(st.sampled_from("abc")), draw(st.integers(0, 9)), t))
        elif kind == "w":
            wm += draw(st.integers(0, 12_000))
            steps.append(Watermark(wm))
        elif kind == "p":
            now += draw(st.integers(1_000, 6_000))
            steps.append(ProcessingTime(now))
        else:
            steps.append(Checkpoint())
    steps.append(Watermark(END))
    grouped = draw(st.booleans())
    return Script("random", windowing, tuple(steps), (), "", None if grouped else SumCombineFn())


def _canon(run):
    def value(v):
        return sorted(v) if isinstance(v, list) else v

    return sorted(repr((k, w, value(v), ts, p)) for k, w, v, ts, p in run.panes)


@SETTINGS
@given(timelines())
def test_direct_store_equals_reference_store(script):
    ref = run_script(script, InMemoryWindowStore)
    direct = run_script(script, KeyedWindowStore)
    assert _canon(direct) == _canon(ref)
    assert sorted(map(repr, direct.late)) == sorted(map(repr, ref.late))
    assert direct.counters == ref.counters
    assert direct.output_watermarks == ref.output_watermarks


@SETTINGS
@given(timelines())
def test_no_pane_behind_the_output_watermark(script):
    for make in (InMemoryWindowStore, KeyedWindowStore):
        run = run_script(script, make)
        assert run.problems == []
