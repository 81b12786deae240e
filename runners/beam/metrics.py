"""fluvial metrics inside Beam: a container that forwards fluvial's Metrics.counter /
distribution / gauge updates to Beam's metrics (Beam attributes them to the running step), and
reading Beam's metric results back into a fluvial MetricsContainer.

>>> bridge = BeamMetricsBridge()
>>> isinstance(bridge, MetricsContainer)
True
"""

from __future__ import annotations

from typing import Any

from apache_beam.metrics.metric import Metrics as BeamMetrics

from fluvial import metrics as fm
from fluvial.metrics import MetricKey, MetricsContainer


class BeamMetricsBridge(MetricsContainer):
    """Forwards updates to Beam's metrics of the executing step; holds nothing itself."""

    def inc(self, key: MetricKey, n: int = 1) -> None:
        BeamMetrics.counter(key.namespace, key.name).inc(n)

    def update_distribution(self, key: MetricKey, v: float) -> None:
        BeamMetrics.distribution(key.namespace, key.name).update(int(v))

    def set_gauge(self, key: MetricKey, v: Any) -> None:
        BeamMetrics.gauge(key.namespace, key.name).set(int(v))


BRIDGE = BeamMetricsBridge()

_STEP_SEP = "|fluvial-step="


def _ns(key: MetricKey) -> str:
    return f"{key.namespace}{_STEP_SEP}{key.step}" if key.step else key.namespace


class StepMetricsBridge(BeamMetricsBridge):
    """Forwards updates under the step the key names, whatever step Beam is executing: the
    runner's own metrics (``fluvial/errors_skipped``, ``fluvial/dead_letters``, a source's
    metrics) stay on their transform even where a Beam version attributes metrics of a timer
    callback to another step of the fused stage (apache-beam 2.61 does). The step travels in
    the Beam namespace and :func:`collect` takes it back out."""

    def inc(self, key: MetricKey, n: int = 1) -> None:
        BeamMetrics.counter(_ns(key), key.name).inc(n)

    def update_distribution(self, key: MetricKey, v: float) -> None:
        BeamMetrics.distribution(_ns(key), key.name).update(int(v))

    def set_gauge(self, key: MetricKey, v: Any) -> None:
        BeamMetrics.gauge(_ns(key), key.name).set(int(v))


STEP_BRIDGE = StepMetricsBridge()


def install_bridge() -> None:
    """Make fluvial's Metrics in this thread report to Beam's metrics."""
    if fm._current.get() is not BRIDGE:
        fm.set_container(BRIDGE)


def _key(r: Any, labels: dict[str, str]) -> MetricKey:
    ns, sep, step = r.key.metric.namespace.partition(_STEP_SEP)
    return MetricKey(step if sep else _step(r.key.step, labels), ns, r.key.metric.name)


def _value(r: Any) -> Any:
    return r.committed if r.committed is not None else r.attempted


def _step(step: str, labels: dict[str, str]) -> str:
    if step in labels:
        return labels[step]
    for beam_label, fl_label in labels.items():
        if step.endswith("/" + beam_label) or step.startswith(beam_label + "/"):
            return fl_label
    return step


def collect(beam_result: Any, labels: dict[str, str]) -> MetricsContainer:
    """Beam's metric results as a fluvial MetricsContainer (steps named by fluvial labels)."""
    out = MetricsContainer()
    try:
        q = beam_result.metrics().query()
    except Exception:  # noqa: BLE001 - a runner without metrics support
        return out
    for r in q.get("counters", []):
        k = _key(r, labels)
        out.counters[k] = out.counters.get(k, 0) + int(_value(r) or 0)
    for r in q.get("distributions", []):
        d = _value(r)
        if d is None:
            continue
        k = _key(r, labels)
        out.distributions[k] = fm.DistributionData(d.count, d.sum, d.min, d.max)
    for r in q.get("gauges", []):
        g = _value(r)
        if g is None:
            continue
        k = _key(r, labels)
        out.gauges[k] = fm.GaugeData(g.value, float(getattr(g, "timestamp", 0) or 0))
    return out
