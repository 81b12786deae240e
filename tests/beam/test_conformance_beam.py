"""The conformance catalog on the Beam runner: every case passes except the listed deviations,
whose reasons are exactly what the runner reports, and the cases needing a capability the runner
lacks, which are reported unsupported without running; the stored report behind the docs'
matrix is current; and every case passing on two runners gives identical normalised output."""

from __future__ import annotations

import itertools
import json
import pathlib

import pytest
from cross_runner import assert_identical_where_both_pass, catalog_results

from fluvial.runners.beam.capabilities import MISSING_CAPABILITIES
from fluvial.runners.beam.deviations import KNOWN_DEVIATIONS
from fluvial.testing.conformance.catalog import all_cases

CASES = all_cases()
STORED_REPORT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "conformance" / "beam.json"

# the cases Beam cannot run, written out so that a change of tags or capabilities shows here
UNSUPPORTED = {
    "late_output_gbk_main": "late_output",
    "late_output_gbk_late": "late_output",
    "late_output_combine_main": "late_output",
    "late_output_combine_late": "late_output",
    "value_state_ttl_processing_time": "processing_time_ttl",
    "combining_state_ttl_processing_time": "processing_time_ttl",
}

# runners compared case by case; add one here by name to compare it with the others
RUNNERS = ("direct", "beam")


@pytest.fixture(scope="module")
def beam_results():
    return catalog_results("beam")


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
    passing = len(CASES) - len(deviating) - len(unsupported)
    assert passing >= 70


def test_unsupported_cases_name_the_missing_capability_and_do_not_run(beam_results):
    for name, tag in UNSUPPORTED.items():
        r = beam_results[name]
        assert r.missing == (tag,)
        assert r.reason == f"runner 'beam' lacks capability '{tag}': {MISSING_CAPABILITIES[tag]}"
        assert r.records == []


def test_unsupported_is_exactly_the_cases_tagged_with_a_missing_capability():
    tagged = {c.name for c in CASES if set(c.tags) & set(MISSING_CAPABILITIES)}
    assert tagged == set(UNSUPPORTED)


def test_listed_cases_exist():
    names = {c.name for c in CASES}
    assert set(KNOWN_DEVIATIONS) <= names
    assert not set(KNOWN_DEVIATIONS) & set(UNSUPPORTED)


def test_stored_report_behind_the_docs_matrix_is_current(beam_results):
    stored = json.loads(STORED_REPORT.read_text(encoding="utf-8"))
    assert stored["runner"] == "beam"
    assert stored["missing_capabilities"] == MISSING_CAPABILITIES
    got = {c["name"]: (c["status"], c["reason"]) for c in stored["cases"]}
    want = {n: (r.status, r.reason) for n, r in beam_results.items()}
    assert got == want, "regenerate docs/conformance/beam.json (see docs/runners.md)"


@pytest.mark.parametrize("a,b", list(itertools.combinations(RUNNERS, 2)),
                         ids=lambda x: x if isinstance(x, str) else None)
def test_cases_passing_on_both_runners_produce_identical_output(a, b):
    assert assert_identical_where_both_pass(a, b) >= 60
