"""One behaviour on the direct and the Beam runner: a user-code failure raises fl.UserCodeError
naming the transform and the element; Beam's own log output stays out of a fluvial program
unless --beam-log-level asks for it; assert_that sees what a timer emits at the end of input
(while a grouping on Beam still drops it: a listed deviation); side inputs give the same values
and errors; Reshuffle changes nothing but the distribution."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest

import fluvial as fl
from fluvial.errors import PipelineConstructionError, SideInputError
from fluvial.runners.beam.deviations import KNOWN_DEVIATIONS
from fluvial.testing import TestStream, assert_that, equal_to
from fluvial.testing.assertions import PipelineAssertionError
from fluvial.timeutil import TimeDomain

from .support import collect, tv

RUNNERS = ["direct", "beam"]


def pipeline(runner: str, *extra: str) -> fl.Pipeline:
    return fl.Pipeline(argv=["--runner", runner, *extra])


def boom(x):
    return 1 / (x - 7)


# -- user-code failures ------------------------------------------------------------------------
@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("streaming", [False, True], ids=["create", "test_stream"])
def test_a_failing_map_raises_user_code_error_with_label_and_element(runner, streaming):
    p = pipeline(runner)
    src = (TestStream().add_elements([7]).advance_watermark_to_infinity() if streaming
           else fl.Create([7]))
    _ = p | src | "Boom" >> fl.Map(boom)
    with pytest.raises(fl.UserCodeError) as e:
        p.run()
    assert e.value.label == "Boom/ParDo"
    assert e.value.element == 7
    assert isinstance(e.value.cause, ZeroDivisionError)
    assert str(e.value) == ("user code in transform 'Boom/ParDo' raised ZeroDivisionError: "
                            "division by zero while processing element 7")


BUF = fl.BagStateSpec("buf")
FLUSH = fl.TimerSpec("flush", TimeDomain.WATERMARK)


class Buffer(fl.DoFn):
    """Buffers each key's values; an event-time timer 100 s after each element emits them."""

    def process(self, kv, ts=fl.DoFn.TimestampParam, buf=fl.DoFn.StateParam(BUF),
                flush=fl.DoFn.TimerParam(FLUSH)):
        if kv[1] < 0:
            raise ValueError("negative")
        buf.add(kv[1])
        flush.set(ts.seconds + 100)
        return []

    @fl.on_timer(FLUSH)
    def flush(self, key=fl.DoFn.KeyParam, buf=fl.DoFn.StateParam(BUF)):
        values = sorted(buf.read())
        buf.clear()
        yield (key, values)


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_failing_stateful_dofn_raises_user_code_error(runner):
    p = pipeline(runner)
    _ = p | fl.Create([("a", 1), ("a", -1)]) | "Buffer" >> fl.ParDo(Buffer())
    with pytest.raises(fl.UserCodeError) as e:
        p.run()
    assert (e.value.label, e.value.element, type(e.value.cause)) == (
        "Buffer", ("a", -1), ValueError)


# -- Beam's log output -------------------------------------------------------------------------
def _fail_on_beam(*extra: str) -> None:
    p = pipeline("beam", *extra)
    _ = p | TestStream().add_elements([7]).advance_watermark_to_infinity() | "Boom" >> fl.Map(boom)
    with pytest.raises(fl.UserCodeError):
        p.run()


def _beam_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name.startswith("apache_beam") or f"{os.sep}apache_beam{os.sep}" in r.pathname]


def test_beams_log_output_is_silenced_by_default(caplog):
    caplog.set_level(logging.DEBUG)
    before = logging.getLogger("apache_beam").level
    _fail_on_beam()
    assert _beam_records(caplog) == []
    assert logging.getLogger("apache_beam").level == before  # restored after the run


def test_beam_log_level_lets_beams_records_through_from_that_level(caplog):
    caplog.set_level(logging.DEBUG)
    _fail_on_beam("--beam-log-level", "error")
    records = _beam_records(caplog)
    # Beam reports the failing bundle (and each retry) at ERROR
    assert any(r.levelno == logging.ERROR and "Boom/ParDo" in r.getMessage() for r in records)
    assert all(r.levelno >= logging.ERROR for r in records)


def test_an_unknown_beam_log_level_is_refused():
    with pytest.raises(PipelineConstructionError, match="--beam-log-level"):
        fl.Pipeline(argv=["--runner", "beam", "--beam-log-level", "loud"])


