"""The conformance catalog on the Beam runner: every case passes except the listed ones, whose
status and reason are exactly what the runner reports; and every case passing on both the
direct and the Beam runner produced identical normalised output records."""

from __future__ import annotations

import json

import pytest

from fluvial.runners.beam.deviations import KNOWN_DEVIATIONS, UNSUPPORTED
from fluvial.testing.conformance.catalog import all_cases
from fluvial.testing.conformance.harness import _normalise_record, run_case

CASES = all_cases()


@pytest.fixture(scope="module")
def beam_results():
    return {c.name: run_case(c, "beam") for c in CASES}


@pytest.fixture(scope="module")
def direct_results():
    return {c.name: run_case(c, "direct") for c in CASES}


def test_every_case_passes_or_is_a_listed_exception(beam_results):
    deviating = {n for n, r in beam_results.items() if r.status == "deviates"}
    unsupported = {n for n, r in beam_results.items() if r.status == "unsupported"}
    assert deviating == set(KNOWN_DEVIATIONS), {
        n: (beam_results[n].reason, beam_results[n].diff)
        for n in deviating ^ set(KNOWN_DEVIATIONS) if n in beam_results
    }
    assert unsupported == set(UNSUPPORTED), {
        n: beam_results[n].reason for n in unsupported ^ set(UNSUPPORTED)
    }
    for name in deviating:
        assert beam_results[name].reason == KNOWN_DEVIATIONS[name]
    for name in unsupported:
        assert UNSUPPORTED[name] in beam_results[name].reason
    passing = len(CASES) - len(deviating) - len(unsupported)
    assert passing >= 60


def test_listed_cases_exist():
    names = {c.name for c in CASES}
    assert set(KNOWN_DEVIATIONS) <= names
    assert set(UNSUPPORTED) <= names
    assert not set(KNOWN_DEVIATIONS) & set(UNSUPPORTED)


def _canonical(records: list[dict]) -> list[str]:
    return sorted(json.dumps(_normalise_record(r), sort_keys=True) for r in records)


def test_cases_passing_on_both_runners_produce_identical_output(beam_results, direct_results):
    compared = 0
    for name, b in beam_results.items():
        d = direct_results[name]
        if b.status != "pass" or d.status != "pass":
            continue
        assert _canonical(b.records) == _canonical(d.records), name
        assert b.counters == d.counters, name
        compared += 1
    assert compared >= 60
