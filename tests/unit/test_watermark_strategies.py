"""Source watermark strategies on the direct runner: bounded out-of-orderness, monotonic, and an
idle source leaving the watermark minimum."""

from __future__ import annotations

from typing import Any

import pytest

import fluvial as fl
from fluvial.combiners import SumCombineFn
from fluvial.source import SourceReader
from fluvial.testing import assert_that, equal_to
from fluvial.watermarks import BoundedOutOfOrderness, Monotonic, WatermarkCombinator


def test_bounded_out_of_orderness_generator():
    g = BoundedOutOfOrderness(5).create()
    g.on_event(100_000)
    g.on_event(90_000)  # out of order: does not move the watermark back
    assert g.current() == 95_000


def test_monotonic_generator_and_idle_exclusion():
    a, b = Monotonic(idle_timeout=10).create(), Monotonic().create()
    a.start(0)
    b.start(0)
    a.on_event(50_000, now_ms=0)
    b.on_event(20_000, now_ms=0)
    c = WatermarkCombinator(["a", "b"])

    def combined(gens, now):
        for k, g in gens.items():
            c.advance(k, g.current())
            c.set_idle(k, g.is_idle(now))
        return c.current()

    assert combined({"a": a, "b": b}, 5_000) == 20_000
    # a is idle after 10 s of processing time without events; b never goes idle
    assert a.is_idle(10_000) and not b.is_idle(10_000)
    assert combined({"a": a, "b": b}, 10_000) == 20_000
    b2 = Monotonic(idle_timeout=10).create()
    b2.start(0)
    b2.on_event(30_000, now_ms=0)
    # b2 (30 s) is idle at 10 s too: nothing is live, the combined watermark holds at 20 s and
    # the combinator counts as idle itself
    assert combined({"a": a, "b": b2}, 10_000) == 20_000
    assert c.idle


def test_invalid_strategies():
    with pytest.raises(fl.PipelineConstructionError):
        BoundedOutOfOrderness(-1)
    with pytest.raises(fl.PipelineConstructionError):
        Monotonic(idle_timeout=0)


class _Scripted(SourceReader):
    """Hands out one scripted batch per poll; [] means 'nothing now'; then ends."""

    def __init__(self, script: list[list[tuple[Any, int]]], clock: Any, step_ms: int) -> None:
        self.script = script
        self.pos = 0
        self.clock = clock
        self.step_ms = step_ms

    def poll(self, max_records: int):
        if self.pos >= len(self.script):
            return None
        out = self.script[self.pos]
        self.pos += 1
        return out


class _Src(fl.Source):
    is_bounded = False

    def __init__(self, script):
        self.script = script

    def open(self, ctx):
        return _Scripted(self.script, ctx.clock, 0)


def test_read_with_strategy_fires_windows_before_the_end():
    # Fixed 10 s windows, watermark = max ts - 1 s. The element at 25 s moves the watermark to
    # 24 s, so window [0, 10) is emitted while the source is still running; the late element at
    # 5 s (after that) is dropped and counted.
    script = [
        [(("k", 1), 1_000), (("k", 2), 9_000)],
        [(("k", 4), 25_000)],
        [(("k", 100), 5_000)],
    ]
    p = fl.Pipeline(argv=[])
    out = (
        p
        | fl.Read(_Src(script), watermark_strategy=BoundedOutOfOrderness(1))
        | fl.WindowInto(fl.FixedWindows(10))
        | fl.CombinePerKey(SumCombineFn())
    )
    assert_that(out, equal_to([(("k", 3), (0.0, 10.0), "ON_TIME", 0), (("k", 4), (20.0, 30.0), "ON_TIME", 0)]), reify_windows=True)
    res = p.run()
    assert res.metrics().query().counter("dropped_due_to_lateness") == 1