def test_a_failing_program_prints_its_error_and_nothing_of_beams(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import logging
        import fluvial as fl
        from fluvial.testing import TestStream
        p = fl.Pipeline(argv=["--runner", "beam"])
        src = TestStream().add_elements([7]).advance_watermark_to_infinity()
        _ = p | src | "Boom" >> fl.Map(lambda x: 1 / (x - 7))
        try:
            p.run()
        except fl.UserCodeError as e:
            print("caught:", e.label, e.element)
        print("root handlers:", logging.getLogger().handlers)
        logging.getLogger("fluvial.job").warning("a warning of the program's own")
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["caught: Boom/ParDo 7", "root handlers: []"]
    # Python's last-resort handler prints the program's own warning as it would without Beam
    assert proc.stderr.splitlines() == ["a warning of the program's own"]


# -- assert_that and timer outputs at the end of input ----------------------------------------
def _buffered(p):
    src = (TestStream().add_elements([tv(("a", 1), 1), tv(("a", 2), 2)])
           .advance_watermark_to_infinity())
    return p | src | "Buffer" >> fl.ParDo(Buffer())


@pytest.mark.parametrize("runner", RUNNERS)
def test_assert_that_sees_a_timer_output_emitted_at_the_end_of_input(runner):
    p = pipeline(runner)
    assert_that(_buffered(p), equal_to([("a", [1, 2])]))
    p.run()


@pytest.mark.parametrize("runner", RUNNERS)
def test_assert_that_still_fails_on_a_mismatch(runner):
    p = pipeline(runner)
    assert_that(_buffered(p), equal_to([("a", [1, 2, 3])]))
    with pytest.raises(PipelineAssertionError, match=r"missing \[\('a', \(.__list__., "
                       r"\(1, 2, 3\)\)\)\], unexpected \[\('a', \(.__list__., \(1, 2\)\)\)\]"):
        p.run()


@pytest.mark.parametrize("runner", RUNNERS)
def test_assert_that_of_an_empty_pcollection(runner):
    p = pipeline(runner)
    empty = p | fl.Create([1]) | fl.Filter(lambda x: False)
    assert_that(empty, equal_to([]))
    p.run()


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_grouping_after_a_timer_output_at_the_end_of_input(runner, tmp_path):
    """The listed deviation: Beam's DirectRunner holds no watermark for pending timers, so the
    grouping after the timer drops its output; the direct runner holds it."""
    p = pipeline(runner)
    grouped = (_buffered(p) | "Window" >> fl.WindowInto(fl.FixedWindows(600))
               | "Group" >> fl.GroupByKey())
    out = collect(grouped, tmp_path)
    p.run()
    if runner == "direct":
        assert out.values() == [("a", [[1, 2]])]
    else:
        assert out.values() == []
        assert "does not hold a stateful DoFn's output watermark for its pending timers" in (
            KNOWN_DEVIATIONS["event_timer_output_grouped_at_end"])


# -- side inputs -------------------------------------------------------------------------------
@pytest.mark.parametrize("runner", RUNNERS)
def test_side_input_values_and_parameters(runner):
    p = pipeline(runner)
    rates = p | "Rates" >> fl.Create([("EUR", 2), ("GBP", 3)])
    empty = p | "Empty" >> fl.Create([])
    orders = p | "Orders" >> fl.Create([tv(("EUR", 10), 5), tv(("GBP", 20), 6)])
    priced = orders | "Price" >> fl.Map(
        lambda o, r, e, *, d, ts=fl.DoFn.TimestampParam: (
            o[1] * r[o[0]], isinstance(e, fl.EmptySideInput), d, ts.seconds),
        fl.AsDict(rates), fl.AsSingleton(empty), d=fl.AsSingleton(empty, default_value="none"))
    assert_that(priced, equal_to([(20, True, "none", 5), (60, True, "none", 6)]))
    p.run()


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_singleton_of_several_elements_is_the_same_error(runner):
    p = pipeline(runner)
    two = p | "Two" >> fl.Create([1, 2])
    _ = p | fl.Create([0]) | "Use" >> fl.Map(lambda x, s: x + s, fl.AsSingleton(two))
    with pytest.raises(SideInputError, match="transform 'Use/ParDo': side input "
                       r"AsSingleton\(.*\) in window GlobalWindow\(\): PCollection of size 2 with "
                       "more than one element accessed as a singleton view"):
        p.run()


# -- Reshuffle ---------------------------------------------------------------------------------
@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("streaming", [False, True], ids=["create", "test_stream"])
def test_reshuffle_keeps_values_timestamps_and_windows(runner, streaming, tmp_path):
    elements = [tv(("a", 1), 1), tv(("b", 2), 12), tv(("a", 3), 13)]
    p = pipeline(runner)
    src = (TestStream().add_elements(elements).advance_watermark_to_infinity() if streaming
           else fl.Create(elements))
    windowed = p | src | fl.WindowInto(fl.FixedWindows(10))
    out = collect(windowed | fl.Reshuffle(), tmp_path)
    p.run()
    assert sorted(out.rows(), key=repr) == [
        (("a", 1), 1_000, (0, 10_000)),
        (("a", 3), 13_000, (10_000, 20_000)),
        (("b", 2), 12_000, (10_000, 20_000)),
    ]
