"""Triggers: when a window's pane is emitted (Apache Beam's trigger model).

A trigger is an immutable description. Its semantics are methods over an injected per-window
state dict ``st`` and a context ``ctx`` (``ctx.watermark``, ``ctx.processing_time`` in ms and
``ctx.set_processing_timer(t)``). Nested triggers keep their state under a path prefix. The same
code runs on every runner that executes fluvial's own window driver; only state and timers differ.

Rules (Beam's model):

* ``should_fire`` is evaluated after every element and on every timer of the window.
* "Once" triggers (AfterWatermark, AfterCount, AfterProcessingTime, AfterAll, AfterAny,
  AfterEach of once triggers, Never) finish after they fire; a finished root trigger closes the
  window. ``Repeatedly`` resets its subtrigger after each firing and never finishes.
* ``AfterWatermark`` fires when the input watermark passes the end of the window
  (``watermark > window.max_timestamp``).

Batches: while the watermark and processing time stand still, a runner may hand a window
several elements at once. ``quiet(path, st, window, ctx)`` bounds how many more elements the
trigger takes before ``should_fire`` can become true (after each of the first ``quiet - 1``
it is false; 1: it may fire after the next), and ``on_elements(..., n)`` is ``n`` calls of
``on_element``. The window driver adds up to ``quiet`` elements, then asks ``should_fire``
once: the same panes as one element at a time. A trigger that does not know says 1 (the
default), and its elements go one at a time.

>>> t = AfterWatermark(early=AfterCount(2), late=AfterCount(1))
>>> t.is_once
False
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from fluvial.errors import PipelineConstructionError
from fluvial.timeutil import to_millis


class AccumulationMode(enum.Enum):
    """Whether a window's later panes include the elements of earlier ones."""

    DISCARDING = "DISCARDING"
    ACCUMULATING = "ACCUMULATING"


class TriggerContext(Protocol):
    watermark: int
    processing_time: int

    def set_processing_timer(self, t: int) -> None: ...


State = dict[str, Any]
FIN = "!fin"
QUIET = 1 << 62  # "cannot fire on elements while time stands still"


