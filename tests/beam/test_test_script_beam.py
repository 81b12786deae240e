"""The Beam runner plays a TestScript by the contract of fluvial.testing.test_script where its
own TestStream differs: a watermark step to the current watermark changes nothing (Beam's
TestStream refuses it), and the end of input moves the watermark to infinity."""

from __future__ import annotations

import fluvial as fl
from fluvial.testing import TestScript, TestStream
from fluvial.testing.test_script import ElementEvent, WatermarkEvent

from .support import collect, pipeline


def _sums(runner: str, script: TestScript, tmp_path) -> list:
    p = pipeline(runner)
    summed = p | TestStream(script) | fl.WindowInto(fl.FixedWindows(10)) | fl.CombinePerKey(sum)
    out = collect(summed, tmp_path, label=f"Collect-{runner}")
    p.run().wait_until_finish()
    return sorted(out.rows(), key=repr)


EXPECTED = [(("k", 3), 9_999, (0, 10_000))]  # [0,10) summed 1+2, stamped at its max timestamp


def test_end_of_input_moves_the_watermark_to_infinity(tmp_path):
    s = TestScript((ElementEvent(((("k", 1), 2_000), (("k", 2), 3_000))),))
    assert _sums("beam", s, tmp_path) == EXPECTED
    assert _sums("direct", s, tmp_path) == EXPECTED


def test_a_watermark_step_to_the_current_watermark_changes_nothing(tmp_path):
    s = TestScript((
        ElementEvent(((("k", 1), 2_000),)),
        WatermarkEvent(5_000),
        WatermarkEvent(5_000),
        ElementEvent(((("k", 2), 6_000),)),
        WatermarkEvent(10_000),
    ))
    assert _sums("beam", TestScript.from_json(s.to_json()), tmp_path) == EXPECTED
    assert _sums("direct", s, tmp_path) == EXPECTED
