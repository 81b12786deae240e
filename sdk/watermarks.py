"""Watermarks: what a source declares, one generator per split, one combinator over inputs.

The watermark says "no more elements earlier than this are expected"; elements behind it are
late. Sources, Kafka's partitions and the direct runner's operators derive their watermarks
with the two pieces of this module, so the rules below are the same wherever fluvial computes a
watermark; a runner on another engine uses the same classes.

**Strategies** (what a source declares): :class:`BoundedOutOfOrderness` ``(max_delay,
idle_timeout=None)`` and :class:`Monotonic` ``(idle_timeout=None)``. ``strategy.create()``
makes a :class:`WatermarkGenerator` for one split (a Kafka partition, a file, a whole source).

**Generator** (one split):

* its watermark is the highest timestamp seen minus the bounded out-of-orderness (``MIN``
  before the first record); it never moves backwards (an out-of-order record does not lower it);
* **the idle rule** (the only one): with an ``idle_timeout``, a split is *idle* when nothing
  happened on it for ``idle_timeout`` of processing time, "something" being a record or data
  waiting to be handed out (:meth:`WatermarkGenerator.on_activity`). The idle clock starts when
  the split starts being read (:meth:`WatermarkGenerator.start`: the reader opened, or was
  restored from a checkpoint), so a split that never produces is idle ``idle_timeout`` after
  the read began and cannot stall a pipeline forever. A split becomes active again with its
  next record. Without ``idle_timeout`` a split is never idle: it holds the watermark back
  until it produces (or finishes).

**Combinator** (:class:`WatermarkCombinator`, the inputs of an operator or the splits of a
source):

* its watermark is the minimum over the *live* inputs;
* an idle input is left out until it is active again; a *finished* input (it reached the end of
  time, e.g. a bounded split that was read to its end) is left out for good;
* when every input has finished, the watermark is the end of time;
* when no input is live but not all have finished (all idle), the watermark holds its value and
  the combinator itself counts as idle (:attr:`WatermarkCombinator.idle`), so whoever consumes it
  leaves it out in turn;
* the watermark never moves backwards: an input that comes back from idleness behind the
  current value does not lower it (its records behind the watermark are late; that is the price
  of an idle timeout);
* changes apply in the order they happen: :meth:`WatermarkCombinator.follow` applies the
  idleness of several splits in the order their idle time came, so a source's watermark does
  not depend on how often it is sampled (two partitions, one that never produced: it went idle
  first, so the watermark reaches the other's before both are idle and it holds);
* :meth:`WatermarkCombinator.holding_back` names the live inputs at the minimum while another
  input is ahead of them: the inputs that hold the watermark back.

Checkpoints keep the generators' highest timestamps and the combinator's watermarks; idleness
is processing-time state and is not restored (the idle clock restarts when the read restarts).

Pure Python, no engine imports: the direct, Beam and Flink runners use these classes as they are.

>>> g = BoundedOutOfOrderness(5).create()
>>> g.on_event(100_000); g.current()
95000
>>> c = WatermarkCombinator(["a", "b"])
>>> c.advance("a", 10_000); c.advance("b", 4_000); c.current()
4000
>>> c.holding_back()
['b']
>>> c.set_idle("b", True); c.current()
10000
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import attrs

from fluvial.errors import PipelineConstructionError
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, to_millis


class WatermarkGenerator:
    """One split's watermark: highest timestamp seen − ``delay_ms``; idle after ``idle_ms`` of
    processing time without activity (never, when ``idle_ms`` is None). See the module rules.

    >>> g = WatermarkGenerator(delay_ms=1_000, idle_ms=5_000)
    >>> g.start(now_ms=0); g.on_event(10_000, now_ms=1_000); g.current()
    9000
    >>> g.is_idle(5_999), g.is_idle(6_000)
    (False, True)
    """

    __slots__ = ("delay_ms", "idle_ms", "max_ts", "last_active")

    def __init__(self, delay_ms: int = 0, idle_ms: int | None = None) -> None:
        self.delay_ms = delay_ms
        self.idle_ms = idle_ms
        self.max_ts = MIN_TIMESTAMP_MS
        self.last_active: int | None = None  # processing time of the last activity

    def start(self, now_ms: int) -> None:
        """The split starts being read now: the idle clock starts (restarts after a restore)."""
        self.last_active = now_ms

    def on_event(self, ts_ms: int, now_ms: int | None = None) -> None:
        """A record with event time ``ts_ms`` was handed out (at processing time ``now_ms``)."""
        if ts_ms > self.max_ts:
            self.max_ts = ts_ms
        if now_ms is not None:
            self.last_active = now_ms

    def on_activity(self, now_ms: int) -> None:
        """Data is waiting on this split (fetched, not yet handed out): it is not idle."""
        self.last_active = now_ms

    def current(self) -> int:
        if self.max_ts == MIN_TIMESTAMP_MS:
            return MIN_TIMESTAMP_MS
        return max(self.max_ts - self.delay_ms, MIN_TIMESTAMP_MS)

    def is_idle(self, now_ms: int) -> bool:
        """Idle: an idle timeout is set, the split has started, and nothing happened on it for
        ``idle_ms`` (since its last activity or since it started)."""
        if self.idle_ms is None or self.last_active is None:
            return False
        return now_ms - self.last_active >= self.idle_ms

    def idle_from(self) -> int | None:
        """The processing time at which the split is (or will be) idle if nothing happens;
        None when it cannot become idle (no idle timeout, or not started)."""
        if self.idle_ms is None or self.last_active is None:
            return None
        return self.last_active + self.idle_ms

    def snapshot(self) -> int:
        return self.max_ts

    def restore(self, st: Any) -> None:
        """Restore :meth:`snapshot`'s value (older checkpoints stored ``(max_ts, last_active)``;
        the processing-time part is not restored: call :meth:`start` when reading resumes)."""
        self.max_ts = st[0] if isinstance(st, tuple) else st


class WatermarkCombinator:
    """The watermark of several inputs (keys: input indexes, partitions, source names): the
    minimum over live inputs, idle ones left out until active again, finished ones for good;
    all idle: hold; never backwards. See the module rules.

    >>> c = WatermarkCombinator([0, 1])
    >>> c.advance(0, 5_000); c.current()       # input 1 has nothing yet: it holds
    -9223372036854775
    >>> c.set_idle(1, True); c.current(), c.idle
    (5000, False)
    >>> c.finish(0); c.current(), c.idle       # finished and idle: nothing live, hold
    (5000, True)
    """

    __slots__ = ("wms", "idle_inputs", "finished", "value", "_dirty")

    def __init__(self, inputs: Iterable[Hashable]) -> None:
        self.wms: dict[Hashable, int] = dict.fromkeys(inputs, MIN_TIMESTAMP_MS)
        if not self.wms:
            raise ValueError("WatermarkCombinator needs at least one input")
        self.idle_inputs: set[Hashable] = set()
        self.finished: set[Hashable] = set()
        self.value = MIN_TIMESTAMP_MS
        self._dirty = False

    # -- what the inputs report --------------------------------------------------------------
    def advance(self, key: Hashable, wm: int) -> None:
        """Input ``key``'s watermark is now ``wm`` (a lower value than before is ignored; the end
        of time finishes the input)."""
        if wm > self.wms[key]:
            self.wms[key] = wm
            if wm >= MAX_TIMESTAMP_MS:
                self.finished.add(key)
            self._dirty = True

    def set_idle(self, key: Hashable, idle: bool) -> None:
        """Input ``key`` became idle (left out) or active again."""
        if idle:
            if key not in self.idle_inputs:
                self.idle_inputs.add(key)
                self._dirty = True
        elif key in self.idle_inputs:
            self.idle_inputs.discard(key)
            self._dirty = True

    def finish(self, key: Hashable) -> None:
        """Input ``key`` has ended: left out for good."""
        if key not in self.finished:
            self.finished.add(key)
            self._dirty = True

    def follow(self, gens: Mapping[Hashable, WatermarkGenerator], now_ms: int) -> int:
        """Take each input's watermark and idleness from its generator (one per input, same
        keys) at processing time ``now_ms`` and return the combined watermark. Inputs that
        became idle since the last call are applied in the order they became idle, so the result
        does not depend on how often this is called: when the last live inputs go idle, the
        watermark has already reached their minimum.

        >>> a, b = WatermarkGenerator(0, 5_000), WatermarkGenerator(0, 5_000)
        >>> a.start(0); b.start(0); a.on_event(9_000, now_ms=100)   # b never produces
        >>> WatermarkCombinator(["a", "b"]).follow({"a": a, "b": b}, now_ms=60_000)
        9000
        """
        turning: dict[int, list[Hashable]] = {}
        for k, g in gens.items():
            self.advance(k, g.current())
            if not g.is_idle(now_ms):
                self.set_idle(k, False)
            elif k not in self.idle_inputs:
                turning.setdefault(g.idle_from(), []).append(k)  # type: ignore[arg-type]
        for at in sorted(turning):
            self.current()  # the watermark just before these inputs went idle
            for k in turning[at]:
                self.set_idle(k, True)
        return self.current()

    # -- the combined watermark --------------------------------------------------------------
    def live(self) -> list[Hashable]:
        """The inputs in the minimum: neither idle nor finished."""
        out, skip = self.finished, self.idle_inputs
        return [k for k in self.wms if k not in out and k not in skip]

    def current(self) -> int:
        """The combined watermark (see the module rules); never lower than before."""
        if self._dirty:
            self._dirty = False
            if len(self.finished) == len(self.wms):
                self.value = MAX_TIMESTAMP_MS
            else:
                live = self.live()
                if live:
                    lo = min(self.wms[k] for k in live)
                    if lo > self.value:
                        self.value = lo
        return self.value

    @property
    def idle(self) -> bool:
        """True when no input is live but not all have finished (all idle): the combined
        watermark holds and a consumer should leave this combinator out of its own minimum."""
        return len(self.finished) < len(self.wms) and not self.live()

    def holding_back(self) -> list[Hashable]:
        """The live inputs at the minimum while some other unfinished input is ahead of them
        (those holding the watermark back); empty when all unfinished inputs are level."""
        live = self.live()
        if not live:
            return []
        lo = min(self.wms[k] for k in live)
        ahead = any(w > lo for k, w in self.wms.items() if k not in self.finished)
        return [k for k in live if self.wms[k] == lo] if ahead else []

    # -- checkpoints -------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Watermarks, finished inputs and the combined value (idleness is not kept)."""
        return {"wms": dict(self.wms), "finished": set(self.finished), "value": self.value}

    def restore(self, st: dict[str, Any]) -> None:
        """Restore a :meth:`snapshot` (inputs unknown here are ignored); every input is active."""
        for k, w in st["wms"].items():
            if k in self.wms:
                self.wms[k] = w
        self.finished = {k for k in st["finished"] if k in self.wms}
        self.idle_inputs = set()
        self.value = st["value"]
        self._dirty = True


