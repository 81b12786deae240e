"""The conformance harness: run catalog cases on any runner and compare with the golden output.

Runner-agnostic: runners are looked up by name through :mod:`fluvial.registry` when a case runs;
nothing here imports a runner module. A case needing a capability the runner declares missing
(:mod:`fluvial.testing.conformance.capabilities`) is reported ``unsupported``, naming the
capability and the runner's reason, without being run. Each case's output PCollection is followed by a recording
ParDo that appends one JSON line per (element, window) to a file of its own in a temporary
directory, so it works on any runner, in any process::

    {"value": ..., "window": [start_s, end_s] | null, "timestamp": s,
     "pane": [timing, is_first, is_last, index, nonspeculative_index]}

>>> from fluvial.testing.conformance.harness import report_to_markdown
>>> print(report_to_markdown({"runner": "x", "cases": []}).splitlines()[0])
# Conformance: runner `x`
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from typing import Any

import attrs

from fluvial.dofn import DoFn
from fluvial.errors import UnsupportedFeatureError
from fluvial.options import PipelineOptions
from fluvial.pardo import ParDo
from fluvial.testing.conformance.capabilities import missing_capabilities, missing_for
from fluvial.testing.conformance.case import Case, Out, _norm

PASS, DEVIATES, UNSUPPORTED = "pass", "deviates", "unsupported"


@attrs.define
class CaseResult:
    """The outcome of one case on one runner."""

    name: str
    tags: tuple[str, ...]
    status: str
    reason: str = ""
    diff: str = ""
    records: list[dict] = attrs.field(factory=list)
    counters: dict[str, int] = attrs.field(factory=dict)
    missing: tuple[str, ...] = ()  # the capabilities the runner lacks (status unsupported)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "tags": list(self.tags),
            "status": self.status,
            "reason": self.reason,
            "diff": self.diff,
            "missing": list(self.missing),
        }


# -- recording -------------------------------------------------------------------------------------
def _seconds(ms: int) -> int | float:
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _window_json(w: Any) -> list | None:
    if w is None or type(w).__name__ == "GlobalWindow":
        return None
    start = getattr(w, "start_ms", None)
    end = getattr(w, "end_ms", None)
    if start is not None and end is not None:
        return [_seconds(int(start)), _seconds(int(end))]
    return [float(w.start), float(w.end)]  # pragma: no cover - foreign window types


def _pane_json(pane: Any) -> list | None:
    if pane is None:
        return None
    timing = pane.timing
    timing = getattr(timing, "value", timing)
    return [
        str(timing),
        bool(pane.is_first),
        bool(pane.is_last),
        int(pane.index),
        int(pane.nonspeculative_index),
    ]


class _Recorder(DoFn):
    """Appends one JSON line per (element, window) to a file of its own under ``directory``."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._file: Any = None

    def __getstate__(self) -> dict:
        return {"directory": self.directory, "_file": None}

    def __setstate__(self, state: dict) -> None:
        self.directory = state["directory"]
        self._file = None

    def _open(self) -> None:
        if self._file is None:
            name = f"rec-{os.getpid()}-{uuid.uuid4().hex}.jsonl"
            self._file = open(os.path.join(self.directory, name), "a", encoding="utf-8")  # noqa: SIM115

    def setup(self) -> None:
        self._open()

    def start_bundle(self) -> None:
        self._open()

    def process(self, x, w=DoFn.WindowParam, pane=DoFn.PaneInfoParam, ts=DoFn.TimestampParam):
        self._open()
        rec = {
            "value": x,
            "window": _window_json(w),
            "timestamp": _seconds(int(ts.millis)) if ts is not None else None,
            "pane": _pane_json(pane),
        }
        self._file.write(json.dumps(rec, default=repr) + "\n")
        return []

    def finish_bundle(self) -> None:
        if self._file is not None:
            self._file.flush()

    def teardown(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _read_records(directory: str) -> list[dict]:
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "rec-*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    return out


# -- comparison ------------------------------------------------------------------------------------
def _normalise_record(r: dict) -> dict:
    return {
        "value": _norm(r.get("value")),
        "window": None if r.get("window") is None else [_norm(v) for v in r["window"]],
        "timestamp": None if r.get("timestamp") is None else _norm(r["timestamp"]),
        "pane": None if r.get("pane") is None else list(r["pane"]),
    }


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) < 1e-9
        except (TypeError, ValueError):
            return False
    return a == b


