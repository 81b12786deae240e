"""The Java combine path against the general path (the window driver in Python,
``--flink-java-combine off``) on the same Flink mini-cluster: random scripted inputs (keys,
values, out-of-order timestamps, watermark steps, late data) over fixed and sliding windows for
every built-in combiner, and Python's numeric corner cases, must give identical panes and
drop counters; the benchmark's columnar source goes through it with the right checksum, and so
does PyFlink's own Python path in the same command."""

from __future__ import annotations

import random

import fluvial as fl
from fluvial.combiners import (
    CountCombineFn,
    MaxCombineFn,
    MeanCombineFn,
    MinCombineFn,
    SumCombineFn,
)
from fluvial.metrics import MetricKey
from fluvial.testing import TestStream

from .support import pipeline, record, recorded

COMBINERS = {"sum": SumCombineFn, "count": CountCombineFn, "min": MinCombineFn,
             "max": MaxCombineFn, "mean": MeanCombineFn}


def _random_branch(rng: random.Random) -> tuple:
    """A window fn, a combiner kind and a TestStream: 25 elements of 4 keys in steps, with
    watermark steps; some elements land behind the watermark (late, some expired)."""
    if rng.random() < 0.5:
        window_fn = fl.FixedWindows(rng.choice([5, 10]), offset=rng.choice([0, 2]))
    else:
        window_fn = fl.SlidingWindows(10, rng.choice([2, 5]), offset=rng.choice([0, 1]))
    kind = rng.choice(sorted(COMBINERS))
    ts = TestStream()
    wm = 0
    for _ in range(5):
        elements = []
        for _ in range(5):
            t = max(0, wm + rng.randint(-6_000, 12_000))  # up to 6 s behind the watermark
            v = rng.choice([rng.randint(-50, 50), rng.randint(-50, 50) / 4, rng.random() < 0.5])
            elements.append(fl.TimestampedValue((rng.choice("wxyz"), v), t / 1000))
        ts = ts.add_elements(elements)
        wm += rng.randint(0, 9_000)
        ts = ts.advance_watermark_to(wm / 1000)
    return window_fn, kind, ts.advance_watermark_to_infinity()


CORNERS = [  # Python's arithmetic: exact big ints, int/float promotion, NaN, infinities, -0.0
    ("big", [2**62, 2**62, 2**62, -(2**63), 1]),
    ("mixed", [1, 0.1, 2, 0.2, True, 2**53 + 1, 0.5]),
    ("ties", [1, 1.0, True, 0, -0.0, 0.0, False]),
    ("nan", [3, float("nan"), -1, float("inf"), 2]),
    ("neg-inf", [float("-inf"), -(2**63), 7, float("inf")]),
]


def _corner_branches() -> list:
    out = []
    for name, vals in CORNERS:
        for kind in sorted(COMBINERS):
            if name in ("nan", "neg-inf") and kind in ("sum", "mean"):
                continue  # inf - inf is NaN either way; min/max and count cover these
            ts = (TestStream()
                  .add_elements([fl.TimestampedValue((name, v), 1 + i / 10) for i, v in enumerate(vals)])
                  .advance_watermark_to_infinity())
            out.append((fl.FixedWindows(10), kind, ts))
    return out


def _run(branches: list, tmp_path, java: bool) -> tuple[list, dict, list]:
    p = pipeline(*([] if java else ["--flink-java-combine", "off"]))
    dirs = []
    for i, (window_fn, kind, ts) in enumerate(branches):
        d = tmp_path / f"{'java' if java else 'python'}-{i}"
        d.mkdir()
        dirs.append(str(d))
        out = (p | f"Src{i}" >> ts | f"Win{i}" >> fl.WindowInto(window_fn)
               | f"Comb{i}" >> fl.CombinePerKey(COMBINERS[kind]()))
        record(out, str(d), f"Rec{i}")
    result = p.run()
    counters = result.metrics().counters
    dropped = {i: counters.get(MetricKey(f"Comb{i}", "fluvial", "dropped_due_to_lateness"), 0)
               for i in range(len(branches))}
    return [sorted(map(repr, recorded(d))) for d in dirs], dropped, result.info["java_combines"]


def test_random_inputs_give_the_same_panes_on_both_paths(tmp_path):
    rng = random.Random(20240611)
    branches = [_random_branch(rng) for _ in range(12)]
    java, java_dropped, on_java = _run(branches, tmp_path, True)
    python, python_dropped, on_python = _run(branches, tmp_path, False)
    assert on_java == [f"Comb{i}" for i in range(12)] and on_python == []
    assert java == python
    assert java_dropped == python_dropped
    # the inputs exercise what they should: panes in every branch, late drops in some
    assert all(java) and sum(java_dropped.values()) > 0


def test_pythons_numeric_corner_cases_on_both_paths(tmp_path):
    branches = _corner_branches()
    java, _, on_java = _run(branches, tmp_path, True)
    python, _, _ = _run(branches, tmp_path, False)
    assert len(on_java) == len(branches)
    assert java == python
    by_case = {(name, kind): recs for (name, kind), recs in
               zip([(b[2].script.steps[0].elements[0][0][0], b[1]) for b in branches], java)}
    # spot checks by hand: the exact big sum, and min keeping the first of equal values
    assert "('big', 4611686018427387905)" in by_case[("big", "sum")][0]
    assert "('ties', 0)" in by_case[("ties", "min")][0]


def test_bench_sliding_sum_on_flink_checks_its_output_against_pyflink():
    from fluvial.cli.bench.sliding_sum import run

    res = run(3_000, 20, "flink", [], pyflink=True)
    assert res["checksum_match"] is True
    assert res["pyflink_checksum_match"] is True
    assert res["outputs"] > 0 and res["ratio_vs_pyflink"] > 0
