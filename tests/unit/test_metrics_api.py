"""The Beam-like metrics API: counters, distributions and gauges from DoFns, read back with
``result.metrics().query()`` filtered by MetricsFilter (namespace, name, step)."""

from __future__ import annotations

import pytest
from unit_support import pipeline

import fluvial as fl
from fluvial.metrics import MetricKey, MetricName, MetricResult, MetricsFilter


class Measure(fl.DoFn):
    def __init__(self):
        self.seen = fl.Metrics.counter("shop", "seen")
        self.amounts = fl.Metrics.distribution("shop", "amount")
        self.last = fl.Metrics.gauge("shop", "last")
        self.typed = fl.Metrics.counter(Measure, "typed")

    def process(self, x):
        self.seen.inc()
        self.amounts.update(x)
        self.last.set(x)
        self.typed.inc(2)
        yield x


def run_two_steps():
    class Outer(fl.PTransform):
        def expand(self, pcoll):
            return pcoll | "Inner" >> fl.ParDo(Measure())

    p = pipeline()
    pc = p | fl.Create([4, 1, 7])
    _ = pc | "Outer" >> Outer()
    _ = pc | "Other" >> fl.ParDo(Measure())
    return p.run().metrics()


def counters_by_step(q):
    return {(k.step, k.name): v for k, v in q.counters.items()}


def test_values_of_counters_distributions_and_gauges():
    metrics = run_two_steps()
    q = metrics.query(namespace="shop")
    assert counters_by_step(q) == {("Outer/Inner", "seen"): 3, ("Other", "seen"): 3}
    dists = {k.step: (d.count, d.sum, d.min, d.max, d.mean) for k, d in q.distributions.items()}
    assert dists == {"Outer/Inner": (3, 12, 1, 7, 4.0), "Other": (3, 12, 1, 7, 4.0)}
    assert {k.step: g.value for k, g in q.gauges.items()} == {"Outer/Inner": 7, "Other": 7}
    # a class as namespace: its qualified name
    ns = f"{Measure.__module__}.{Measure.__qualname__}"
    assert metrics.query(namespace=Measure).counter("typed") == 12
    assert metrics.query(namespace=ns, step="Other").counter("typed") == 6


def test_filter_by_step_matches_whole_label_parts():
    metrics = run_two_steps()
    by = lambda step: counters_by_step(metrics.query(namespace="shop", name="seen", step=step))
    assert by("Outer") == {("Outer/Inner", "seen"): 3}
    assert by("Inner") == {("Outer/Inner", "seen"): 3}
    assert by("Outer/Inner") == {("Outer/Inner", "seen"): 3}
    assert by("Out") == {}
    assert by("Inner/Outer") == {}


def test_metrics_filter_object_and_beam_shaped_results():
    metrics = run_two_steps()
    f = MetricsFilter().with_namespace("shop").with_names(["seen", "amount"]).with_step("Other")
    res = metrics.query(f)
    [counter] = res["counters"]
    assert isinstance(counter, MetricResult)
    assert counter.key == MetricKey("Other", "shop", "seen")
    assert counter.key.metric == MetricName("shop", "seen")
    assert (counter.committed, counter.attempted, counter.result) == (3, 3, 3)
    [dist] = res["distributions"]
    assert (dist.key.metric.name, dist.committed.sum, dist.committed.max) == ("amount", 12, 7)
    assert res["gauges"] == []  # "last" is filtered out by name
    with pytest.raises(KeyError):
        res["histograms"]


def test_filter_and_keywords_combine():
    metrics = run_two_steps()
    f = MetricsFilter().with_steps(["Other", "Outer"])
    assert counters_by_step(metrics.query(f, name="seen")) == {
        ("Outer/Inner", "seen"): 3, ("Other", "seen"): 3
    }
    assert counters_by_step(metrics.query(f, name="seen", step="Inner")) == {
        ("Outer/Inner", "seen"): 3
    }


def test_runner_counters_live_in_the_fluvial_namespace():
    p = pipeline()
    _ = p | fl.Create(["1", "x"]) | "Parse" >> fl.ParDo(_IntFn(), on_error="skip")
    q = p.run().metrics().query(MetricsFilter().with_namespace("fluvial").with_name("errors_skipped"))
    assert [(r.key.step, r.committed) for r in q["counters"]] == [("Parse", 1)]


class _IntFn(fl.DoFn):
    def process(self, x):
        yield int(x)
