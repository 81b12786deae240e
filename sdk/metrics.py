"""A Beam-like metrics API: counters, distributions and gauges, readable from the result.

Inside a DoFn:

>>> from fluvial.metrics import Metrics
>>> counter = Metrics.counter("myns", "seen")

Values are attributed to the transform being executed (its full label, the "step").
``result.metrics().query()`` returns them, optionally filtered as in Beam:

>>> f = MetricsFilter().with_namespace("myns").with_name("seen").with_step("Parse")
>>> f.matches(MetricKey("Parse/ParDo", "myns", "seen")), f.matches(MetricKey("Parser", "myns", "seen"))
(True, False)

The result has the dicts ``counters``, ``distributions`` and ``gauges`` (MetricKey -> value) and,
as Beam's, ``results["counters"]`` lists :class:`MetricResult` (``key``, ``committed``,
``attempted``).
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
class MetricName:
    """A metric's namespace and name (Beam's ``MetricName``)."""

    namespace: str
    name: str


@attrs.frozen
class MetricKey:
    """Where a value belongs: the step (full transform label), namespace and name."""

    step: str
    namespace: str
    name: str

    @property
    def metric(self) -> MetricName:
        """Beam's spelling: ``key.metric.namespace``, ``key.metric.name``."""
        return MetricName(self.namespace, self.name)


def _matches_sub_path(actual: str, wanted: str) -> bool:
    """Beam's step matching: ``wanted`` is a run of whole ``/``-separated parts of ``actual``."""
    a, w = actual.split("/"), wanted.split("/")
    return any(a[i : i + len(w)] == w for i in range(len(a) - len(w) + 1))


class MetricsFilter:
    """Selects metrics by namespace, name and step, as Beam's ``MetricsFilter``: a step matches
    a run of whole parts of the full label (``"Parse"`` matches ``"Parse/ParDo"`` and
    ``"Outer/Parse"``, not ``"Parser"``). Several values of one field match any of them.

    >>> MetricsFilter().with_name("seen").with_steps(["A", "B"]).matches(MetricKey("B", "ns", "seen"))
    True
    """

    def __init__(self) -> None:
        self.namespaces: set[str] = set()
        self.names: set[str] = set()
        self.steps: set[str] = set()

    def with_namespace(self, namespace: str | type) -> MetricsFilter:
        return self.with_namespaces([namespace])

    def with_namespaces(self, namespaces: Any) -> MetricsFilter:
        self.namespaces.update(_ns(n) for n in namespaces)
        return self

    def with_name(self, name: str) -> MetricsFilter:
        return self.with_names([name])

    def with_names(self, names: Any) -> MetricsFilter:
        self.names.update(names)
        return self

    def with_step(self, step: str) -> MetricsFilter:
        return self.with_steps([step])

    def with_steps(self, steps: Any) -> MetricsFilter:
        self.steps.update(steps)
        return self

    def matches(self, key: MetricKey) -> bool:
        return (
            (not self.namespaces or key.namespace in self.namespaces)
            and (not self.names or key.name in self.names)
            and (not self.steps or any(_matches_sub_path(key.step, s) for s in self.steps))
        )


@attrs.frozen
class MetricResult:
    """One metric's value, as Beam's: ``committed`` and ``attempted`` (equal here: values of
    work replayed after a restore are not counted twice)."""

    key: MetricKey
    committed: Any
    attempted: Any

    @property
    def result(self) -> Any:
        return self.committed


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

    def query(
        self,
        filter: MetricsFilter | None = None,
        *,
        namespace: str | type | None = None,
        name: str | None = None,
        step: str | None = None,
    ) -> MetricQueryResults:
        """The metrics matching ``filter`` and the keyword criteria (all of them)."""
        f = MetricsFilter()
        if namespace is not None:
            f.with_namespace(namespace)
        if name is not None:
            f.with_name(name)
        if step is not None:
            f.with_step(step)

        def ok(k: MetricKey) -> bool:
            return f.matches(k) and (filter is None or filter.matches(k))

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

    def __getitem__(self, kind: str) -> list[MetricResult]:
        """Beam's shape: ``results["counters"]`` (or "distributions", "gauges") as a list of
        :class:`MetricResult`."""
        if kind not in ("counters", "distributions", "gauges"):
            raise KeyError(f"{kind!r}: use 'counters', 'distributions' or 'gauges'")
        return [MetricResult(k, v, v) for k, v in getattr(self, kind).items()]

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
