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


def _modules_loaded_by(statement: str) -> list[str]:
    """The modules a fresh interpreter holds after running ``statement``."""
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_import_fluvial_loads_no_engine_and_no_runner():
    loaded = _modules_loaded_by("import fluvial, fluvial.testing")
    bad = [m for m in loaded if m.split(".")[0] in ("pyflink", "apache_beam", "kafka")
           or m.startswith(("fluvial.runners", "fluvial.transforms"))]
    assert bad == []


def test_import_fluvial_loads_no_tooling():
    """No CLI, broker launcher or benchmark code behind ``import fluvial`` (nor the test kit)."""
    loaded = _modules_loaded_by("import fluvial, fluvial.testing")
    bad = [m for m in loaded if m.startswith(("fluvial.cli", "fluvial.bench")) or "localbroker" in m]
    assert bad == []
    assert "fluvial.options" in loaded  # the check sees fluvial's modules


def test_the_cli_parser_loads_no_examples_or_transforms():
    """Each command imports its own code when it runs, so ``fluvial runners`` or ``fluvial
    broker stop`` start without loading transforms or examples."""
    loaded = _modules_loaded_by("import fluvial.cli.main; fluvial.cli.main.parser()")
    assert [m for m in loaded if m.startswith(("fluvial.examples", "fluvial.transforms"))] == []


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
