"""Synthetic transactions for demos and benchmarks: deterministic, optionally rate-limited,
bounded (``count``) or unbounded (``count=None``).

Event ``i`` is a function of ``(seed, i)`` only (a counter-based hash, no sequential random
state), so output does not depend on batch sizes, and a restored reader resumes exactly at its
checkpointed event index. Defaults:

- key: uniform over ``keys`` accounts; ``keys`` is a count (accounts ``"acct-00000"``, ...) or
  a sequence of keys;
- amount: uniform in [1, 500), rounded to cents;
- timestamp (ms): ``start + i * spacing + jitter`` with jitter uniform in ``[0, max_jitter]``
  (all in seconds), so timestamps increase with ``i`` and are out of order by at most
  ``max_jitter``; the watermark is ``BoundedOutOfOrderness(max_jitter)``, so with the defaults
  no event is late.

Two flavours: dicts ``{"account": str, "amount": float, "ts": int ms}`` (``columnar=False``),
or ``ColumnBatch(keys, values, timestamps)`` NumPy batches (``columnar=True``; keys are the
integer account ids when ``keys`` is a count, else the given keys; values are the amounts).

Custom columns: ``key_fn(i, u)``, ``value_fn(i, u)`` and ``timestamp_fn(i, u)`` receive the
event indices ``i`` (int64 array) and deterministic uniforms ``u`` in [0, 1) for them, and
return arrays (key ids in ``[0, keys)``, values, int64 milliseconds). Pass a matching
``watermark`` with a custom ``timestamp_fn``.

>>> import fluvial as fl
>>> from fluvial.transforms import Count
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     events = p | SyntheticEvents(count=1000, keys=10, seed=7)
...     assert_that(events | Count.Globally(), equal_to([1000]))
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fluvial.columnar import ColumnBatch
from fluvial.errors import PipelineConstructionError
from fluvial.ptransform import PTransform
from fluvial.source import Read, Source, SourceContext, SourceReader
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, to_millis
from fluvial.watermarks import BoundedOutOfOrderness, WatermarkStrategy

__all__ = ["SyntheticEvents", "SyntheticSource", "SyntheticReader"]

ColumnFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

_M64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_SALT_KEY, _SALT_VALUE, _SALT_TS = 0x1F0A, 0x2E1B, 0x3D2C


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _C1
    z = (z ^ (z >> np.uint64(27))) * _C2
    return z ^ (z >> np.uint64(31))


def uniforms(seed: int, salt: int, indices: np.ndarray) -> np.ndarray:
    """Deterministic uniforms in [0, 1), one per index, for a seed and a stream salt.

    >>> float(uniforms(1, 0, np.arange(3))[0]) == float(uniforms(1, 0, np.arange(1))[0])
    True
    """
    base = np.uint64(((seed * 0x632BE59BD9B4E019) ^ (salt * 0x85EBCA77C2B2AE63)) & _M64)
    z = indices.astype(np.uint64) * _GOLDEN + base
    return (_mix(z) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


class SyntheticReader(SourceReader):
    """Hands out events from index ``index``; snapshot/restore the index (and watermark)."""

    def __init__(self, source: SyntheticSource, clock: Callable[[], float]) -> None:
        self.src = source
        self.clock = clock
        self.index = 0
        self.gen = source.watermark.create()
        self._t0: float | None = None
        self._i0 = 0

    # -- generation ----------------------------------------------------------------------------
    def columns(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Key ids, values and timestamps (ms) of events ``start .. start + n - 1``."""
        s = self.src
        idx = np.arange(start, start + n, dtype=np.int64)
        uk = uniforms(s.seed, _SALT_KEY, idx)
        uv = uniforms(s.seed, _SALT_VALUE, idx)
        ut = uniforms(s.seed, _SALT_TS, idx)
        if s.key_fn is not None:
            keys = np.asarray(s.key_fn(idx, uk))
        else:
            keys = (uk * s.num_keys).astype(np.int64)
        if s.value_fn is not None:
            values = np.asarray(s.value_fn(idx, uv))
        else:
            values = np.round(1.0 + uv * 499.0, 2)
        if s.timestamp_fn is not None:
            ts = np.asarray(s.timestamp_fn(idx, ut), dtype=np.int64)
        else:
            jitter = (ut * (s.jitter_ms + 1)).astype(np.int64)
            ts = s.start_ms + (idx * s.spacing_us) // 1000 + jitter
        return keys, values, ts

    def _budget(self, max_records: int) -> int:
        n = max_records
        if self.src.count is not None:
            n = min(n, self.src.count - self.index)
        rate = self.src.rate
        if rate is not None and n > 0:
            now = self.clock()
            if self._t0 is None:
                self._t0, self._i0 = now, self.index
            due = self._i0 + math.floor((now - self._t0) * rate) - self.index
            n = min(n, due)
        return max(n, 0)

    def poll(self, max_records: int) -> Any:
        s = self.src
        if s.count is not None and self.index >= s.count:
            return None
        n = self._budget(max_records)
        if n == 0:
            return []
        keys, values, ts = self.columns(self.index, n)
        self.index += n
        self.gen.on_event(int(ts.max()))
        if s.columnar:
            if s.key_names is not None:
                keys = s.key_names[keys]
            return ColumnBatch(keys, values, ts)
        names = s.key_names
        ks = keys.tolist()
        accounts = [f"acct-{k:05d}" for k in ks] if names is None else names[keys].tolist()
        tl = ts.tolist()
        return [
            ({"account": a, "amount": v, "ts": t}, t)
            for a, v, t in zip(accounts, values.tolist(), tl, strict=True)
        ]

    def watermark(self) -> int:
        if self.src.count is not None and self.index >= self.src.count:
            return MAX_TIMESTAMP_MS
        if self.index == 0:
            return MIN_TIMESTAMP_MS
        return self.gen.current()

    def snapshot(self) -> dict:
        return {"index": self.index, "watermark": self.gen.snapshot()}

    def restore(self, state: dict) -> None:
        self.index = state["index"]
        self.gen.restore(state["watermark"])
        self._t0 = None  # the rate restarts from the restored position


