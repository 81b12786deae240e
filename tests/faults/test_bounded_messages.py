"""Issue 11, defect 9 (the part outside Kafka): error messages embedded the whole element — a
10 MB element made a 10 MB message (and log line, and traceback).

Now messages show a bounded text of the element (``fluvial.errors.bounded_repr``, at most
``ELEMENT_TEXT_LIMIT`` characters) and of a user exception's own message (at most
``CAUSE_TEXT_LIMIT``); the exception keeps the whole element, and a dead-letter record keeps
the whole payload and message.
"""

from __future__ import annotations

import pytest
from faults_support import collect

import fluvial as fl
from fluvial.errors import (
    CAUSE_TEXT_LIMIT,
    ELEMENT_TEXT_LIMIT,
    BadRecordError,
    NotKeyedError,
    UnhashableKeyError,
    UserCodeError,
)
from fluvial.transforms import Map
from fluvial.transforms.io import WriteToSqlite

BIG = "x" * 10_000_000
# the label, the error's type and the fixed words of a message are well under this
FIXED_TEXT = 400
LIMIT = ELEMENT_TEXT_LIMIT + CAUSE_TEXT_LIMIT + FIXED_TEXT


def pipeline(*argv: str) -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", "direct", *argv])


def reject(s):
    raise ValueError("rejected")


def test_a_huge_element_makes_a_short_message_and_a_whole_dead_letter():
    p = pipeline()
    _ = p | fl.Create([BIG]) | "Check" >> Map(reject)
    with pytest.raises(UserCodeError) as ei:
        p.run()
    msg = str(ei.value)
    assert len(msg) < LIMIT
    assert msg.startswith("user code in transform 'Check/ParDo' raised ValueError: rejected "
                          "while processing element 'xxxx")
    assert ei.value.element is BIG  # the exception keeps it whole

    p = pipeline()
    _ = p | fl.Create([BIG]) | "Check" >> Map(reject, on_error="dead_letter")
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    [(rec, _)] = dead.items
    assert rec.payload == BIG


def echo(s):
    raise ValueError(f"cannot use {s}")  # the user's message embeds the element


def test_a_user_message_embedding_the_element_is_bounded_too():
    p = pipeline()
    _ = p | fl.Create([BIG]) | "Echo" >> Map(echo)
    with pytest.raises(UserCodeError) as ei:
        p.run()
    assert len(str(ei.value)) < LIMIT
    assert str(ei.value.cause) == f"cannot use {BIG}"  # the cause is untouched

    p = pipeline("--on-error", "dead_letter")
    _ = p | fl.Create([BIG]) | "Echo" >> Map(echo)
    dead = collect(p.dead_letters(), "Dead")
    p.run()
    [(rec, _)] = dead.items
    assert rec.message == f"cannot use {BIG}"


@pytest.mark.parametrize("element, error", [
    (list(range(2_000_000)), NotKeyedError),
    ((list(range(2_000_000)), 1), UnhashableKeyError),
])
def test_grouping_input_errors_are_bounded(element, error):
    p = pipeline()
    _ = p | fl.Create([element]) | "Group" >> fl.GroupByKey()
    with pytest.raises(error) as ei:
        p.run()
    assert len(str(ei.value)) < LIMIT
    assert str(ei.value).startswith("transform 'Group'")


def test_a_combine_failing_on_a_huge_value_is_bounded():
    p = pipeline()
    _ = p | fl.Create([("k", 1), ("k", BIG)]) | "Total" >> fl.CombinePerKey(sum)
    with pytest.raises(UserCodeError) as ei:
        p.run()
    assert len(str(ei.value)) < LIMIT
    assert ei.value.element == ("k", BIG)


def test_a_sink_refusing_a_huge_record_is_bounded(tmp_path):
    p = pipeline()
    _ = (p | fl.Create([["not", "a", "dict", BIG]])
         | WriteToSqlite(str(tmp_path / "db.sqlite"), "t", ["id"]))
    with pytest.raises(BadRecordError) as ei:
        p.run()
    assert len(str(ei.value)) < LIMIT
    assert "WriteToSqlite needs dict elements" in str(ei.value)
