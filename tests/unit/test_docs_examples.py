"""Every ```python block of README.md and docs/*.md runs on the direct runner without error, as
``__main__`` (a block's ``if __name__ == "__main__":`` part runs too), in a fresh working
directory, with ``sys.argv`` holding the file's name only.

Markers, on the line right before a block's opening fence:

- ``<!-- needs-broker -->``: the block runs against the test session's local broker (the
  ``kafka_broker`` fixture; its address replaces ``127.0.0.1:9092``, which the block must use)
  and is marked ``broker``.
- ``<!-- output -->`` before a ```text block: what the python block before it prints. The test
  checks the printed lines are exactly these, in any order (a pipeline's outputs have no order
  across keys and windows; the lines themselves must match).

A block that is not meant to run as Python (a shell session, an error message, a JSON record)
uses another fence (```bash, ```text, ```json or a bare one).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
DOC_ADDRESS = "127.0.0.1:9092"
FENCE = re.compile(r"^```([A-Za-z]*)\n(.*?)^```[ \t]*$", flags=re.S | re.M)
MARKER = re.compile(r"<!-- ([a-z-]+) -->\n\Z")
MARKERS = ("needs-broker", "output")  # others (README's main-command, ...) mark other blocks


@attrs.frozen
class Block:
    path: Path
    line: int
    code: str
    broker: bool
    output: tuple[str, ...] | None  # the lines it prints, when the doc shows them

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def _marker(text: str, start: int) -> str | None:
    m = MARKER.search(text, 0, start)
    return None if m is None else m.group(1)


def blocks_of(path: Path) -> list[Block]:
    """The python blocks of one Markdown file, with their markers and shown output."""
    text = path.read_text(encoding="utf-8")
    found: list[Block] = []
    for m in FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        marker = _marker(text, m.start())
        if marker == "output":
            if lang != "text" or not found or found[-1].output is not None:
                raise ValueError(f"{path.name}: <!-- output --> must mark a ```text block "
                                 "that follows a python block")
            found[-1] = attrs.evolve(found[-1], output=tuple(body.splitlines()))
        elif lang == "python":
            if marker not in (None, "needs-broker"):
                raise ValueError(f"{path.name}: unknown marker <!-- {marker} --> before a "
                                 f"python block; known: {MARKERS}")
            line = text[: m.start(2)].count("\n") + 1
            found.append(Block(path, line, body, marker == "needs-broker", None))
        elif marker in MARKERS:
            raise ValueError(f"{path.name}: <!-- {marker} --> before a ```{lang} block")
    return found


DOC_FILES = sorted(DOCS.glob("*.md")) + [README]
BLOCKS = [b for path in DOC_FILES for b in blocks_of(path)]


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
    assert any(b.output for b in BLOCKS)


def _run(block: Block, code: str | None = None) -> None:
    source = block.code if code is None else code
    exec(compile(source, str(block.path) + f":{block.line}", "exec"), {"__name__": "__main__"})


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
    _run(block, code)
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
        _run(block, code)
        out = capsys.readouterr().out.splitlines()
        assert sorted(out[:-1]) == ["('alice', 120.0)", "('alice', 40.0)", "('bob', 9800.0)"]
        assert out[-1] == "dead letters: 1"
    assert len(list((tmp_path / "dlq").rglob("*"))) >= 1