class SyntheticSource(Source):
    """A source of synthetic transactions (see the module docstring).

    ``rate`` is events per second of processing time (``None``: as fast as polled), measured
    with ``clock`` (seconds; default ``time.monotonic``); when nothing is due, ``poll``
    returns ``[]``. ``count=None`` makes the source unbounded.
    """

    def __init__(
        self,
        count: int | None = 10_000,
        rate: float | None = None,
        keys: int | Sequence[Any] = 100,
        seed: int = 0,
        value_fn: ColumnFn | None = None,
        *,
        key_fn: ColumnFn | None = None,
        timestamp_fn: ColumnFn | None = None,
        start: float = 0,
        spacing: float = 0.1,
        max_jitter: float = 1.0,
        columnar: bool = False,
        watermark: WatermarkStrategy | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        name = "SyntheticEvents"
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise PipelineConstructionError(
                f"{name}: count must be a non-negative integer or None (unbounded), got {count!r}"
            )
        if rate is not None and (isinstance(rate, bool) or not rate > 0):
            raise PipelineConstructionError(
                f"{name}: rate must be positive events per second or None, got {rate!r}"
            )
        if isinstance(keys, bool):
            raise PipelineConstructionError(f"{name}: keys must be a count or a sequence")
        if isinstance(keys, int):
            if keys < 1:
                raise PipelineConstructionError(f"{name}: keys must be >= 1, got {keys!r}")
            self.num_keys = keys
            self.key_names: np.ndarray | None = None
        else:
            seq = list(keys)
            if not seq:
                raise PipelineConstructionError(f"{name}: keys must not be empty")
            self.num_keys = len(seq)
            self.key_names = np.empty(len(seq), dtype=object)
            self.key_names[:] = seq
        for label, fn in (("value_fn", value_fn), ("key_fn", key_fn), ("timestamp_fn", timestamp_fn)):
            if fn is not None and not callable(fn):
                raise PipelineConstructionError(f"{name}: {label} must be callable, got {fn!r}")
        if to_millis(max_jitter) < 0 or to_millis(spacing) < 0:
            raise PipelineConstructionError(f"{name}: spacing and max_jitter must be >= 0 seconds")
        self.count = count
        self.rate = rate
        self.seed = int(seed)
        self.value_fn = value_fn
        self.key_fn = key_fn
        self.timestamp_fn = timestamp_fn
        self.start_ms = to_millis(start)
        self.spacing_us = round(float(spacing) * 1_000_000)
        self.jitter_ms = to_millis(max_jitter)
        self.columnar = columnar
        self.watermark = watermark or BoundedOutOfOrderness(self.jitter_ms / 1000)
        self.clock = clock
        self.is_bounded = count is not None

    def open(self, ctx: SourceContext | None) -> SyntheticReader:
        return SyntheticReader(self, self.clock or time.monotonic)

    def display_name(self) -> str:
        return "SyntheticSource"


class SyntheticEvents(PTransform):
    """``p | SyntheticEvents(count=..., rate=..., keys=..., seed=...)``: reads a
    :class:`SyntheticSource` with the same arguments.

    >>> import fluvial as fl
    >>> p = fl.Pipeline(argv=["--runner", "direct"])
    >>> tx = p | SyntheticEvents(count=None, rate=1000)  # unbounded, 1000 events/s
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.source = SyntheticSource(*args, **kwargs)

    def expand(self, pbegin: Any) -> Any:
        return pbegin | "Read" >> Read(self.source)
