"""The README's first pipeline "runs the same on --runner beam": run as written, with
``--runner beam`` on the command line, it prints what the README shows below it (the direct
runner's run of the same block is checked by tests/unit/test_docs_examples.py)."""

from __future__ import annotations

import sys

from doc_blocks import BLOCKS, README, run_block


def test_readme_pipeline_prints_the_same_on_beam(monkeypatch, tmp_path, capsys):
    block = next(b for b in BLOCKS if b.path == README)
    assert "--runner direct|beam|flink" in block.code
    monkeypatch.setattr(sys, "argv", ["README.md", "--runner", "beam"])
    monkeypatch.chdir(tmp_path)
    run_block(block)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("(")]
    assert sorted(printed) == sorted(block.output) == ["('alice', 160.0)", "('bob', 9800.0)"]
