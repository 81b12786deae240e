"""Capability tags: every case's tags come from the vocabulary and match what its pipeline and
golden output use; the derivation rules on small pipelines the catalog does not cover; runners'
declarations."""

from __future__ import annotations

import attrs
import pytest

import fluvial as fl
from fluvial.registry import get_runner
from fluvial.testing import TestStream
from fluvial.testing.conformance.capabilities import (
    CAPABILITIES,
    UnknownCapabilityError,
    missing_capabilities,
    missing_for,
    supported_capabilities,
)
from fluvial.testing.conformance.catalog import all_cases, get_case
from fluvial.testing.conformance.derive import (
    DECLARED_ONLY,
    DERIVED,
    case_capabilities,
    pipeline_capabilities,
)
from fluvial.timeutil import TimeDomain
from fluvial.userstate import TimerSpec, on_timer
from fluvial.window import IntervalWindow, WindowFn, merge_overlapping_intervals

CASES = all_cases()
ORDER = list(CAPABILITIES)


def test_vocabulary_is_one_line_per_tag_and_every_tag_is_used():
    for tag, meaning in CAPABILITIES.items():
        assert tag.isidentifier() and tag == tag.lower(), tag
        assert meaning and "\n" not in meaning and len(meaning) <= 90, tag
    used = {t for c in CASES for t in c.tags}
    assert used == set(CAPABILITIES), set(CAPABILITIES) - used


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_declares_exactly_the_derivable_tags(case):
    declared = list(case.tags)
    assert set(declared) <= set(CAPABILITIES)
    assert declared == sorted(set(declared), key=ORDER.index), "tags in vocabulary order, once"
    derived = case_capabilities(case)
    assert set(declared) & DERIVED == derived, (
        f"missing {sorted(derived - set(declared))}, "
        f"not used {sorted(set(declared) & DERIVED - derived)}"
    )


def test_declared_only_tags_are_on_the_cases_read_by_hand():
    assert DECLARED_ONLY == {"output_timestamps"}
    # the DoFns of these two cases yield TimestampedValue (SplitAndShift, ShiftTimestamp)
    tagged = {c.name for c in CASES if "output_timestamps" in c.tags}
    assert tagged == {"tagged_output_timestamped", "pardo_retimestamp_then_window"}


def test_a_case_with_an_unknown_tag_is_refused():
    with pytest.raises(UnknownCapabilityError, match="'bad_case'.*windows"):
        attrs.evolve(get_case("fixed_default_gbk"), name="bad_case", tags=("windows",))


# -- rules the catalog does not exercise ---------------------------------------------------------
class _Merging(WindowFn):
    """A user-defined merging WindowFn: [t, t+5s) windows that merge when they intersect."""

    is_merging = True

    def assign(self, timestamp_ms, element):
        return [IntervalWindow(timestamp_ms, timestamp_ms + 5000)]

    def merge(self, windows):
        return merge_overlapping_intervals(windows)


TICK = TimerSpec("tick", TimeDomain.WATERMARK)
OTHER = TimerSpec("other", TimeDomain.WATERMARK)


class _SetsAnotherTimer(fl.DoFn):
    def process(self, kv, tick=fl.DoFn.TimerParam(TICK)):
        tick.set(10)
        return []

    @on_timer(TICK)
    def on_tick(self, other=fl.DoFn.TimerParam(OTHER)):
        other.set(20)
        return []

    @on_timer(OTHER)
    def on_other(self):
        return []


def _tags(build) -> set[str]:
    p = fl.Pipeline(argv=[])
    build(p)
    return pipeline_capabilities(p)


def _stream():
    return (TestStream().add_elements([fl.TimestampedValue(("k", 1), 5)])
            .advance_watermark_to(5)
            .add_elements([fl.TimestampedValue(("k", 2), 5)])  # at the watermark: not late
            .advance_watermark_to_infinity())


def test_after_watermark_with_lateness_closes_the_window_before_expiry():
    def build(p):
        w = fl.WindowInto(fl.FixedWindows(10), trigger=fl.AfterWatermark(early=fl.AfterCount(1)),
                          allowed_lateness=5)
        return p | _stream() | w | fl.GroupByKey()

    assert _tags(build) == {"test_stream", "fixed_windows", "group_by_key", "count_triggers",
                            "allowed_lateness", "finishing_triggers"}


def test_a_custom_merging_window_fn_is_both_custom_and_merging():
    def build(p):
        return p | _stream() | fl.WindowInto(_Merging()) | fl.GroupByKey()

    assert _tags(build) == {"test_stream", "custom_window_fn", "merging_windows", "group_by_key"}


def test_a_timer_callback_setting_another_timer_is_not_looping():
    def build(p):
        return p | _stream() | fl.ParDo(_SetsAnotherTimer())

    assert _tags(build) == {"test_stream", "timers"}


# -- runners' declarations ------------------------------------------------------------------------
def test_the_direct_runner_supports_every_capability():
    direct = get_runner("direct")
    assert missing_capabilities(direct) == {}
    assert supported_capabilities(direct) == frozenset(CAPABILITIES)


def test_a_runner_declaring_an_unknown_capability_is_refused():
    class Odd:
        name = "odd"
        missing_capabilities = {"teleportation": "not yet"}

    with pytest.raises(UnknownCapabilityError, match="runner 'odd'.*teleportation"):
        missing_for(Odd(), ("test_stream",))
