"""An event-time timer that could never fire (after its window expires) is an error, as in Beam."""

from __future__ import annotations

import pytest

import fluvial as fl
from fluvial.testing import TestStream

T = fl.TimerSpec("t", fl.TimeDomain.WATERMARK)


class _SetLate(fl.DoFn):
    def __init__(self, at: float) -> None:
        self.at = at

    def process(self, kv, timer=fl.DoFn.TimerParam(T)):
        timer.set(self.at)
        return []

    @fl.on_timer(T)
    def fire(self, ts=fl.DoFn.TimestampParam):
        yield ts.seconds


def _run(at: float) -> list:
    out: list = []

    class _Keep(fl.DoFn):
        def process(self, x):
            out.append(x)
            return []

    p = fl.Pipeline(argv=[])
    ts = TestStream().add_elements([fl.TimestampedValue(("k", 1), 1)]).advance_watermark_to_infinity()
    (
        p
        | ts
        | fl.WindowInto(fl.FixedWindows(10), allowed_lateness=5)
        | "SetTimer" >> fl.ParDo(_SetLate(at))
        | fl.ParDo(_Keep())
    )
    p.run()
    return out


def test_timer_at_expiry_fires():
    # window [0, 10): max timestamp 9.999 s + lateness 5 s = 14.999 s is the last settable time
    assert _run(14.999) == [14.999]


def test_timer_after_expiry_is_an_error_naming_the_transform():
    with pytest.raises(fl.FluvialError, match="SetTimer.*could never fire"):
        _run(15.0)
