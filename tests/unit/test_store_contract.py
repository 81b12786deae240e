"""The store-contract kit (fluvial.testing.store_contract) on the reference store and the direct
runner's store, and on deliberately broken stores, each of which the kit must catch."""

from __future__ import annotations

import heapq

import pytest

from fluvial.runners.direct.keyed_store import KeyedWindowStore
from fluvial.testing.store_contract import SCRIPTS, check_script, check_store
from fluvial.window_store import InMemoryWindowStore


@pytest.mark.parametrize("store", [InMemoryWindowStore, KeyedWindowStore])
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_store_passes_the_kit(store, script):
    assert check_script(script, store) == []


class FlinkConventionUnchanged(InMemoryWindowStore):
    """Fires an event timer at ``watermark >= t`` (Flink's rule) and hands the driver the
    watermark unchanged: the end-of-window timer at max_timestamp fires while the watermark
    equals it, when the window has not ended in the driver's convention."""

    def advance_watermark(self, watermark, driver, sink):
        self.watermark = max(self.watermark, watermark)
        heap = self._timers[0]
        while heap and heap[0][0] <= self.watermark:
            t, _, key, window = heapq.heappop(heap)
            self._pending.discard((0, key, window, t))
            driver.on_event_timer(window, self.bind(key), sink.for_key(key))


class FlinkConventionPlusOne(FlinkConventionUnchanged):
    """The same rule with every timer registered at ``t + 1``: what the contract asks for."""

    def set_event_timer(self, window, t):
        super().set_event_timer(window, t + 1)


class ForgetsWrites(InMemoryWindowStore):
    """Keeps only the first metadata written for a window (as a serialising store that never
    writes back)."""

    def put_meta(self, window, meta):
        if self.get_meta(window) is None:
            super().put_meta(window, meta)


class NoHolds(InMemoryWindowStore):
    """Claims holds but ignores them."""

    def set_hold(self, window, t):
        pass


class LosesTimersOnRestore(InMemoryWindowStore):
    def restore(self, snap):
        super().restore(snap)
        self._timers = ([], [])
        self._pending = set()


def _failing(store):
    return {line.split(":")[0] for line in check_store(store)}


def test_kit_catches_flink_timers_without_the_plus_one():
    # the watermark landing on the window's max timestamp consumes its only timer: no pane ever
    assert "watermark_at_the_boundaries" in _failing(FlinkConventionUnchanged)
    # a watermark that jumps past the end fires once: the window ends and expires in one call
    assert check_store(FlinkConventionPlusOne) == []


def test_kit_catches_a_store_that_forgets_writes():
    assert {"early_count_discarding_then_empty_on_time", "late_within_lateness_accumulating",
            "after_count_closes_window"} <= _failing(ForgetsWrites)


def test_kit_catches_ignored_holds():
    failing = _failing(NoHolds)
    assert "earliest_behind_output_watermark" in failing
    assert "latest_hold_and_early_pane" in failing


def test_kit_checks_output_watermarks_only_where_holds_exist():
    class NoHoldsDeclared(NoHolds):
        supports_holds = False

    # without holds the output watermark is the input watermark: panes still as in the goldens
    assert check_store(NoHoldsDeclared) == []


def test_kit_catches_timers_lost_in_a_checkpoint():
    assert "late_within_lateness_checkpointed" in _failing(LosesTimersOnRestore)
