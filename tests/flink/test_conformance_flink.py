"""The conformance catalog on the Flink runner, as far as it goes today: every case whose
pipeline uses only stateless primitives passes, with output identical to the direct runner's;
every other case (GroupByKey, CombinePerKey, stateful ParDo, side inputs) is reported unsupported, naming the
capability the runner declares missing (pending), without being run; and the stored report
behind the docs' capability matrix is current."""

from __future__ import annotations

import json
import pathlib

from cross_runner import assert_identical_where_both_pass, catalog_results

import fluvial as fl
from fluvial.combine import CombinePerKey
from fluvial.gbk import GroupByKey
from fluvial.pardo import ParDo
from fluvial.runners.flink.capabilities import MISSING_CAPABILITIES
from fluvial.testing.conformance.catalog import all_cases

CASES = all_cases()
STORED_REPORT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "conformance" / "flink.json"


def _needs_pending(case) -> bool:
    """Whether the case's pipeline has a primitive the Flink runner does not translate yet."""
    p = fl.Pipeline(argv=[])
    case.build(p)
    for n in p.primitives():
        t = n.transform
        if isinstance(t, (GroupByKey, CombinePerKey)):
            return True
        if isinstance(t, ParDo) and (t.signature.is_stateful or t.side_inputs):
            return True
    return False


STATELESS = {c.name for c in CASES if not _needs_pending(c)}


def test_stateless_cases_pass_and_the_rest_are_pending():
    results = catalog_results("flink")
    assert len(STATELESS) >= 5
    for c in CASES:
        r = results[c.name]
        # the tags say what the pipeline says: a case is stateless iff it needs none of the
        # capabilities the runner lacks
        assert (c.name in STATELESS) == (not set(c.tags) & set(MISSING_CAPABILITIES)), c.name
        if c.name in STATELESS:
            assert r.status == "pass", (c.name, r.reason, r.diff)
        else:
            assert r.status == "unsupported", (c.name, r.status, r.reason, r.diff)
            assert set(r.missing) == set(c.tags) & set(MISSING_CAPABILITIES)
            assert "lacks capability" in r.reason and "pending" in r.reason


def test_passing_cases_match_the_direct_runner():
    assert assert_identical_where_both_pass("direct", "flink") == len(STATELESS)


def test_stored_report_behind_the_docs_matrix_is_current():
    stored = json.loads(STORED_REPORT.read_text(encoding="utf-8"))
    assert stored["runner"] == "flink"
    assert stored["missing_capabilities"] == MISSING_CAPABILITIES
    got = {c["name"]: (c["status"], c["reason"]) for c in stored["cases"]}
    want = {n: (r.status, r.reason) for n, r in catalog_results("flink").items()}
    assert got == want, "regenerate docs/conformance/flink.json (see docs/runners.md)"
