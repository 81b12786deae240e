"""TestScript: the runner-neutral value behind TestStream - its steps and validation, its JSON
form (a hand-written golden of the documented format) and pickling, and the playing contract
on the direct runner where the builder alone does not show it (end of input, repeated
watermark steps, a script read back from JSON)."""

from __future__ import annotations

import collections
import json
import math
import pickle

import pytest
from unit_support import collect, pipeline, tv

import fluvial as fl
from fluvial.testing import TestScript, TestStream
from fluvial.testing.conformance.catalog import all_cases
from fluvial.testing.script_json import decode_value, encode_value
from fluvial.testing.test_script import (
    ElementEvent,
    EndOfInput,
    ProcessingTimeEvent,
    WatermarkEvent,
)
from fluvial.timeutil import MAX_TIMESTAMP_MS

Point = collections.namedtuple("Point", "x y")


def _stream() -> TestStream:
    return (
        TestStream()
        .add_elements([tv(("k", 1), 1.5), "x"])
        .advance_watermark_to(60)
        .advance_processing_time(5)
        .advance_watermark_to_infinity()
    )


# -- the value ------------------------------------------------------------------------------------
def test_builder_makes_the_script_steps_in_order_and_ends_it():
    s = _stream().script
    assert s.steps == (
        ElementEvent(((("k", 1), 1500), ("x", 0))),
        WatermarkEvent(60_000),
        ProcessingTimeEvent(5_000),
        WatermarkEvent(MAX_TIMESTAMP_MS),
        EndOfInput(),
    )
    assert s.uses_processing_time
    assert s.watermark_before(2) == 60_000
    assert _stream().events == s.steps[:-1]


def test_script_is_immutable_and_a_test_stream_plays_a_given_script():
    s = _stream().script
    with pytest.raises(AttributeError):
        s.steps = ()  # type: ignore[misc]
    again = TestStream(s)
    assert again.script == s
    # the builder continues from the script's watermark
    with pytest.raises(fl.PipelineConstructionError, match="backwards"):
        TestStream(TestScript((WatermarkEvent(10_000),))).advance_watermark_to(5)


@pytest.mark.parametrize(
    "steps, match",
    [
        ((WatermarkEvent(10), WatermarkEvent(5)), "backwards"),
        ((EndOfInput(), WatermarkEvent(5)), "only be the last step"),
        (("add 1",), "step 0"),
    ],
)
def test_invalid_scripts_are_refused(steps, match):
    with pytest.raises(fl.PipelineConstructionError, match=match):
        TestScript(steps)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ElementEvent((("a", 1.5),)), "int milliseconds"),
        (lambda: ElementEvent((("a",),)), r"\(value, timestamp_ms\) pairs"),
        (lambda: WatermarkEvent(MAX_TIMESTAMP_MS + 1), "outside"),
        (lambda: ProcessingTimeEvent(0), "positive"),
        (lambda: TestStream("not a script"), "needs a TestScript"),
    ],
)
def test_invalid_steps_are_refused(make, match):
    with pytest.raises(fl.PipelineConstructionError, match=match):
        make()


# -- JSON and pickle ------------------------------------------------------------------------------
def test_json_form_is_the_documented_format():
    assert json.loads(_stream().script.to_json()) == {
        "format": "fluvial.test_script",
        "version": 1,
        "max_timestamp_ms": 9_223_372_036_854_775,
        "steps": [
            {
                "kind": "elements",
                "elements": [
                    {"timestamp_ms": 1500, "value": {"tuple": ["k", 1]}},
                    {"timestamp_ms": 0, "value": "x"},
                ],
            },
            {"kind": "watermark", "watermark_ms": 60_000},
            {"kind": "processing_time", "advance_ms": 5_000},
            {"kind": "watermark", "watermark_ms": 9_223_372_036_854_775},
            {"kind": "end"},
        ],
    }


