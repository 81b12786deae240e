"""The expected output of examples/large_payments.py, by hand from its definition (payment ``i``:
card ``4000 0000 0000 <i mod 97>``, amount ``(i * 7919) mod 5000 + 1``), and a reader of the
JSON-lines files it writes. Shared by the tests of the example on every runner."""

from __future__ import annotations

import glob
import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "large_payments.py"


def load():
    spec = importlib.util.spec_from_file_location("large_payments_example", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def expected(n: int, minimum: int) -> list[dict]:
    out = []
    for i in range(n):
        amount = (i * 7919) % 5000 + 1
        if amount >= minimum:
            out.append({"payment": i, "card": f"**** **** **** {i % 97:04d}", "amount": amount})
    return out


def written(prefix: str) -> list[dict]:
    """Every line of the committed files ``prefix-*``, sorted by payment."""
    rows = [json.loads(line) for f in sorted(glob.glob(prefix + "-*"))
            for line in open(f, encoding="utf-8")]
    return sorted(rows, key=lambda r: r["payment"])
