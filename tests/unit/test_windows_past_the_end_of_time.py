"""Windows that end after the end of time: a grouping in the global window stamps its result at
the global window's max timestamp (one day before the end of time); re-windowed into windows of
more than a day, that element lies in windows whose end the watermark never passes. The model
(the window driver) fires such a window once, when the input ends and the window expires: an
EARLY pane (the watermark is not past its end), first and last, index 0, non-speculative index
-1, stamped with the window's max timestamp. Every fast path of the direct runner (the sliced
path, the sessions operator, the batched driver) must give exactly that pane, as the reference
path (``--direct-fast-paths off``) does."""

from __future__ import annotations

import pytest
from unit_support import collect

import fluvial as fl
from fluvial.combiners import SumCombineFn
from fluvial.pane import PaneInfo, PaneTiming
from fluvial.timeutil import GLOBAL_WINDOW_MAX_MS
from fluvial.window import FixedWindows, IntervalWindow, Sessions, SlidingWindows

DAY_MS = 86_400_000
T = GLOBAL_WINDOW_MAX_MS  # 9_223_371_950_454_775
LAST = PaneInfo(True, True, PaneTiming.EARLY, 0, -1)

# by hand: FixedWindows(4 days) puts T in [106751988 * 1 day, + 4 days), which ends after the
# end of time (9_223_372_036_854_775); SlidingWindows(4 days, 2 days) in that window and the
# one starting 2 days later; Sessions(2 days) in [T, T + 2 days)
CASES = {
    "fixed-4d": (FixedWindows(4 * 86_400),
                 [IntervalWindow(9_223_371_763_200_000, 9_223_372_108_800_000)]),
    "sliding-4d-2d": (SlidingWindows(4 * 86_400, 2 * 86_400),
                      [IntervalWindow(9_223_371_763_200_000, 9_223_372_108_800_000),
                       IntervalWindow(9_223_371_936_000_000, 9_223_372_281_600_000)]),
    "sessions-2d": (Sessions(2 * 86_400), [IntervalWindow(T, T + 2 * DAY_MS)]),
}


def _run(window_fn, grouping, fast):
    p = fl.Pipeline(argv=[] if fast else ["--direct-fast-paths", "off"])
    totals = (p
              | fl.Create([("k", 1), ("k", 2)])
              | "All" >> fl.CombinePerKey(SumCombineFn())  # stamped T, the global window's end
              | "Window" >> fl.WindowInto(window_fn)
              | "Group" >> grouping)
    box = collect(totals)
    p.run()
    return sorted(box.records, key=repr)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fast", [True, False], ids=["fast-paths", "reference"])
@pytest.mark.parametrize("kind", ["sum", "gbk"])
def test_a_window_ending_after_the_end_of_time_fires_once_as_the_input_ends(case, fast, kind):
    window_fn, windows = CASES[case]
    grouping = fl.CombinePerKey(SumCombineFn()) if kind == "sum" else fl.GroupByKey()
    value = 3 if kind == "sum" else [3]
    want = sorted((("k", value), w.max_timestamp_ms, (w,), LAST) for w in windows)
    assert _run(window_fn, grouping, fast) == want
