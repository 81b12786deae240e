"""examples/large_payments.py on the Flink runner (local mini-cluster): the output computed by
hand, with and without --checkpoint-dir. On a cluster with ``fluvial run``: test_flink_cluster.py."""

from __future__ import annotations

import pytest
from large_payments_check import expected, load, written

import fluvial as fl


@pytest.mark.parametrize("extra", [[], ["--checkpoint-dir", "CK", "--checkpoint-interval", "0.2"]],
                         ids=["plain", "checkpointed"])
def test_large_payments_on_flink(tmp_path, extra):
    mod = load()
    prefix = str(tmp_path / "large")
    extra = [str(tmp_path / "ck") if a == "CK" else a for a in extra]
    p = fl.Pipeline(argv=["--runner", "flink", "--payments", "200", "--output", prefix, *extra],
                    add_arguments=mod.add_arguments)
    mod.build(p)
    p.run()
    assert written(prefix) == expected(200, 4000)
