"""Every ```python block of docs/concepts.md and README.md runs on the direct runner without
error. A block preceded by ``<!-- needs-broker -->`` runs against the test session's local broker
(the ``kafka_broker`` fixture; its address replaces ``127.0.0.1:9092``) and is marked
``broker``."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "concepts.md"
README = ROOT / "README.md"
BLOCK = re.compile(r"^(<!-- needs-broker -->\n)?```python\n(.*?)^```", flags=re.S | re.M)
DOC_ADDRESS = "127.0.0.1:9092"


def _blocks(path: Path) -> list[tuple[str, int, bool]]:
    """(code, line of the block, needs a broker)"""
    text = path.read_text(encoding="utf-8")
    return [(m.group(2), text[: m.start(2)].count("\n") + 1, bool(m.group(1)))
            for m in BLOCK.finditer(text)]


BLOCKS = [(DOC, *b) for b in _blocks(DOC)] + [(README, *b) for b in _blocks(README)]


def _params():
    for path, code, line, broker in BLOCKS:
        marks = [pytest.mark.broker] if broker else []
        yield pytest.param(path, code, line, broker, marks=marks, id=f"{path.name}:{line}")


def test_doc_has_examples():
    assert len([b for b in BLOCKS if b[0] == DOC]) >= 10
    assert [b[3] for b in BLOCKS if b[0] == README] == [False, True]


def _run(path: Path, code: str, line: int) -> None:
    exec(compile(code, f"{path}:{line}", "exec"), {"__name__": "__docs__"})


@pytest.mark.parametrize("path, code, line, broker", list(_params()))
def test_block_runs(path, code, line, broker, monkeypatch, tmp_path, request):
    monkeypatch.setattr(sys, "argv", [path.name])  # pipelines parse options from sys.argv
    monkeypatch.chdir(tmp_path)  # blocks may write files
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    if broker:
        servers = request.getfixturevalue("kafka_broker").bootstrap_servers
        assert DOC_ADDRESS in code
        code = code.replace(DOC_ADDRESS, servers)
    _run(path, code, line)


@pytest.mark.broker
def test_readme_kafka_example_prints_its_result_every_time_it_runs(kafka_broker, monkeypatch,
                                                                  tmp_path, capsys):
    """Run twice, as a newcomer would, the README's Kafka block prints the same totals: each run
    writes four orders and reads (start="committed") the four new ones. Windows of 60 s: alice
    120 (t=10 s) and bob 9800 (t=20 s) in [0, 60), alice 40 (t=70 s) in [60, 120); o4 is not
    JSON and is the one dead letter."""
    [(code, line)] = [(c, n) for p, c, n, b in BLOCKS if p == README and b]
    code = code.replace(DOC_ADDRESS, kafka_broker.bootstrap_servers)
    monkeypatch.setattr(sys, "argv", ["README.md"])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # the other test ran this block already in this session, or not: read what is new either way
    for _ in range(2):
        _run(README, code, line)
        out = capsys.readouterr().out.splitlines()
        assert sorted(out[:-1]) == ["('alice', 120.0)", "('alice', 40.0)", "('bob', 9800.0)"]
        assert out[-1] == "dead letters: 1"
    assert len(list((tmp_path / "dlq").rglob("*"))) >= 1
