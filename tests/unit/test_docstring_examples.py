"""Every docstring example (``>>>``) of the packages that run without an engine — the model
(``fluvial``), the shared runner machinery, the direct runner, the transforms and the tooling —
runs and prints what it shows. An example that needs a service (a broker) is written as a
plain code block (``::``), not as ``>>>``, and the docs' tests run its runnable twin."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {  # import name -> folder (pyproject maps the folders onto fluvial's namespace)
    "fluvial": "sdk",
    "fluvial.runners.common": "runners/common",
    "fluvial.runners.direct": "runners/direct",
    "fluvial.transforms": "transforms",
    "fluvial.cli": "cli",
}


def _modules() -> list[str]:
    names = []
    for package, folder in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ">>>" not in path.read_text(encoding="utf-8"):
                continue
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts
                     if p != "__init__"]
            names.append(".".join([package, *parts]))
    return names


MODULES = _modules()


def test_the_examples_are_found():
    assert len(MODULES) > 50
    assert {"fluvial.triggers", "fluvial.window", "fluvial.window_driver"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0, f"{name}: {res}"
