"""The direct runner's stateful fast path (the stateful driver's bindings kept per live key and
window, DoFn parameters by position, plain cells without TTL) is the stateful driver's
semantics: on random scripts (keys, batches, out-of-order and late elements, watermark and
processing-time steps) DoFns with value, bag (with TTL), combining and map state, event and
processing timers, an expiration callback, dynamic parameters, side outputs and failing
elements give the same outputs, dead letters and counters with the fast paths on and with
``--direct-fast-paths off`` (a fresh binding per element); and the operator restored from a
pickled snapshot mid-stream carries on exactly as one that never stopped."""

from __future__ import annotations

import pickle
from collections import Counter

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from property_support import Collected, CollectSink

import fluvial as fl
from fluvial.dofn_invoker import DoFnSignature
from fluvial.metrics import MetricsContainer
from fluvial.runners.direct.fast_paths import stateful_pardo
from fluvial.runners.direct.operators.base import Operator
from fluvial.runners.direct.operators.on_error import ErrorHandler
from fluvial.runners.direct.operators.pardo import DoFnCaller
from fluvial.runners.direct.rows import as_windowed_values
from fluvial.testing import TestStream
from fluvial.timeutil import MAX_TIMESTAMP_MS, TimeDomain
from fluvial.values import GLOBAL_WINDOWS, WindowedValue

EACH = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

COUNT = fl.ValueStateSpec("count")
SEEN = fl.BagStateSpec("seen", ttl=fl.StateTTL(4))
TOTAL = fl.CombiningStateSpec("total", sum)
LAST = fl.MapStateSpec("last")
FLUSH = fl.TimerSpec("flush")
PING = fl.TimerSpec("ping", TimeDomain.REAL_TIME)


class Counter3(fl.DoFn):
    """Static parameters only (passed by position): a count, every third element out."""

    def process(self, kv, count=fl.DoFn.StateParam(COUNT)):
        n = (count.read() or 0) + 1
        count.write(n)
        if kv[1] % 9 == 4:
            raise ValueError(f"bad {kv}")
        if n % 3 == 0:
            yield (kv[0], n)
        if kv[1] % 5 == 0:
            count.clear()


class Everything(fl.DoFn):
    """Every kind of state, both timer domains, an expiration callback, dynamic parameters and
    a side output."""

    def process(self, kv, ts=fl.DoFn.TimestampParam, count=fl.DoFn.StateParam(COUNT),
                seen=fl.DoFn.StateParam(SEEN), total=fl.DoFn.StateParam(TOTAL),
                last=fl.DoFn.StateParam(LAST), flush=fl.DoFn.TimerParam(FLUSH),
                ping=fl.DoFn.TimerParam(PING), w=fl.DoFn.WindowParam):
        if kv[1] % 11 == 7:
            raise ArithmeticError(f"bad {kv}")
        count.write((count.read() or 0) + 1)
        seen.add(kv[1])
        total.add(kv[1])
        last.put(kv[1] % 3, ts.seconds)
        if kv[1] % 4 == 0:
            flush.set(min(ts.seconds + 2, (w.end_ms - 1) / 1000))
        if kv[1] % 6 == 1:
            ping.set(1_000_000 + 3)
        if kv[1] % 10 == 9:
            yield fl.TaggedOutput("odd", (kv[0], kv[1]))
        yield (kv[0], "in", kv[1], count.read(), sorted(seen.read()), sorted(last.items()))

    @fl.on_timer(FLUSH)
    def on_flush(self, key=fl.DoFn.KeyParam, seen=fl.DoFn.StateParam(SEEN),
                 total=fl.DoFn.StateParam(TOTAL)):
        yield (key, "flush", sorted(seen.read()), total.read())
        seen.clear()

    @fl.on_timer(PING)
    def on_ping(self, key=fl.DoFn.KeyParam, last=fl.DoFn.StateParam(LAST)):
        yield (key, "ping", sorted(last.items()))

    @fl.on_window_expiration
    def expire(self, key=fl.DoFn.KeyParam, count=fl.DoFn.StateParam(COUNT)):
        yield (key, "expired", count.read())


DOFNS = {"counter": Counter3, "everything": Everything}
WINDOWS = {
    "global": (fl.GlobalWindows(), {}),
    "fixed": (fl.FixedWindows(5), dict(allowed_lateness=3)),
    "sliding": (fl.SlidingWindows(6, 3), {}),
}


