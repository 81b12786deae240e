"""The layering rules of DESIGN.md, checked on the source: sdk imports neither transforms nor
runners; transforms never imports runners; runners do not import each other; ``import fluvial``
loads no engine and no tooling; the tooling package (cli/) may import anything, and nothing
imports it."""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _imports(folder: str) -> list[tuple[str, str]]:
    out = []
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out += [(str(path.relative_to(ROOT)), a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                out.append((str(path.relative_to(ROOT)), node.module))
    return out


def test_sdk_imports_neither_transforms_nor_runners():
    bad = [(f, m) for f, m in _imports("sdk") if m.startswith(("fluvial.transforms", "fluvial.runners"))]
    assert bad == []


def test_transforms_never_import_runners():
    bad = [(f, m) for f, m in _imports("transforms") if m.startswith("fluvial.runners")]
    assert bad == []


def test_runners_do_not_import_each_other():
    bad = []
    for f, m in _imports("runners"):
        parts = pathlib.Path(f).parts  # runners/<name>/...
        if len(parts) > 2 and m.startswith("fluvial.runners."):
            target = m.split(".")[2]
            if target not in (parts[1], "common"):
                bad.append((f, m))
    assert bad == []


def test_import_fluvial_loads_no_engine_and_no_runner():
    code = (
        "import sys, fluvial, fluvial.testing\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('pyflink', 'apache_beam', 'kafka')"
        " or m.startswith('fluvial.runners') or m.startswith('fluvial.transforms')]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_fluvial_loads_no_tooling():
    """No CLI, broker launcher or benchmark code behind ``import fluvial`` (nor the test kit)."""
    code = (
        "import sys, fluvial, fluvial.testing\n"
        "bad = [m for m in sys.modules if m.startswith(('fluvial.cli', 'fluvial.bench'))"
        " or 'localbroker' in m]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sdk_imports_no_tooling_and_no_process_management():
    bad = [(f, m) for f, m in _imports("sdk")
           if m.startswith("fluvial.cli") or m.split(".")[0] in ("subprocess", "signal")]
    assert bad == []


def test_sdk_names_no_transforms_examples_or_tooling_even_by_import_string():
    # (runner import strings are the registry's documented exception)
    pattern = re.compile(r"fluvial\.(transforms|examples|cli)([.:][\w.:]*)?")
    found = []
    for path in (ROOT / "sdk").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if pattern.fullmatch(node.value):
                    found.append((str(path.relative_to(ROOT)), node.value))
    assert found == []


def test_only_tooling_imports_the_tooling_package():
    """cli/ may import anything; nothing else imports it."""
    bad = [(f, m) for folder in ("sdk", "transforms", "runners", "examples")
           for f, m in _imports(folder) if m.startswith("fluvial.cli")]
    assert bad == []
    assert any(m.startswith("fluvial.examples") for _, m in _imports("cli"))
    assert any(m.startswith("fluvial.transforms") for _, m in _imports("cli"))
