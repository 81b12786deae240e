"""Side inputs on the Flink runner beyond the conformance cases: with parallelism 2 (side inputs
broadcast to both instances, each side input's watermark taken over its instances), and a
ParDo with side inputs that has tagged outputs and sends a failing element to the dead
letters; and the refusal under --checkpoint-dir (side inputs are kept in memory on Flink). Expected values are derived by hand from the model (fluvial.side_inputs)."""

from __future__ import annotations

import pytest

import fluvial as fl
from fluvial.errors import UnsupportedFeatureError
from fluvial.transforms import Map

from .support import pipeline, record, recorded, values


def test_side_inputs_reach_every_instance_with_parallelism_two(tmp_path):
    p = pipeline("--parallelism", "2")
    rates = p | "Rates" >> fl.Create([("EUR", 2), ("GBP", 3)])
    offsets = p | "Offsets" >> fl.Create([100, 200])
    orders = p | "Orders" >> fl.Create([("EUR", i) if i % 2 else ("GBP", i) for i in range(10)])
    out = orders | "Convert" >> Map(lambda o, r, off: o[1] * r[o[0]] + sum(off),
                                    fl.AsDict(rates), fl.AsIter(offsets))
    record(out, str(tmp_path))
    result = p.run()
    # odd i are EUR (x2), even i GBP (x3); every element adds 100 + 200
    assert sorted(values(str(tmp_path))) == sorted(
        i * (2 if i % 2 else 3) + 300 for i in range(10))
    assert result.info["parallelism"] == 2


class Split(fl.DoFn):
    def process(self, x, limit):
        if x == 0:
            raise ZeroDivisionError("zero")
        yield x if x <= limit else fl.TaggedOutput("big", x)


def test_side_input_pardo_with_tagged_outputs_and_dead_letters(tmp_path):
    small_dir, big_dir, dead_dir = tmp_path / "small", tmp_path / "big", tmp_path / "dead"
    for d in (small_dir, big_dir, dead_dir):
        d.mkdir()
    p = pipeline()
    limit = fl.AsSingleton(p | "Limit" >> fl.Create([5]))
    outs = (p | fl.Create([1, 7, 0, 5, 9])
            | "Split" >> fl.ParDo(Split(), limit, on_error="dead_letter").with_outputs("big"))
    record(outs.main, str(small_dir))
    record(outs.big, str(big_dir), "RecordBig")
    record(p.dead_letters(), str(dead_dir), "RecordDead")
    p.run()
    assert sorted(values(str(small_dir))) == [1, 5]
    assert sorted(values(str(big_dir))) == [7, 9]
    [dead] = [r[0] for r in recorded(str(dead_dir))]
    assert (dead.transform, dead.error_type, dead.payload) == ("Split", "ZeroDivisionError", 0)


def test_side_inputs_are_refused_with_checkpoints(tmp_path):
    p = pipeline("--checkpoint-dir", str(tmp_path / "ck"))
    side = fl.AsList(p | "Side" >> fl.Create([1]))
    _ = p | fl.Create([1, 2]) | "WithSide" >> Map(lambda x, s: x + sum(s), side)
    with pytest.raises(UnsupportedFeatureError, match="side inputs with --checkpoint-dir") as ei:
        p.run()
    assert ei.value.label == "WithSide/ParDo"
