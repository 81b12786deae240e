"""The conformance catalog on the direct runner: every case must pass."""

from __future__ import annotations

import attrs
import pytest

from fluvial.testing.conformance.case import Out
from fluvial.testing.conformance.catalog import all_cases, get_case
from fluvial.testing.conformance.harness import report_to_markdown, run_case, run_catalog

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_passes_on_direct(case):
    result = run_case(case, "direct")
    assert result.status == "pass", (
        f"{case.name}: {result.status}: {result.reason}\n{result.diff}\n"
        f"derivation: {case.description}"
    )


def test_catalog_shape():
    names = [c.name for c in CASES]
    assert len(CASES) >= 40
    assert len(set(names)) == len(names)
    assert names == [c.name for c in all_cases()]  # stable order
    for c in CASES:
        assert c.tags, c.name
        assert c.description, c.name
        assert c.expected or "empty" in c.description.lower(), f"{c.name} has no expected output"
        assert get_case(c.name) is not None


def test_get_case_unknown_name():
    with pytest.raises(KeyError, match="did you mean"):
        get_case("fixed_default_gbkk")


def test_harness_detects_a_wrong_golden():
    case = get_case("fixed_default_gbk")
    wrong = attrs.evolve(
        case,
        expected=(
            *case.expected[:-1],
            Out(["a", [3]], (60, 120), ("LATE", False, True, 1, 1), 119.999),
        ),
        counters=(("dropped_due_to_lateness", 5),),
    )
    result = run_case(wrong, "direct")
    assert result.status == "deviates"
    assert "missing" in result.diff and "unexpected" in result.diff
    assert "dropped_due_to_lateness: expected 5, got 0" in result.diff


def test_harness_reports_pipeline_errors_as_deviations():
    def build(p):
        raise RuntimeError("boom")

    case = attrs.evolve(get_case("fixed_default_gbk"), build=build)
    result = run_case(case, "direct")
    assert result.status == "deviates"
    assert "boom" in result.reason


def test_run_catalog_report_shape_and_markdown():
    report = run_catalog("direct", ["fixed_default_gbk", "combiner_sum"])
    assert set(report) == {"runner", "missing_capabilities", "cases", "summary"}
    assert report["runner"] == "direct"
    assert report["missing_capabilities"] == {}
    assert [c["name"] for c in report["cases"]] == ["fixed_default_gbk", "combiner_sum"]
    for c in report["cases"]:
        assert set(c) == {"name", "tags", "status", "reason", "diff", "missing"}
    assert report["summary"] == {"pass": 2, "deviates": 0, "unsupported": 0}
    md = report_to_markdown(report)
    assert md.startswith("# Conformance: runner `direct`\n")
    assert "| direct | 2 | 0 | 0 |" in md
    assert "| fixed_default_gbk | test_stream, fixed_windows, group_by_key | pass |" in md
    assert "| combiner_sum | test_stream, fixed_windows, combine_per_key | pass |" in md


class _FakeRunner:
    """A runner that cannot run anything, or produces nothing, for harness tests."""

    name = "fake"

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.known_deviations = {"combiner_sum": "fake runner loses everything"}
        self.missing_capabilities = (
            {"combine_per_key": "no combiners here"} if mode == "lacking" else {}
        )
        self.runs = 0

    def run_pipeline(self, pipeline, options):
        from fluvial.errors import UnsupportedFeatureError
        from fluvial.metrics import MetricsContainer
        from fluvial.result import PipelineResult, PipelineState

        self.runs += 1
        if self.mode == "unsupported":
            raise UnsupportedFeatureError("fake", "CombinePerKey", "no combiners here")
        return PipelineResult(PipelineState.DONE, MetricsContainer())


@pytest.mark.parametrize("mode", ["unsupported", "empty", "lacking"])
def test_harness_statuses_with_a_fake_runner(monkeypatch, mode):
    import fluvial.registry

    fake = _FakeRunner(mode)
    monkeypatch.setattr(fluvial.registry, "get_runner", lambda name, **kw: fake)
    result = run_case(get_case("combiner_sum"), "fake")
    if mode == "unsupported":
        assert result.status == "unsupported"
        assert "no combiners here" in result.reason
        assert result.missing == ()
    elif mode == "lacking":  # a declared missing capability: reported, never run
        assert result.status == "unsupported"
        assert result.reason == "runner 'fake' lacks capability 'combine_per_key': no combiners here"
        assert result.missing == ("combine_per_key",)
        assert fake.runs == 0
    else:
        assert result.status == "deviates"
        assert result.reason == "fake runner loses everything"
        assert result.diff.count("  - ") == 2
    if mode != "lacking":
        assert fake.runs == 1
