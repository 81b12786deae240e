"""What the Python functions of a Flink job tell the driver: metric values and the user error
that failed the job, through files in a directory of the run.

Flink's metrics cannot be read back from PyFlink and a Python exception reaches the driver only
as text inside a Java stack trace. So every fluvial function keeps a
:class:`~fluvial.metrics.MetricsContainer` and writes its values to ``metrics-*.pkl`` when Flink
closes it; a function whose user code fails writes ``error-*.pkl`` (the transform label, the
element and the exception) before raising. After the job the runner merges the metrics
(:meth:`SideChannel.metrics`) and raises the recorded error as the same
:class:`~fluvial.errors.UserCodeError` the other runners raise (:meth:`SideChannel.error`).

Works wherever the driver and the TaskManagers share a filesystem (the local mini-cluster, a
cluster on this machine). Files are written to a temporary name and renamed, so a reader never
sees half a file.

>>> import tempfile
>>> from fluvial.metrics import MetricKey, MetricsContainer
>>> ch = SideChannel(tempfile.mkdtemp())
>>> c = MetricsContainer(); c.inc(MetricKey("Parse", "ns", "seen"), 2)
>>> ch.write_metrics(c); ch.write_metrics(c)
>>> ch.metrics().counters[MetricKey("Parse", "ns", "seen")]
4
"""

from __future__ import annotations

import glob
import io
import os
import pickle
import time
import uuid
from typing import Any

from fluvial.errors import FluvialError, UserCodeError
from fluvial.metrics import DistributionData, MetricsContainer


class SideChannel:
    """The directory ``path`` shared by the driver and the job's Python functions."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _write(self, prefix: str, obj: Any) -> None:
        os.makedirs(self.path, exist_ok=True)
        name = f"{prefix}-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.pkl"
        tmp = os.path.join(self.path, "." + name)
        with open(tmp, "wb") as f:
            f.write(obj)
        os.replace(tmp, os.path.join(self.path, name))

    # -- metrics -----------------------------------------------------------------------------
    def write_metrics(self, container: MetricsContainer) -> None:
        snap = container.snapshot()
        if any(snap.values()):
            self._write("metrics", pickle.dumps(snap))

    def metrics(self) -> MetricsContainer:
        """Every function's metric values, merged (counters and distributions add up; for a
        gauge the latest value wins)."""
        out = MetricsContainer()
        for path in sorted(glob.glob(os.path.join(self.path, "metrics-*.pkl"))):
            with open(path, "rb") as f:
                snap = pickle.load(f)
            for k, v in snap["counters"].items():
                out.counters[k] = out.counters.get(k, 0) + v
            for k, d in snap["distributions"].items():
                cur = out.distributions.get(k)
                if cur is None:
                    out.distributions[k] = DistributionData(d.count, d.sum, d.min, d.max)
                else:
                    cur.count += d.count
                    cur.sum += d.sum
                    cur.min = d.min if cur.min is None or (d.min is not None and d.min < cur.min) else cur.min
                    cur.max = d.max if cur.max is None or (d.max is not None and d.max > cur.max) else cur.max
            for k, g in snap["gauges"].items():
                cur = out.gauges.get(k)
                if cur is None or g.timestamp >= cur.timestamp:
                    out.gauges[k] = g
        return out

    # -- errors ------------------------------------------------------------------------------
    # fluvial's own errors (BadRecordError, ...) keep their type and attributes across the
    # pickle, so the driver can tell which ones a restart cannot heal
    def write_error(self, exc: BaseException) -> None:
        """Record ``exc`` (raised in a function) so the driver can raise it again. A
        UserCodeError keeps its label, element and cause where they pickle, their repr
        otherwise."""
        if isinstance(exc, UserCodeError):
            parts: tuple = ("user", exc.label, exc.element, exc.cause)
        else:
            parts = ("other", exc)
        try:
            data = _dumps(parts)
            pickle.loads(data)
        except Exception:  # noqa: BLE001 - unpicklable element or exception
            if isinstance(exc, UserCodeError):
                cause = RuntimeError(f"{type(exc.cause).__name__}: {exc.cause}")
                data = pickle.dumps(("user", exc.label, repr(exc.element), cause))
            else:
                data = pickle.dumps(("text", type(exc).__name__, str(exc)))
        self._write("error", data)

    def error(self) -> BaseException | None:
        """The first error a function recorded, as an exception to raise, or None."""
        paths = sorted(glob.glob(os.path.join(self.path, "error-*.pkl")))
        if not paths:
            return None
        return self._load_error(paths[0])

    def errors(self) -> list[BaseException]:
        """Every error the functions recorded, oldest first (a job that Flink restarted may
        have recorded several)."""
        return [self._load_error(p)
                for p in sorted(glob.glob(os.path.join(self.path, "error-*.pkl")))]

    def _load_error(self, path: str) -> BaseException:
        with open(path, "rb") as f:
            parts = pickle.load(f)
        if parts[0] == "user":
            _, label, element, cause = parts
            err = UserCodeError(label, element, cause)
            err.__cause__ = cause
            return err
        if parts[0] == "other":
            return parts[1]
        return FluvialError(f"{parts[1]}: {parts[2]}")


def _rebuild_error(cls: type, message: str, state: dict) -> BaseException:
    """A fluvial error of class ``cls`` with ``message`` and attributes ``state``, built without
    calling its constructor (whose arguments differ from ``Exception.args``)."""
    e = cls.__new__(cls)
    BaseException.__init__(e, message)
    e.__dict__.update(state)
    return e


class _ErrorPickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, FluvialError) and not isinstance(obj, OSError):
            return _rebuild_error, (type(obj), str(obj), dict(obj.__dict__))
        return NotImplemented


def _dumps(obj: Any) -> bytes:
    buf = io.BytesIO()
    _ErrorPickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()
