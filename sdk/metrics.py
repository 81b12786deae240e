"""A Beam-like metrics API: counters, distributions and gauges, readable from the result.

Inside a DoFn:

>>> from fluvial.metrics import Metrics
>>> counter = Metrics.counter("myns", "seen")

Values are attributed to the transform being executed. ``result.metrics().query()`` returns them.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs

_current: contextvars.ContextVar[MetricsContainer | None] = contextvars.ContextVar(
    "fluvial_metrics_container", default=None
)
_current_step: contextvars.ContextVar[str] = contextvars.ContextVar("fluvial_metrics_step", default="")


@attrs.frozen
class MetricKey:
    step: str
    namespace: str
    name: str


@attrs.define
class DistributionData:
    count: int = 0
    sum: float = 0
    min: float | None = None
    max: float | None = None

    def update(self, v: float) -> None:
        self.count += 1
        self.sum += v
        self.min = v if self.min is None or v < self.min else self.min
        self.max = v if self.max is None or v > self.max else self.max

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None


@attrs.define
class GaugeData:
    value: Any = None
    timestamp: float = 0.0


class MetricsContainer:
    """Holds a run's metric values. Thread-safe for updates from one runner."""

    def __init__(self) -> None:
        self.counters: dict[MetricKey, int] = {}
        self.distributions: dict[MetricKey, DistributionData] = {}
        self.gauges: dict[MetricKey, GaugeData] = {}
        self._lock = threading.Lock()

    def inc(self, key: MetricKey, n: int = 1) -> None:
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + n

    def update_distribution(self, key: MetricKey, v: float) -> None:
        with self._lock:
            d = self.distributions.get(key)
            if d is None:
                d = self.distributions[key] = DistributionData()
            d.update(v)

    def set_gauge(self, key: MetricKey, v: Any) -> None:
        with self._lock:
            self.gauges[key] = GaugeData(v, time.time())

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "counters": dict(self.counters),
                "distributions": {k: attrs.evolve(v) for k, v in self.distributions.items()},
                "gauges": dict(self.gauges),
            }

    def restore(self, snap: dict) -> None:
        with self._lock:
            self.counters = dict(snap.get("counters", {}))
            self.distributions = dict(snap.get("distributions", {}))
            self.gauges = dict(snap.get("gauges", {}))

    def query(self, namespace: str | None = None, name: str | None = None, step: str | None = None) -> MetricQueryResults:
        def ok(k: MetricKey) -> bool:
            return (
                (namespace is None or k.namespace == namespace)
                and (name is None or k.name == name)
                and (step is None or k.step == step or k.step.endswith("/" + step))
            )

        with self._lock:
            return MetricQueryResults(
                counters={k: v for k, v in self.counters.items() if ok(k)},
                distributions={k: v for k, v in self.distributions.items() if ok(k)},
                gauges={k: v for k, v in self.gauges.items() if ok(k)},
            )


@attrs.frozen
class MetricQueryResults:
    counters: dict[MetricKey, int]
    distributions: dict[MetricKey, DistributionData]
    gauges: dict[MetricKey, GaugeData]

    def counter(self, name: str, namespace: str | None = None) -> int:
        """The sum of the counter ``name`` over all steps."""
        return sum(v for k, v in self.counters.items() if k.name == name and (namespace is None or k.namespace == namespace))

    def __iter__(self) -> Iterator[tuple[MetricKey, Any]]:
        yield from self.counters.items()
        yield from self.distributions.items()
        yield from self.gauges.items()


def set_container(container: MetricsContainer | None) -> contextvars.Token:
    return _current.set(container)


def set_step(step: str) -> contextvars.Token:
    return _current_step.set(step)


class Counter:
    def __init__(self, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name

    def inc(self, n: int = 1) -> None:
        c = _current.get()
        if c is not None:
            c.inc(MetricKey(_current_step.get(), self.namespace, self.name), n)

    def dec(self, n: int = 1) -> None:
        self.inc(-n)


class Distribution:
    def __init__(self, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name

    def update(self, v: float) -> None:
        c = _current.get()
        if c is not None:
            c.update_distribution(MetricKey(_current_step.get(), self.namespace, self.name), v)


class Gauge:
    def __init__(self, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name

    def set(self, v: Any) -> None:
        c = _current.get()
        if c is not None:
            c.set_gauge(MetricKey(_current_step.get(), self.namespace, self.name), v)


class Metrics:
    """Factory, as in Beam: ``Metrics.counter(namespace, name)``."""

    @staticmethod
    def counter(namespace: str | type, name: str) -> Counter:
        return Counter(_ns(namespace), name)

    @staticmethod
    def distribution(namespace: str | type, name: str) -> Distribution:
        return Distribution(_ns(namespace), name)

    @staticmethod
    def gauge(namespace: str | type, name: str) -> Gauge:
        return Gauge(_ns(namespace), name)


def _ns(namespace: str | type) -> str:
    return namespace if isinstance(namespace, str) else f"{namespace.__module__}.{namespace.__qualname__}"