def _matches(exp: dict, act: dict) -> bool:
    if exp["value"] != act["value"] or exp["window"] != act["window"]:
        return False
    if exp["timestamp"] is not None and (
        act["timestamp"] is None or not _close(exp["timestamp"], act["timestamp"])
    ):
        return False
    if exp["pane"] is not None and exp["pane"] != act["pane"]:
        return False
    return True


def compare(expected: Sequence[Out], records: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """Multiset comparison with wildcards (an expected ``timestamp``/``pane`` of None matches
    anything). Returns (missing expected records, unexpected actual records)."""
    exp = [e.normalized() for e in expected]
    act = [_normalise_record(r) for r in records]
    # bipartite matching (augmenting paths); sizes are small
    match_of_act: dict[int, int] = {}
    adj = [[j for j, a in enumerate(act) if _matches(e, a)] for e in exp]

    def augment(i: int, seen: set[int]) -> bool:
        for j in adj[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in match_of_act or augment(match_of_act[j], seen):
                match_of_act[j] = i
                return True
        return False

    for i in range(len(exp)):
        augment(i, set())
    matched_exp = set(match_of_act.values())
    missing = [exp[i] for i in range(len(exp)) if i not in matched_exp]
    unexpected = [act[j] for j in range(len(act)) if j not in match_of_act]
    return missing, unexpected


def _fmt(rec: dict) -> str:
    parts = [f"value={json.dumps(rec['value'], default=repr)}"]
    parts.append(f"window={rec['window']}")
    parts.append(f"ts={rec['timestamp'] if rec['timestamp'] is not None else '*'}")
    parts.append(f"pane={rec['pane'] if rec['pane'] is not None else '*'}")
    return " ".join(parts)


def format_diff(
    missing: Sequence[dict],
    unexpected: Sequence[dict],
    counter_diffs: Sequence[tuple[str, int, int]] = (),
) -> str:
    lines = []
    if missing:
        lines.append("missing (expected, not produced):")
        lines.extend(f"  - {_fmt(r)}" for r in missing)
    if unexpected:
        lines.append("unexpected (produced, not expected):")
        lines.extend(f"  + {_fmt(r)}" for r in unexpected)
    for name, want, got in counter_diffs:
        lines.append(f"counter {name}: expected {want}, got {got}")
    return "\n".join(lines)


def _unsupported_in_chain(e: BaseException) -> UnsupportedFeatureError | None:
    seen = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, UnsupportedFeatureError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _known_deviation(runner_obj: Any, name: str) -> str | None:
    known = getattr(runner_obj, "known_deviations", None)
    if isinstance(known, dict):
        v = known.get(name)
        if v:
            return str(v)
    return None


def _lacking(runner_obj: Any, runner: str, case: Case) -> CaseResult | None:
    """The unsupported result of ``case`` if the runner lacks a capability it needs."""
    lacking = missing_for(runner_obj, case.tags)
    if not lacking:
        return None
    name = getattr(runner_obj, "name", runner)
    reason = "; ".join(f"runner '{name}' lacks capability '{tag}': {why}" for tag, why in lacking)
    return CaseResult(case.name, tuple(case.tags), UNSUPPORTED, reason,
                      missing=tuple(tag for tag, _ in lacking))


# -- running ---------------------------------------------------------------------------------------
def run_case(case: Case, runner: str, workdir: str | None = None,
             extra_args: Sequence[str] = ()) -> CaseResult:
    """Run ``case`` on the runner registered as ``runner`` and compare with its golden output;
    a case needing a capability the runner lacks is ``unsupported`` and does not run.
    ``extra_args`` are runner flags (``--name=value``) for the run, e.g. to run the case on
    another path of the same runner."""
    from fluvial.pipeline import Pipeline
    from fluvial.registry import get_runner

    runner_obj = get_runner(runner)
    lacking = _lacking(runner_obj, runner, case)
    if lacking is not None:
        return lacking
    own_dir = workdir is None
    base = tempfile.mkdtemp(prefix=f"fluvial-conf-{case.name}-") if own_dir else workdir
    assert base is not None
    rec_dir = os.path.join(base, f"records-{case.name}-{uuid.uuid4().hex[:8]}")
    os.makedirs(rec_dir, exist_ok=True)
    tags = tuple(case.tags)
    try:
        try:
            opts = PipelineOptions(runner=runner, extra_args=tuple(extra_args))
            p = Pipeline(options=opts, runner=runner_obj)
            out = case.build(p)
            _ = out | "ConformanceRecord" >> ParDo(_Recorder(rec_dir))
            result = p.run()
            result.wait_until_finish()
        except Exception as e:  # noqa: BLE001 - every failure is a result
            unsupported = _unsupported_in_chain(e)
            if unsupported is not None:
                return CaseResult(case.name, tags, UNSUPPORTED, str(unsupported))
            known = _known_deviation(runner_obj, case.name)
            text = f"{type(e).__name__}: {e}"
            return CaseResult(case.name, tags, DEVIATES, known or text, "" if not known else text)

        records = _read_records(rec_dir)
        missing, unexpected = compare(case.expected, records)
        counter_diffs = []
        got_counters: dict[str, int] = {}
        if case.counters:
            q = result.metrics().query()
            for name, want in case.counters:
                got = int(q.counter(name))
                got_counters[name] = got
                if got != want:
                    counter_diffs.append((name, want, got))
        if not missing and not unexpected and not counter_diffs:
            return CaseResult(case.name, tags, PASS, "", "", records, got_counters)
        diff = format_diff(missing, unexpected, counter_diffs)
        summary = []
        if missing or unexpected:
            summary.append(f"{len(missing)} missing, {len(unexpected)} unexpected record(s)")
        summary.extend(f"counter {n}: expected {w}, got {g}" for n, w, g in counter_diffs)
        reason = _known_deviation(runner_obj, case.name) or "; ".join(summary)
        return CaseResult(case.name, tags, DEVIATES, reason, diff, records, got_counters)
    finally:
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)


def run_catalog(runner: str, names: list[str] | None = None) -> dict:
    """Run the catalog (or the named cases) on ``runner``; returns the JSON-able report
    ``{"runner", "missing_capabilities": {tag: reason}, "cases": [{"name", "tags", "status",
    "reason", "diff", "missing"}], "summary": {"pass", "deviates", "unsupported"}}``."""
    from fluvial.registry import get_runner
    from fluvial.testing.conformance.catalog import all_cases, get_case

    cases = all_cases() if names is None else [get_case(n) for n in names]
    results = [run_case(c, runner).to_dict() for c in cases]
    summary = {PASS: 0, DEVIATES: 0, UNSUPPORTED: 0}
    for r in results:
        summary[r["status"]] += 1
    return {
        "runner": runner,
        "missing_capabilities": missing_capabilities(get_runner(runner)),
        "cases": results,
        "summary": summary,
    }


def report_to_markdown(report: dict) -> str:
    """The capability matrix of one runner's report (see
    :func:`fluvial.testing.conformance.matrix.capability_matrix`)."""
    from fluvial.testing.conformance.matrix import capability_matrix

    return capability_matrix([report], title=f"Conformance: runner `{report.get('runner', '?')}`")
