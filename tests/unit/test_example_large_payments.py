"""examples/large_payments.py on the direct runner: exact output, in-process and with
``fluvial run``."""

from __future__ import annotations

import os
import subprocess
import sys

import fluvial as fl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from large_payments_check import SCRIPT, expected, load, written  # noqa: E402


def test_large_payments_are_masked_and_written_exactly_once(tmp_path):
    mod = load()
    prefix = str(tmp_path / "out" / "large")
    p = fl.Pipeline(argv=["--payments", "300", "--min-amount", "4500", "--output", prefix],
                    add_arguments=mod.add_arguments)
    mod.build(p)
    p.run()
    want = expected(300, 4500)
    assert 20 <= len(want) <= 40  # about one payment in ten is 4,500 or more
    assert written(prefix) == want


def test_fluvial_run(tmp_path):
    prefix = str(tmp_path / "large")
    out = subprocess.run([sys.executable, "-m", "fluvial.cli", "run", str(SCRIPT), "--payments",
                          "100", "--output", prefix], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert written(prefix) == expected(100, 4000)
