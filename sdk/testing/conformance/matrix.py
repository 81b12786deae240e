"""The capability matrix: conformance reports of several runners side by side, in markdown.

A report is what :func:`~fluvial.testing.conformance.harness.run_catalog` returns (and
``fluvial conformance --runner R --format json`` writes). :func:`capability_matrix` gives

* a summary per runner (pass / deviate / unsupported),
* a table per capability tag: how many of the cases carrying it pass on each runner,
* a table per case: its tags and its status on each runner, with the reason of every status
  that is not a pass as a numbered note below the table.

Rows are the catalog's cases that some report holds, in catalog order, with the tags the
catalog gives them now; a case a report does not hold shows as ``-``.

Regenerate the matrix in docs/runners.md from runner names (run here) and stored reports::

    fluvial conformance --runner beam --format json --output docs/conformance/beam.json
    python -m fluvial.testing.conformance.matrix --docs docs/runners.md direct docs/conformance/beam.json

>>> report = {"runner": "x", "cases": [{"name": "combiner_sum", "status": "pass", "reason": ""}]}
>>> print(capability_matrix([report]).splitlines()[4])
| x | 1 | 0 | 0 |
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from fluvial.testing.conformance.capabilities import CAPABILITIES
from fluvial.testing.conformance.harness import DEVIATES, PASS, UNSUPPORTED

BEGIN = "<!-- conformance-matrix:begin -->"
END = "<!-- conformance-matrix:end -->"


def _cell(text: Any) -> str:
    return str(text or "").replace("|", "\\|").replace("\n", " ").strip()


def capability_matrix(
    reports: Sequence[dict], title: str = "Conformance", level: int = 1, cases: Any = None
) -> str:
    """The markdown matrix of ``reports`` (one per runner, in column order). ``level`` is the
    heading level of ``title``; ``cases`` defaults to the catalog."""
    if cases is None:
        from fluvial.testing.conformance.catalog import all_cases

        cases = all_cases()
    runners = [r.get("runner", "?") for r in reports]
    results = [{c["name"]: c for c in r.get("cases", [])} for r in reports]
    rows = [c for c in cases if any(c.name in res for res in results)]
    h = "#" * level

    notes: dict[tuple[str, str, str], int] = {}

    def status_cell(i: int, name: str) -> str:
        r = results[i].get(name)
        if r is None:
            return "-"
        status = r["status"]
        if status == PASS:
            return PASS
        key = (runners[i], status, r.get("reason") or "")
        n = notes.setdefault(key, len(notes) + 1)
        return f"{status} [{n}]"

    lines = [f"{h} {title}", "", "| runner | pass | deviates | unsupported |",
             "| --- | --- | --- | --- |"]
    for i, runner in enumerate(runners):
        counts = {PASS: 0, DEVIATES: 0, UNSUPPORTED: 0}
        for c in rows:
            r = results[i].get(c.name)
            if r is not None:
                counts[r["status"]] += 1
        lines.append(f"| {runner} | {counts[PASS]} | {counts[DEVIATES]} | {counts[UNSUPPORTED]} |")
    lines.append("")

    lines += [f"{h}# By capability", "",
              "Cases carrying the tag that pass, out of the cases carrying it; `missing`: the "
              "runner declares it lacks the capability.", "",
              "| capability | meaning | cases | " + " | ".join(runners) + " |",
              "| --- | --- | --- | " + " | ".join("---" for _ in runners) + " |"]
    for tag, meaning in CAPABILITIES.items():
        tagged = [c for c in rows if tag in c.tags]
        if not tagged:
            continue
        cells = []
        for i, report in enumerate(reports):
            passing = sum(1 for c in tagged if results[i].get(c.name, {}).get("status") == PASS)
            lacks = tag in (report.get("missing_capabilities") or {})
            cells.append(f"{passing}/{len(tagged)}" + (", missing" if lacks else ""))
        lines.append(f"| {tag} | {_cell(meaning)} | {len(tagged)} | " + " | ".join(cells) + " |")
    lines.append("")

    lines += [f"{h}# By case", "",
              "| case | tags | " + " | ".join(runners) + " |",
              "| --- | --- | " + " | ".join("---" for _ in runners) + " |"]
    for c in rows:
        cells = [status_cell(i, c.name) for i in range(len(runners))]
        lines.append(f"| {c.name} | {', '.join(c.tags)} | " + " | ".join(cells) + " |")
    lines.append("")

    if notes:
        lines += [f"{h}# Reasons", ""]
        for (runner, status, reason), n in notes.items():
            lines.append(f"{n}. **{runner}**, {status}: {_cell(reason)}")
        lines.append("")
    return "\n".join(lines)


def replace_block(text: str, matrix: str) -> str:
    """``text`` with the part between the BEGIN and END markers replaced by ``matrix``."""
    try:
        start = text.index(BEGIN) + len(BEGIN)
        stop = text.index(END, start)
    except ValueError:
        raise ValueError(f"no {BEGIN} ... {END} block to replace") from None
    return text[:start] + "\n" + matrix + text[stop:]


def block_of(text: str) -> str:
    """The matrix between the BEGIN and END markers of ``text``."""
    start = text.index(BEGIN) + len(BEGIN)
    return text[start : text.index(END, start)].strip("\n") + "\n"


def load_report(source: str) -> dict:
    """The report in JSON file ``source``, or, if ``source`` names no file, the report of the
    catalog run now on the runner called ``source``."""
    if os.path.exists(source):
        with open(source, encoding="utf-8") as f:
            return json.load(f)
    from fluvial.testing.conformance.harness import run_catalog

    return run_catalog(source)


DOCS_TITLE, DOCS_LEVEL = "Conformance results", 3  # the matrix's title inside docs/runners.md


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fluvial.testing.conformance.matrix [--docs PATH | --output PATH] SOURCE...``:
    each SOURCE is a JSON report file or a runner name to run the catalog on now."""
    ap = argparse.ArgumentParser(prog="python -m fluvial.testing.conformance.matrix")
    ap.add_argument("sources", nargs="+", help="report.json files or runner names")
    ap.add_argument("--docs", help="replace the matrix block of this markdown file")
    ap.add_argument("--output", help="write the matrix to this file instead of stdout")
    args = ap.parse_args(argv)
    reports = [load_report(s) for s in args.sources]
    if args.docs:
        with open(args.docs, encoding="utf-8") as f:
            text = f.read()
        text = replace_block(text, capability_matrix(reports, DOCS_TITLE, DOCS_LEVEL))
        with open(args.docs, "w", encoding="utf-8") as f:
            f.write(text)
        return 0
    matrix = capability_matrix(reports)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(matrix)
    else:
        sys.stdout.write(matrix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
