"""The generated capability matrix: its shape on hand-made reports, and the matrix in
docs/runners.md is current (the direct column run now, the other runners from their stored
reports; the Beam and Flink tests check their stored reports against their runners)."""

from __future__ import annotations

import json
import pathlib

import pytest

from fluvial.testing.conformance.catalog import get_case
from fluvial.testing.conformance.harness import run_catalog
from fluvial.testing.conformance.matrix import (
    DOCS_LEVEL,
    DOCS_TITLE,
    block_of,
    capability_matrix,
    main,
    replace_block,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "runners.md"
STORED = {name: ROOT / "docs" / "conformance" / f"{name}.json" for name in ("beam", "flink")}


def test_docs_matrix_is_current():
    reports = [run_catalog("direct")]
    reports += [json.loads(path.read_text(encoding="utf-8")) for path in STORED.values()]
    want = capability_matrix(reports, DOCS_TITLE, DOCS_LEVEL)
    assert block_of(DOCS.read_text(encoding="utf-8")) == want, (
        "docs/runners.md's matrix is stale; regenerate it with the command given there"
    )


def _case(name, status, reason=""):
    return {"name": name, "status": status, "reason": reason}


REPORTS = [
    {"runner": "a", "cases": [_case("combiner_sum", "pass"), _case("combiner_max", "pass"),
                              _case("late_output_gbk_main", "pass")]},
    {"runner": "b", "missing_capabilities": {"late_output": "no hook"},
     "cases": [_case("combiner_sum", "deviates", "off by one"),
               _case("combiner_max", "deviates", "off by one"),
               _case("late_output_gbk_main", "unsupported", "lacks late_output: no hook")]},
]


def test_matrix_sections_counts_and_shared_reasons():
    lines = capability_matrix(REPORTS).splitlines()
    assert lines[:6] == [
        "# Conformance", "",
        "| runner | pass | deviates | unsupported |", "| --- | --- | --- | --- |",
        "| a | 3 | 0 | 0 |", "| b | 0 | 2 | 1 |",
    ]
    tags = ", ".join(get_case("late_output_gbk_main").tags)
    # rows in catalog order (lateness cases before combiners); notes numbered as they first
    # appear, one per distinct (runner, reason): both deviations share note 2
    assert f"| late_output_gbk_main | {tags} | pass | unsupported [1] |" in lines
    assert "| combiner_sum | test_stream, fixed_windows, combine_per_key | pass | deviates [2] |" \
        in lines
    assert "| combiner_max | test_stream, fixed_windows, combine_per_key | pass | deviates [2] |" \
        in lines
    assert lines[-2:] == [
        "1. **b**, unsupported: lacks late_output: no hook",
        "2. **b**, deviates: off by one",
    ]
    meaning = "with_late_output(): elements dropped as late go to an output of their own"
    assert f"| late_output | {meaning} | 1 | 1/1 | 0/1, missing |" in lines
    assert any(line.startswith("| combine_per_key | ") and line.endswith("| 2 | 2/2 | 0/2 |")
               for line in lines)
    assert not any(line.startswith("| merging_windows |") for line in lines)  # no case has it


def test_a_case_missing_from_a_report_shows_as_a_dash():
    reports = [REPORTS[0], {"runner": "c", "cases": [_case("combiner_sum", "pass")]}]
    lines = capability_matrix(reports).splitlines()
    assert "| combiner_max | test_stream, fixed_windows, combine_per_key | pass | - |" in lines


def test_main_rewrites_only_the_block(tmp_path):
    report = tmp_path / "b.json"
    report.write_text(json.dumps(REPORTS[1]), encoding="utf-8")
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- conformance-matrix:begin -->\nold\n"
                   "<!-- conformance-matrix:end -->\nafter\n", encoding="utf-8")
    assert main(["--docs", str(doc), str(report)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("before\n<!-- conformance-matrix:begin -->\n### Conformance results\n")
    assert text.endswith("<!-- conformance-matrix:end -->\nafter\n")
    assert "old" not in text
    assert block_of(text) == capability_matrix([REPORTS[1]], DOCS_TITLE, DOCS_LEVEL)


def test_replace_block_needs_the_markers():
    with pytest.raises(ValueError, match="conformance-matrix:begin"):
        replace_block("no markers here", "x")