@st.composite
def scripts(draw):
    keys = draw(st.sampled_from([["a", "b", "c"], [1, 2], ["only"]]))
    steps, wm = [], 0
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.integers(0, 5))
        if kind == 0:
            wm = max(wm, wm + draw(st.integers(0, 6)) * 1000 + draw(st.sampled_from([-1, 0, 1])))
            steps.append(("w", wm))
        elif kind == 1:
            steps.append(("p", draw(st.integers(1, 3))))
        else:
            batch = [(draw(st.sampled_from(keys)), draw(st.integers(0, 40)),
                      wm + draw(st.integers(-8, 8)) * 1000)
                     for _ in range(draw(st.integers(1, 5)))]
            steps.append(("e", batch))
    return steps


def _run(steps, dofn, window, policy, fast):
    argv = ["--on-error", policy] + ([] if fast else ["--direct-fast-paths", "off"])
    p = fl.Pipeline(argv=argv)
    ts = TestStream()
    for s in steps:
        if s[0] == "e":
            ts = ts.add_elements([fl.TimestampedValue((k, v), t / 1000) for k, v, t in s[1]])
        elif s[0] == "w":
            ts = ts.advance_watermark_to(s[1] / 1000)
        else:
            ts = ts.advance_processing_time(s[1])
    window_fn, kwargs = WINDOWS[window]
    pc = p | ts.advance_watermark_to_infinity() | fl.WindowInto(window_fn, **kwargs)
    out = pc | "Stateful" >> fl.ParDo(DOFNS[dofn]()).with_outputs("odd")
    main, odd, dead = Collected(), Collected(), Collected()
    out[None] | "Main" >> fl.Write(CollectSink(main))
    out["odd"] | "Odd" >> fl.Write(CollectSink(odd))
    if policy == "dead_letter":
        p.dead_letters() | "Dead" >> fl.Write(CollectSink(dead))
    result = p.run()
    q = result.metrics().query(namespace="fluvial")
    return (Counter(repr(r) for r in main.records), Counter(repr(r) for r in odd.records),
            Counter((r.transform, r.error_type, repr(r.payload), r.timestamp_ms)
                    for r, *_ in dead.records),
            (q.counter("dropped_due_to_lateness"), q.counter("errors_skipped")))


@pytest.mark.parametrize("dofn", sorted(DOFNS))
@pytest.mark.parametrize("window", sorted(WINDOWS))
@EACH
@given(steps=scripts(), policy=st.sampled_from(["dead_letter", "skip"]))
def test_stateful_fast_path_equals_the_stateful_driver(dofn, window, steps, policy):
    assert _run(steps, dofn, window, policy, True) == _run(steps, dofn, window, policy, False)


# -- snapshot and restore ------------------------------------------------------------------------
class _Collect(Operator):
    def __init__(self) -> None:
        super().__init__("collect")
        self.items: list = []

    def process(self, idx, batch):
        self.items.extend(repr((wv.value, wv.timestamp, wv.windows, wv.pane))
                          for wv in as_windowed_values(batch))


def _operator(dofn):
    pardo = fl.ParDo(DOFNS[dofn]()).with_outputs("odd")
    pardo.signature = DoFnSignature(pardo.fn, "Stateful")
    caller = DoFnCaller("Stateful", pardo, ErrorHandler("Stateful", "skip"))
    from fluvial.windowing import Windowing

    op = stateful_pardo("Stateful", caller, Windowing(), fl.PipelineOptions())
    sink = _Collect()
    op.add_consumer(None, sink, 0)
    op.add_consumer("odd", sink, 0)
    op.open(MetricsContainer())
    return op, sink


def _feed(op, steps):
    now = 1_000_000
    for s in steps:
        if s[0] == "e":
            op.process(0, [WindowedValue((k, v), t, GLOBAL_WINDOWS) for k, v, t in s[1]])
        elif s[0] == "w":
            op.receive_watermark(0, s[1])
        else:
            now += s[1] * 1000
            op.on_processing_time(now)


@pytest.mark.parametrize("dofn", sorted(DOFNS))
@EACH
@given(steps=scripts(), cut=st.integers(0, 25))
def test_stateful_operator_restored_from_a_snapshot_carries_on(dofn, steps, cut):
    cut = min(cut, len(steps))
    end = [("w", MAX_TIMESTAMP_MS)]
    whole, whole_out = _operator(dofn)
    whole.processing_time = first_pt = 1_000_000
    _feed(whole, steps + end)

    first, first_out = _operator(dofn)
    first.processing_time = first_pt
    _feed(first, steps[:cut])
    snap = pickle.loads(pickle.dumps(first.snapshot()))
    second, second_out = _operator(dofn)
    second.restore(snap)
    second.processing_time = first.processing_time
    _feed(second, steps[cut:] + end)

    assert Counter(first_out.items + second_out.items) == Counter(whole_out.items)
    # at the end of input every key and window is gone, bindings included
    for op in (whole, second):
        assert op.bookkeeping_size() == 0 and op.bindings == {}
