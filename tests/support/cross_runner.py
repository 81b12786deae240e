"""The conformance catalog across runners: every case that passes on two runners must give
identical normalised output records and counters.

A runner joins the comparison by name (``RUNNERS`` of the test module using this); its catalog
results are computed once per test session. tests/beam compares Beam with the direct runner and
tests/flink compares Flink with it (each in its own tox environment), so every case passing on
all three gives identical output on all three.

    results = catalog_results("beam")                  # {case name: CaseResult}
    compared = assert_identical_where_both_pass("direct", "beam")
"""

from __future__ import annotations

import json

import pytest

from fluvial.errors import RunnerNotFoundError
from fluvial.registry import get_runner
from fluvial.testing.conformance.catalog import all_cases
from fluvial.testing.conformance.harness import CaseResult, _normalise_record, run_case

_RESULTS: dict[str, dict[str, CaseResult]] = {}  # per test session: runner -> case -> result


def catalog_results(runner: str) -> dict[str, CaseResult]:
    """Every catalog case run on ``runner`` (cached); skips the calling test, saying why, when
    the runner is not installed here."""
    if runner not in _RESULTS:
        try:
            get_runner(runner)
        except RunnerNotFoundError as e:
            pytest.skip(f"runner '{runner}' cannot run in this environment: {e}")
        _RESULTS[runner] = {c.name: run_case(c, runner) for c in all_cases()}
    return _RESULTS[runner]


def canonical(records: list[dict]) -> list[str]:
    """Records as sorted normalised JSON lines: equal lists mean equal multisets."""
    return sorted(json.dumps(_normalise_record(r), sort_keys=True) for r in records)


def assert_identical_where_both_pass(a: str, b: str) -> int:
    """Compare every case passing on both runners; returns how many were compared."""
    ra, rb = catalog_results(a), catalog_results(b)
    mismatches = []
    compared = 0
    for name, x in ra.items():
        y = rb[name]
        if x.status != "pass" or y.status != "pass":
            continue
        compared += 1
        if canonical(x.records) != canonical(y.records):
            mismatches.append(f"{name}: records differ")
        if x.counters != y.counters:
            mismatches.append(f"{name}: counters {x.counters} on {a}, {y.counters} on {b}")
    assert not mismatches, f"{a} vs {b}: " + "; ".join(mismatches)
    return compared
