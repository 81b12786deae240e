"""Every ```python block of docs/concepts.md runs on the direct runner without error."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "concepts.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)


def _line_of(block: str) -> int:
    text = DOC.read_text(encoding="utf-8")
    return text[: text.index(block)].count("\n") + 1


def test_doc_has_examples():
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("code", BLOCKS, ids=[f"line{_line_of(b)}" for b in BLOCKS])
def test_block_runs(code, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["concepts.md"])  # pipelines parse options from sys.argv
    monkeypatch.chdir(tmp_path)  # blocks may write files
    exec(compile(code, f"{DOC}:{_line_of(code)}", "exec"), {"__name__": "__docs__"})