class Trigger:
    """Base of all triggers. Subclasses implement the state-machine methods."""

    is_once: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that changes how a trigger counts or fires, without saying how that bounds
        its batches, gets the element-at-a-time defaults of :meth:`quiet` and
        :meth:`on_elements` back (a subclass of ``AfterCount`` with its own ``should_fire``
        must not inherit ``AfterCount``'s arithmetic)."""
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:  # the built-in triggers state their bounds themselves
            return
        own = vars(cls)
        if "quiet" not in own and own.keys() & {"on_element", "should_fire", "on_fire"}:
            cls.quiet = Trigger.quiet  # type: ignore[method-assign]
        if "on_elements" not in own and "on_element" in own:
            cls.on_elements = Trigger.on_elements  # type: ignore[method-assign]

    def subtriggers(self) -> Sequence[Trigger]:
        return ()

    def validate(self, label: str) -> None:
        problem = getattr(self, "problem", None)
        if problem:
            raise PipelineConstructionError(f"transform '{label}': {problem}")
        for s in self.subtriggers():
            s.validate(label)

    # -- semantics -------------------------------------------------------------------------
    def on_element(self, path: str, st: State, window: Any, ctx: TriggerContext) -> None:
        raise NotImplementedError

    def should_fire(self, path: str, st: State, window: Any, ctx: TriggerContext) -> bool:
        raise NotImplementedError

    def on_fire(self, path: str, st: State, window: Any, ctx: TriggerContext) -> bool:
        """Called when the trigger fires; returns True when the trigger is finished."""
        raise NotImplementedError

    def quiet(self, path: str, st: State, window: Any, ctx: TriggerContext) -> int:
        """A lower bound (>= 1) on the elements this trigger takes before ``should_fire`` can
        become true, with the watermark and processing time of ``ctx`` (see the module's rule
        on batches). 1 unless a trigger knows better."""
        return 1

    def on_elements(self, path: str, st: State, window: Any, ctx: TriggerContext, n: int) -> None:
        """``n`` elements arrived: the same as ``n`` calls of :meth:`on_element`."""
        for _ in range(n):
            self.on_element(path, st, window, ctx)

    def reset(self, path: str, st: State) -> None:
        for k in [k for k in st if k == path or k.startswith(path + ".") or k.startswith(path + "!")]:
            del st[k]

    def merge_state(
        self, path: str, target: State, sources: Sequence[State], window: Any, ctx: TriggerContext
    ) -> None:
        """Combine the trigger state of merged windows into ``target`` (an empty dict)."""
        if any(s.get(path + FIN) for s in sources):
            target[path + FIN] = True
        for i, sub in enumerate(self.subtriggers()):
            sub.merge_state(f"{path}.{i}", target, sources, window, ctx)


def _finished(path: str, st: State) -> bool:
    return bool(st.get(path + FIN))


def _require_once(trigger: Trigger, where: str, label: str) -> None:
    if not isinstance(trigger, Trigger):
        raise PipelineConstructionError(
            f"transform '{label}': {where} must be a Trigger, got {trigger!r}"
        )
    if not trigger.is_once:
        raise PipelineConstructionError(
            f"transform '{label}': {where} must be a trigger that fires once "
            f"(AfterCount, AfterProcessingTime, AfterWatermark, AfterAll, AfterAny, AfterEach), "
            f"got {trigger!r}; a repeating trigger cannot be used there"
        )


@attrs.frozen
class DefaultTrigger(Trigger):
    """Fires when the watermark passes the end of the window, and again for every late element:
    ``Repeatedly(AfterWatermark())``."""

    is_once = False

    def on_element(self, path, st, window, ctx):
        pass

    def should_fire(self, path, st, window, ctx):
        return ctx.watermark > window.max_timestamp_ms

    def quiet(self, path, st, window, ctx):
        return 1 if ctx.watermark > window.max_timestamp_ms else QUIET

    def on_elements(self, path, st, window, ctx, n):
        pass

    def on_fire(self, path, st, window, ctx):
        return False

    def merge_state(self, path, target, sources, window, ctx):
        pass


@attrs.frozen
class Never(Trigger):
    """Never fires; the window emits only its final pane when it expires."""

    def on_element(self, path, st, window, ctx):
        pass

    def should_fire(self, path, st, window, ctx):
        return False

    def quiet(self, path, st, window, ctx):
        return QUIET

    def on_elements(self, path, st, window, ctx, n):
        pass

    def on_fire(self, path, st, window, ctx):
        return True


def _as_ms(v: object) -> int:
    return to_millis(v)


@attrs.frozen
class AfterProcessingTime(Trigger):
    """Fires once, ``delay`` seconds of processing time after the first element of the pane."""

    delay: object = 0
    delay_ms: int = attrs.field(init=False)
    problem: str | None = attrs.field(init=False, default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        try:
            ms = _as_ms(self.delay)
        except TypeError as e:
            ms, problem = 0, f"AfterProcessingTime: delay {e}"
        else:
            problem = None if ms >= 0 else f"AfterProcessingTime: delay must be >= 0 seconds, got {self.delay!r}"
        object.__setattr__(self, "delay_ms", max(ms, 0))
        object.__setattr__(self, "problem", problem)

    def on_element(self, path, st, window, ctx):
        if st.get(path) is None:
            deadline = ctx.processing_time + self.delay_ms
            st[path] = deadline
            ctx.set_processing_timer(deadline)

    def should_fire(self, path, st, window, ctx):
        deadline = st.get(path)
        return deadline is not None and ctx.processing_time >= deadline

    def quiet(self, path, st, window, ctx):
        deadline = st.get(path)
        if deadline is None:  # the first element sets it ``delay`` after now
            return 1 if self.delay_ms == 0 else QUIET
        return 1 if ctx.processing_time >= deadline else QUIET

    def on_elements(self, path, st, window, ctx, n):
        if n > 0:
            self.on_element(path, st, window, ctx)  # only the first element sets the deadline

    def on_fire(self, path, st, window, ctx):
        return True

    def merge_state(self, path, target, sources, window, ctx):
        super().merge_state(path, target, sources, window, ctx)
        deadlines = [s[path] for s in sources if s.get(path) is not None]
        if deadlines:
            target[path] = min(deadlines)
            ctx.set_processing_timer(target[path])


@attrs.frozen
class AfterCount(Trigger):
    """Fires once the pane holds at least ``count`` elements."""

    count: int
    problem: str | None = attrs.field(init=False, default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            object.__setattr__(
                self,
                "problem",
                f"AfterCount: count must be a positive integer, got {self.count!r}; "
                "use AfterCount(1) to fire on every element",
            )

    def on_element(self, path, st, window, ctx):
        st[path] = st.get(path, 0) + 1

    def should_fire(self, path, st, window, ctx):
        return st.get(path, 0) >= self.count

    def quiet(self, path, st, window, ctx):
        return max(1, self.count - st.get(path, 0))

    def on_elements(self, path, st, window, ctx, n):
        st[path] = st.get(path, 0) + n

    def on_fire(self, path, st, window, ctx):
        return True

    def merge_state(self, path, target, sources, window, ctx):
        super().merge_state(path, target, sources, window, ctx)
        total = sum(s.get(path, 0) for s in sources)
        if total:
            target[path] = total


@attrs.frozen
class Repeatedly(Trigger):
    """Fires every time ``underlying`` would fire, resetting it each time; never finishes."""

    underlying: Trigger
    is_once = False

    def subtriggers(self):
        return (self.underlying,)

    def validate(self, label):
        if not isinstance(self.underlying, Trigger):
            raise PipelineConstructionError(
                f"transform '{label}': Repeatedly needs a Trigger, got {self.underlying!r}"
            )
        super().validate(label)

    def on_element(self, path, st, window, ctx):
        self.underlying.on_element(path + ".0", st, window, ctx)

    def should_fire(self, path, st, window, ctx):
        return self.underlying.should_fire(path + ".0", st, window, ctx)

    def quiet(self, path, st, window, ctx):
        return self.underlying.quiet(path + ".0", st, window, ctx)

    def on_elements(self, path, st, window, ctx, n):
        self.underlying.on_elements(path + ".0", st, window, ctx, n)

    def on_fire(self, path, st, window, ctx):
        sub = path + ".0"
        if self.underlying.on_fire(sub, st, window, ctx):
            self.underlying.reset(sub, st)
        return False


@attrs.frozen
class AfterWatermark(Trigger):
    """Fires when the watermark passes the end of the window (the ON_TIME pane).

    ``early``: fired repeatedly before that; ``late``: fired repeatedly after it, for late data.
    Without ``late`` the trigger finishes with the on-time pane, closing the window.
    """

    early: Trigger | None = None
    late: Trigger | None = None

    @property
    def is_once(self) -> bool:  # type: ignore[override]
        return self.late is None

    def subtriggers(self):
        return tuple(t for t in (self.early, self.late) if t is not None)

    def validate(self, label):
        if self.early is not None:
            _require_once(self.early, "AfterWatermark(early=...)", label)
        if self.late is not None:
            _require_once(self.late, "AfterWatermark(late=...)", label)
        super().validate(label)

    def _late_phase(self, path, st):
        return st.get(path + "!late", False)

    def on_element(self, path, st, window, ctx):
        if self._late_phase(path, st):
            self.late.on_element(path + ".L", st, window, ctx)  # type: ignore[union-attr]
        elif self.early is not None:
            self.early.on_element(path + ".E", st, window, ctx)

    def should_fire(self, path, st, window, ctx):
        if self._late_phase(path, st):
            return self.late.should_fire(path + ".L", st, window, ctx)  # type: ignore[union-attr]
        if ctx.watermark > window.max_timestamp_ms:
            return True
        if self.early is not None:
            return self.early.should_fire(path + ".E", st, window, ctx)
        return False

    def quiet(self, path, st, window, ctx):
        if self._late_phase(path, st):
            return self.late.quiet(path + ".L", st, window, ctx)  # type: ignore[union-attr]
        if ctx.watermark > window.max_timestamp_ms:
            return 1
        if self.early is not None:
            return self.early.quiet(path + ".E", st, window, ctx)
        return QUIET

    def on_elements(self, path, st, window, ctx, n):
        if self._late_phase(path, st):
            self.late.on_elements(path + ".L", st, window, ctx, n)  # type: ignore[union-attr]
        elif self.early is not None:
            self.early.on_elements(path + ".E", st, window, ctx, n)

    def on_fire(self, path, st, window, ctx):
        if self._late_phase(path, st):
            sub = path + ".L"
            if self.late.on_fire(sub, st, window, ctx):  # type: ignore[union-attr]
                self.late.reset(sub, st)  # type: ignore[union-attr]
            return False
        if ctx.watermark > window.max_timestamp_ms:
            if self.early is not None:
                self.early.reset(path + ".E", st)
            if self.late is None:
                return True
            st[path + "!late"] = True
            return False
        if self.early is not None:
            sub = path + ".E"
            if self.early.on_fire(sub, st, window, ctx):
                self.early.reset(sub, st)
        return False

    def merge_state(self, path, target, sources, window, ctx):
        if any(s.get(path + FIN) for s in sources):
            target[path + FIN] = True
        passed = ctx.watermark > window.max_timestamp_ms
        if passed and any(s.get(path + "!late") for s in sources):
            target[path + "!late"] = True
        if self.early is not None:
            self.early.merge_state(path + ".E", target, sources, window, ctx)
        if self.late is not None:
            self.late.merge_state(path + ".L", target, sources, window, ctx)


class _Composite(Trigger):
    triggers: tuple[Trigger, ...]

    def subtriggers(self):
        return self.triggers

    def validate(self, label):
        name = type(self).__name__
        if not self.triggers:
            raise PipelineConstructionError(f"transform '{label}': {name} needs at least one trigger")
        for t in self.triggers:
            _require_once(t, f"{name}(...) subtriggers", label)
        super().validate(label)

    def on_element(self, path, st, window, ctx):
        for p, t in self._unfinished(path, st):
            t.on_element(p, st, window, ctx)

    def on_elements(self, path, st, window, ctx, n):
        for p, t in self._unfinished(path, st):
            t.on_elements(p, st, window, ctx, n)

    def quiet(self, path, st, window, ctx):
        # the earliest any subtrigger may fire: a lower bound for "any", "all" and "each"
        return min((t.quiet(p, st, window, ctx) for p, t in self._unfinished(path, st)), default=1)

    def _unfinished(self, path, st):
        for i, t in enumerate(self.triggers):
            p = f"{path}.{i}"
            if not _finished(p, st):
                yield p, t


@attrs.frozen(init=False)
class AfterAny(_Composite):
    """Fires once, when any of its subtriggers fires."""

    triggers: tuple[Trigger, ...]

    def __init__(self, *triggers: Trigger) -> None:
        self.__attrs_init__(tuple(triggers))

    def should_fire(self, path, st, window, ctx):
        return any(t.should_fire(p, st, window, ctx) for p, t in self._unfinished(path, st))

    def on_fire(self, path, st, window, ctx):
        for p, t in list(self._unfinished(path, st)):
            if t.should_fire(p, st, window, ctx):
                t.on_fire(p, st, window, ctx)
                st[p + FIN] = True
        return True


@attrs.frozen(init=False)
class AfterAll(_Composite):
    """Fires once, when every subtrigger has fired."""

    triggers: tuple[Trigger, ...]

    def __init__(self, *triggers: Trigger) -> None:
        self.__attrs_init__(tuple(triggers))

    def should_fire(self, path, st, window, ctx):
        return all(t.should_fire(p, st, window, ctx) for p, t in self._unfinished(path, st))

    def on_fire(self, path, st, window, ctx):
        for p, t in list(self._unfinished(path, st)):
            t.on_fire(p, st, window, ctx)
            st[p + FIN] = True
        return True


@attrs.frozen(init=False)
class AfterEach(_Composite):
    """Fires for each subtrigger in turn; finishes when the last one has finished."""

    triggers: tuple[Trigger, ...]

    def __init__(self, *triggers: Trigger) -> None:
        self.__attrs_init__(tuple(triggers))

    def validate(self, label):
        if not self.triggers:
            raise PipelineConstructionError(f"transform '{label}': AfterEach needs at least one trigger")
        for t in self.triggers:
            if not isinstance(t, Trigger):
                raise PipelineConstructionError(
                    f"transform '{label}': AfterEach subtriggers must be Triggers, got {t!r}"
                )
        Trigger.validate(self, label)

    @property
    def is_once(self) -> bool:  # type: ignore[override]
        return all(t.is_once for t in self.triggers)

    def _current(self, path, st):
        for p, t in self._unfinished(path, st):
            return p, t
        return None

    def on_element(self, path, st, window, ctx):
        cur = self._current(path, st)
        if cur is not None:
            cur[1].on_element(cur[0], st, window, ctx)

    def on_elements(self, path, st, window, ctx, n):
        cur = self._current(path, st)
        if cur is not None:
            cur[1].on_elements(cur[0], st, window, ctx, n)

    def quiet(self, path, st, window, ctx):
        cur = self._current(path, st)
        return 1 if cur is None else cur[1].quiet(cur[0], st, window, ctx)

    def should_fire(self, path, st, window, ctx):
        cur = self._current(path, st)
        return cur is not None and cur[1].should_fire(cur[0], st, window, ctx)

    def on_fire(self, path, st, window, ctx):
        cur = self._current(path, st)
        if cur is None:
            return True
        p, t = cur
        if t.on_fire(p, st, window, ctx):
            st[p + FIN] = True
        return self._current(path, st) is None


@attrs.frozen
class OrFinally(Trigger):
    """Fires as ``main`` does until ``until`` fires; then fires a last time and finishes."""

    main: Trigger
    until: Trigger

    @property
    def is_once(self) -> bool:  # type: ignore[override]
        return True

    def subtriggers(self):
        return (self.main, self.until)

    def validate(self, label):
        if not isinstance(self.main, Trigger):
            raise PipelineConstructionError(f"transform '{label}': OrFinally main must be a Trigger")
        _require_once(self.until, "OrFinally(until=...)", label)
        super().validate(label)

    def on_element(self, path, st, window, ctx):
        self.main.on_element(path + ".0", st, window, ctx)
        self.until.on_element(path + ".1", st, window, ctx)

    def on_elements(self, path, st, window, ctx, n):
        self.main.on_elements(path + ".0", st, window, ctx, n)
        self.until.on_elements(path + ".1", st, window, ctx, n)

    def quiet(self, path, st, window, ctx):
        return min(self.main.quiet(path + ".0", st, window, ctx),
                   self.until.quiet(path + ".1", st, window, ctx))

    def should_fire(self, path, st, window, ctx):
        return self.main.should_fire(path + ".0", st, window, ctx) or self.until.should_fire(
            path + ".1", st, window, ctx
        )

    def on_fire(self, path, st, window, ctx):
        if self.until.should_fire(path + ".1", st, window, ctx):
            self.until.on_fire(path + ".1", st, window, ctx)
            return True
        if self.main.on_fire(path + ".0", st, window, ctx):
            return True
        return False


ROOT = "t"
