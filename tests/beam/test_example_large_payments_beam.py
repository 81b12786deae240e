"""examples/large_payments.py on the Beam runner: the same output as computed by hand (the file
sink at-least-once, as Beam requires)."""

from __future__ import annotations

from large_payments_check import expected, load, written

import fluvial as fl


def test_large_payments_on_beam(tmp_path):
    mod = load()
    prefix = str(tmp_path / "large")
    p = fl.Pipeline(argv=["--runner", "beam", "--beam-sink-guarantee", "at_least_once",
                          "--payments", "200", "--output", prefix], add_arguments=mod.add_arguments)
    mod.build(p)
    p.run()
    assert written(prefix) == expected(200, 4000)