def _same(a, b) -> bool:
    """Equal, with the same types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize(
    "value, plain",
    [
        (None, True),
        (True, True),
        (-(2**63), True),
        (2**63, False),
        (1.5, True),
        (float("nan"), False),
        ("s", True),
        (b"raw", False),
        ([1, ("a", [2.0, None])], False),
        ({"a": (1, 2), "b": [True]}, False),
        ({1: "x"}, False),
        (Point(1, 2), False),
        (frozenset({1, 2}), False),
    ],
)
def test_values_decode_to_equal_values_of_the_same_types(value, plain):
    enc = encode_value(value)
    assert json.loads(json.dumps(enc)) == enc  # JSON-able as it is
    assert (type(enc) is type(value) and enc == value) is plain  # plain: JSON as it is
    assert _same(decode_value(json.loads(json.dumps(enc))), value)


def test_plain_json_values_stay_readable():
    assert encode_value([1, "a", None]) == [1, "a", None]
    assert encode_value(("k", 1)) == {"tuple": ["k", 1]}
    assert encode_value({"a": 1}) == {"dict": {"a": 1}}
    assert set(encode_value(b"x")) == {"pickle"}


def _catalog_scripts() -> list[tuple[str, TestScript]]:
    out = []
    for case in all_cases():
        p = pipeline()
        case.build(p)
        for n in p.primitives():
            if isinstance(n.transform, TestStream):
                out.append((case.name, n.transform.script))
    return out


def test_every_catalog_script_survives_json_and_pickle():
    scripts = _catalog_scripts()
    assert len(scripts) >= 80
    for name, s in scripts:
        assert TestScript.from_json(s.to_json()) == s, name
        assert pickle.loads(pickle.dumps(s)) == s, name


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"format": "other"}', "not a fluvial test script"),
        ('{"format": "fluvial.test_script", "version": 2, "steps": []}', "version 2"),
        ('{"format": "fluvial.test_script", "version": 1, "steps": [{"kind": "jump"}]}', "jump"),
    ],
)
def test_unreadable_json_is_refused(text, match):
    with pytest.raises(fl.PipelineConstructionError, match=match):
        TestScript.from_json(text)


# -- playing on the direct runner -----------------------------------------------------------------
def _sums(script: TestScript):
    p = pipeline()
    out = collect(p | TestStream(script) | fl.WindowInto(fl.FixedWindows(10)) | fl.CombinePerKey(sum))
    p.run()
    return [(v, b, ts, pane.timing.value, pane.is_last) for v, b, ts, pane in out.panes()]


def test_end_of_input_moves_the_watermark_to_infinity():
    # no watermark step at all: EndOfInput fires and expires [0,10) (ON_TIME, last)
    s = TestScript((ElementEvent(((("k", 1), 2_000), (("k", 2), 3_000))),))
    assert _sums(s) == [(("k", 3), (0, 10_000), 9_999, "ON_TIME", True)]


def test_a_watermark_step_to_the_current_watermark_changes_nothing():
    s = TestScript((
        ElementEvent(((("k", 1), 2_000),)),
        WatermarkEvent(5_000),
        WatermarkEvent(5_000),
        ElementEvent(((("k", 2), 6_000),)),
        WatermarkEvent(10_000),
    ))
    assert _sums(s) == [(("k", 3), (0, 10_000), 9_999, "ON_TIME", True)]


def test_a_script_read_from_json_plays_like_the_built_one():
    built = (
        TestStream()
        .add_elements([tv(("k", 1), 1), tv(("k", 2), 12)])
        .advance_watermark_to(10)
        .add_elements([tv(("k", 4), 5)])  # late: [0,10) expired at wm 10
        .advance_watermark_to_infinity()
    ).script
    expected = [
        (("k", 1), (0, 10_000), 9_999, "ON_TIME", True),
        (("k", 2), (10_000, 20_000), 19_999, "ON_TIME", True),
    ]
    assert _sums(built) == expected
    assert _sums(TestScript.from_json(built.to_json())) == expected