class WatermarkStrategy:
    """How a source's watermark follows its records; ``create()`` makes one split's generator."""

    delay_ms: int
    idle_ms: int | None

    def create(self) -> WatermarkGenerator:
        return WatermarkGenerator(self.delay_ms, self.idle_ms)


def _idle(v: object) -> int | None:
    if v is None:
        return None
    ms = to_millis(v)
    if ms <= 0:
        raise PipelineConstructionError(f"idle_timeout must be positive seconds, got {v!r}")
    return ms


@attrs.frozen
class BoundedOutOfOrderness(WatermarkStrategy):
    """Watermark = highest timestamp seen − ``max_delay`` seconds; with ``idle_timeout``
    (seconds) an input without activity for that long is left out (see the module rules).

    >>> BoundedOutOfOrderness(5, idle_timeout=30).idle_ms
    30000
    """

    max_delay: object
    idle_timeout: object = None
    delay_ms: int = attrs.field(init=False)
    idle_ms: int | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        d = to_millis(self.max_delay)
        if d < 0:
            raise PipelineConstructionError(
                f"BoundedOutOfOrderness: max_delay must be >= 0, got {self.max_delay!r}")
        object.__setattr__(self, "delay_ms", d)
        object.__setattr__(self, "idle_ms", _idle(self.idle_timeout))


@attrs.frozen
class Monotonic(WatermarkStrategy):
    """Timestamps never decrease: watermark = highest timestamp seen.

    >>> Monotonic().create().delay_ms
    0
    """

    idle_timeout: object = None
    delay_ms: int = attrs.field(init=False, default=0)
    idle_ms: int | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "idle_ms", _idle(self.idle_timeout))

