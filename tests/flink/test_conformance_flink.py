"""The conformance catalog on the Flink runner: every case passes except the cases needing a
capability the runner lacks (none), reported unsupported without running, and the listed
deviations (none) — the cases of watermark holds (a grouping downstream of another) pass since
the runner holds the watermark after each grouping; the stored report behind the docs' matrix is
current; every case passing on the direct runner and on Flink gives identical normalised output
(tests/beam compares direct with Beam the same way, so the three runners agree wherever all
three pass); and the cases that take the Java combine path give the same records through the
window driver in Python (``--flink-java-combine off``)."""

from __future__ import annotations

import json
import pathlib

import pytest
from cross_runner import assert_identical_where_both_pass, canonical, catalog_results

import fluvial as fl
from fluvial.combine import CombinePerKey
from fluvial.runners.flink.capabilities import MISSING_CAPABILITIES
from fluvial.runners.flink.combine_java import java_kind
from fluvial.runners.flink.deviations import KNOWN_DEVIATIONS
from fluvial.testing.conformance.catalog import all_cases
from fluvial.testing.conformance.harness import run_case
from fluvial.windowinto import WindowInto

CASES = all_cases()
STORED_REPORT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "conformance" / "flink.json"

# the cases Flink cannot run, written out so that a change of tags or capabilities shows here
UNSUPPORTED: dict[str, str] = {}
# the cases that need the watermark held after a grouping (they were unsupported before)
HOLD_CASES = {
    "two_stage_end_of_window",
    "two_stage_earliest",
    "timestamp_combiner_earliest_behind_output_watermark_downstream",
}


@pytest.fixture(scope="module")
def flink_results():
    return catalog_results("flink")


def test_every_case_passes_or_is_a_listed_exception(flink_results):
    deviating = {n for n, r in flink_results.items() if r.status == "deviates"}
    unsupported = {n for n, r in flink_results.items() if r.status == "unsupported"}
    assert deviating == set(KNOWN_DEVIATIONS), {
        n: (flink_results[n].reason, flink_results[n].diff)
        for n in deviating ^ set(KNOWN_DEVIATIONS) if n in flink_results
    }
    assert unsupported == set(UNSUPPORTED), {
        n: flink_results[n].reason for n in unsupported ^ set(UNSUPPORTED)
    }
    passing = len(CASES) - len(deviating) - len(unsupported)
    assert passing >= 0.9 * len(CASES)


def test_unsupported_is_exactly_the_cases_tagged_with_a_missing_capability():
    tagged = {c.name for c in CASES if set(c.tags) & set(MISSING_CAPABILITIES)}
    assert tagged == set(UNSUPPORTED)


def test_the_watermark_hold_cases_pass(flink_results):
    assert HOLD_CASES == {c.name for c in CASES if "watermark_holds" in c.tags}
    for name in HOLD_CASES:
        r = flink_results[name]
        assert (r.status, r.missing) == ("pass", ()), (name, r.reason, r.diff)


def test_stored_report_behind_the_docs_matrix_is_current(flink_results):
    stored = json.loads(STORED_REPORT.read_text(encoding="utf-8"))
    assert stored["runner"] == "flink"
    assert stored["missing_capabilities"] == MISSING_CAPABILITIES
    got = {c["name"]: (c["status"], c["reason"]) for c in stored["cases"]}
    want = {n: (r.status, r.reason) for n, r in flink_results.items()}
    assert got == want, "regenerate docs/conformance/flink.json (see docs/runners.md)"


def test_passing_cases_match_the_direct_runner(flink_results):
    passing = sum(r.status == "pass" for r in flink_results.values())
    assert assert_identical_where_both_pass("direct", "flink") == passing


def _on_java_path(case) -> bool:
    p = fl.Pipeline(argv=[])
    case.build(p)
    nodes = list(p.primitives())
    for n in nodes:
        if not isinstance(n.transform, WindowInto):
            continue
        out = n.outputs[None]
        cons = [m for m in nodes if any(pc is out for pc in m.inputs)]
        if (len(cons) == 1 and isinstance(cons[0].transform, CombinePerKey)
                and not cons[0].transform.late_output
                and java_kind(out.windowing, cons[0].transform.combine_fn) is not None):
            return True
    return False


def test_java_combine_cases_give_the_same_records_through_the_window_driver(flink_results):
    java = [c for c in CASES if _on_java_path(c) and flink_results[c.name].status == "pass"]
    assert len(java) >= 10  # sum, count, min, max, mean over fixed and sliding windows, late data
    for case in java:
        r = run_case(case, "flink", extra_args=("--flink-java-combine=off",))
        assert r.status == "pass", (case.name, r.reason, r.diff)
        assert canonical(r.records) == canonical(flink_results[case.name].records), case.name
        assert r.counters == flink_results[case.name].counters, case.name
