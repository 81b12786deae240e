"""Every ```python block of README.md and docs/*.md runs on the direct runner without error, as
``__main__`` (a block's ``if __name__ == "__main__":`` part runs too), in a fresh working
directory, with ``sys.argv`` holding the file's name only. The markers are described in
``tests/support/doc_blocks.py``:

- a block marked ``<!-- needs-broker -->`` runs against the test session's local broker (the
  ``kafka_broker`` fixture; its address replaces ``127.0.0.1:9092``, which the block must use)
  and is marked ``broker``;
- a block followed by an ``<!-- output -->`` block must print exactly those lines, in any order.

A block that is not meant to run as Python (a shell session, an error message, a JSON record)
uses another fence (```bash, ```text, ```json or a bare one).
"""

from __future__ import annotations

import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from doc_blocks import BLOCKS, DOC_ADDRESS, DOC_FILES, DOCS, README, blocks_of, run_block  # noqa: E402


def _params():
    for b in BLOCKS:
        yield pytest.param(b, marks=[pytest.mark.broker] if b.broker else [], id=b.id)


def test_every_doc_is_collected():
    """Each file's blocks are found (a fence the pattern missed would silently not run)."""
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        assert len(blocks_of(path)) == text.count("```python\n"), path.name
    by_file = {p.name: [b for b in BLOCKS if b.path == p] for p in DOC_FILES}
    assert len(by_file["concepts.md"]) >= 10
    assert [b.broker for b in by_file["README.md"]] == [False, True]
    assert by_file["README.md"][0].output == ("('alice', 160.0)", "('bob', 9800.0)")


def test_markers_are_checked(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- output -->\n```text\n1\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="must mark a ```text block that follows a python"):
        blocks_of(doc)
    doc.write_text("<!-- needs-brokr -->\n```python\nx = 1\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown marker <!-- needs-brokr -->"):
        blocks_of(doc)
    doc.write_text("```python\nprint(1)\n```\n\n<!-- output -->\n```text\n1\n```\n",
                   encoding="utf-8")
    [block] = blocks_of(doc)
    assert (block.code, block.line, block.broker, block.output) == ("print(1)\n", 2, False, ("1",))
    # an output block shows the block right before it, which must be python
    doc.write_text("```python\nprint(1)\n```\n\n```bash\necho 2\n```\n\n<!-- output -->\n"
                   "```text\n2\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="must mark a ```text block that follows a python"):
        blocks_of(doc)
    doc.write_text("```py\nprint(2)\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="a ```py block would not run: write ```python"):
        blocks_of(doc)


def _isolate(monkeypatch, tmp_path, name: str) -> None:
    monkeypatch.setattr(sys, "argv", [name])  # pipelines parse options from sys.argv
    monkeypatch.chdir(tmp_path)  # blocks may write files
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.mark.parametrize("block", list(_params()))
def test_block_runs(block, monkeypatch, tmp_path, request, capsys):
    _isolate(monkeypatch, tmp_path, block.path.name)
    code = block.code
    if block.broker:
        servers = request.getfixturevalue("kafka_broker").bootstrap_servers
        assert DOC_ADDRESS in code
        code = code.replace(DOC_ADDRESS, servers)
    else:
        assert DOC_ADDRESS not in code, "a block that talks to a broker needs <!-- needs-broker -->"
    run_block(block, code)
    if block.output is not None:
        printed = capsys.readouterr().out.splitlines()
        assert sorted(printed) == sorted(block.output)


def _table(text: str, header: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_readme_states_the_conformance_results_runners_md_shows():
    """The README's table is docs/runners.md's generated one (whose own test checks it against a
    direct run now and the stored Beam and Flink reports), row for row."""
    header = "| runner | pass | deviates | unsupported |"
    readme = _table(README.read_text(encoding="utf-8"), header)
    runners = _table((DOCS / "runners.md").read_text(encoding="utf-8"), header)
    assert readme == runners
    assert [r.split("|")[1].strip() for r in readme[2:]] == ["direct", "beam", "flink"]


@pytest.mark.broker
def test_readme_kafka_example_prints_its_result_every_time_it_runs(kafka_broker, monkeypatch,
                                                                  tmp_path, capsys):
    """Run twice, as a newcomer would, the README's Kafka block prints the same totals: each run
    writes four orders and reads (start="committed") the four new ones. Windows of 60 s: alice
    120 (t=10 s) and bob 9800 (t=20 s) in [0, 60), alice 40 (t=70 s) in [60, 120); o4 is not
    JSON and is the one dead letter."""
    [block] = [b for b in BLOCKS if b.path == README and b.broker]
    code = block.code.replace(DOC_ADDRESS, kafka_broker.bootstrap_servers)
    _isolate(monkeypatch, tmp_path, "README.md")
    # the other test ran this block already in this session, or not: read what is new either way
    for _ in range(2):
        run_block(block, code)
        out = capsys.readouterr().out.splitlines()
        assert sorted(out[:-1]) == ["('alice', 120.0)", "('alice', 40.0)", "('bob', 9800.0)"]
        assert out[-1] == "dead letters: 1"
    assert len(list((tmp_path / "dlq").rglob("*"))) >= 1
