"""The conformance catalog on the Flink runner, as far as it goes today: every case whose
pipeline uses only stateless primitives passes, with output identical to the direct runner's;
every other case (GroupByKey, CombinePerKey, stateful ParDo) is reported unsupported, naming the
capability the runner declares missing (pending), without being run."""

from __future__ import annotations

import json

import pytest

import fluvial as fl
from fluvial.combine import CombinePerKey
from fluvial.gbk import GroupByKey
from fluvial.pardo import ParDo
from fluvial.runners.flink.capabilities import MISSING_CAPABILITIES
from fluvial.testing.conformance.catalog import all_cases
from fluvial.testing.conformance.harness import _normalise_record, run_case

CASES = all_cases()


def _needs_pending(case) -> bool:
    """Whether the case's pipeline has a primitive the Flink runner does not translate yet."""
    p = fl.Pipeline(argv=[])
    case.build(p)
    for n in p.primitives():
        t = n.transform
        if isinstance(t, (GroupByKey, CombinePerKey)):
            return True
        if isinstance(t, ParDo) and t.signature.is_stateful:
            return True
    return False


STATELESS = [c for c in CASES if not _needs_pending(c)]


@pytest.fixture(scope="module")
def flink_results():
    return {c.name: run_case(c, "flink") for c in CASES}


def test_stateless_cases_pass_and_the_rest_are_pending(flink_results):
    stateless = {c.name for c in STATELESS}
    assert len(stateless) >= 5
    for c in CASES:
        r = flink_results[c.name]
        # the tags say the same as the pipeline: a case is stateless iff it needs none of the
        # capabilities the runner lacks
        assert (c.name in stateless) == (not set(c.tags) & set(MISSING_CAPABILITIES)), c.name
        if c.name in stateless:
            assert r.status == "pass", (c.name, r.reason, r.diff)
        else:
            assert r.status == "unsupported", (c.name, r.status, r.reason, r.diff)
            assert set(r.missing) == set(c.tags) & set(MISSING_CAPABILITIES)
            assert "lacks capability" in r.reason and "pending" in r.reason


def _canonical(records: list[dict]) -> list[str]:
    return sorted(json.dumps(_normalise_record(r), sort_keys=True) for r in records)


def test_passing_cases_match_the_direct_runner(flink_results):
    for c in STATELESS:
        d = run_case(c, "direct")
        assert d.status == "pass", c.name
        assert _canonical(flink_results[c.name].records) == _canonical(d.records), c.name
        assert flink_results[c.name].counters == d.counters, c.name
