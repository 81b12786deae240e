"""The keyed Python functions fluvial hands to Flink (through :mod:`.boot`): a grouping
(GroupByKey / CombinePerKey) running the sdk's window driver, and a stateful ParDo running the
sdk's stateful driver, each over Flink keyed state and timers (:mod:`.window_state`,
:mod:`.stateful_state`).

Their input is a keyed stream of ``Row(key, payload)`` (see :mod:`.records`): ``payload`` is a
wire record, a :class:`~.records.KeyClock` (scripted processing time reached this key: fire its
processing timers) or a :class:`~.records.ClockTick` under :data:`~.records.CLOCK_KEY` (pass the
clock on downstream, once). Flink calls ``process_element(payload, ctx)`` with the key current
(``ctx.get_current_key()``: the key's bytes, :func:`~.records.key_bytes`) and ``on_timer(ts,
ctx)`` for the timers the store registered; both return their outputs: main outputs, and
``(output_tag, record)`` pairs for side outputs (tagged outputs, late data, dead letters). A
stateful ParDo's main outputs are wire records; a grouping's are ``Row(key, None, record)``,
and ``Row(key, hold, None)`` after a call that changed the key's earliest watermark hold
(``Long.MAX_VALUE``: none), read by ``fluvial.flink.GroupHolds`` (Java), which holds the
watermark (:mod:`.window_state`).

Pure Python but for the state descriptors made in ``open`` (pyflink is there when Flink calls
it). Metrics and errors travel through the side channel as for the stateless functions.
"""

from __future__ import annotations

import pickle
from typing import Any

from fluvial.errors import FluvialError, UserCodeError, bounded_repr
from fluvial.metrics import MetricKey
from fluvial.runners.common.failures import user_error
from fluvial.runners.common.keys import as_kv
from fluvial.stateful_driver import StatefulDriver
from fluvial.values import GLOBAL_WINDOWS, WindowedValue
from fluvial.window_driver import WindowDriver

from .functions import _Function
from .group_holds import SubtaskHolds
from .records import JAVA_LONG_MAX, ClockTick, KeyClock, from_wire, to_wire
from .stages import ErrorPolicy
from .stateful_state import FlinkStatefulState, KeyedStateful, raw_cell_names
from .window_state import FlinkWindowStore, KeyedGrouping


def _is_processing(ctx: Any) -> bool:
    domain = ctx.time_domain()
    return getattr(domain, "name", str(domain)).endswith("PROCESSING_TIME")


def _state(runtime_context: Any, value_name: str, map_name: str) -> tuple[Any, Any]:
    from pyflink.common import Types
    from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

    value = runtime_context.get_state(ValueStateDescriptor(value_name, Types.PICKLED_BYTE_ARRAY()))
    cells = runtime_context.get_map_state(
        MapStateDescriptor(map_name, Types.LONG(), Types.PICKLED_BYTE_ARRAY()))
    return value, cells


class _Keyed(_Function):
    """Clock handling shared by the keyed functions: a ClockTick is passed on (main output
    and ``tick_tags``), a KeyClock fires the key's processing timers."""

    tick_tags: list = []

    def _forward(self, tick: ClockTick) -> list:
        return [tick, *((tag, tick) for tag in self.tick_tags)]


class _KeyBytes:
    """The current key's bytes, asked from Flink once, when first needed."""

    __slots__ = ("ctx", "kb")

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.kb: bytes | None = None

    def __call__(self) -> bytes:
        if self.kb is None:
            self.kb = self.ctx.get_current_key()
        return self.kb


class _Panes:
    """The window driver's PaneSink for the key being processed: outputs as wire records."""

    __slots__ = ("fn", "key", "out")

    def __init__(self, fn: GroupFunction) -> None:
        self.fn = fn
        self.key: Any = None
        self.out: list = []

    def for_key(self, key: Any) -> _Panes:
        self.key = key
        return self

    def emit(self, window: Any, value: Any, timestamp_ms: int, pane: Any) -> None:
        self.out.append(((self.key, value), timestamp_ms, (window,), pane))

    def late(self, value: Any, timestamp_ms: int, window: Any) -> None:
        if self.fn.late_tag is not None:
            self.out.append((self.fn.late_tag, ((self.key, value), timestamp_ms, (window,), None)))

    def dropped(self, reason: str, count: int) -> None:
        self.fn.metrics.inc(MetricKey(self.fn.label, "fluvial", reason), count)  # type: ignore[union-attr]

    def element_failed(self, value: Any, timestamp_ms: int, window: Any, error: Any) -> None:
        """The CombineFn could not add ``value`` (in ``window``): the element, whole, goes to
        the transform's error policy."""
        self.fn.errors.handle(error.cause, (self.key, value), timestamp_ms, self.out)

    def pane_failed(self, window: Any, timestamp_ms: int, pane: Any, error: Any) -> None:
        """The CombineFn failed when a pane of ``window`` fired (the pane is dropped)."""
        key, method = self.key, error.method
        payload = {"key": key, "window": repr(window), "error_in": method}
        self.fn.errors.handle(
            error.cause, payload, timestamp_ms, self.out,
            where=f"in {method} of key {bounded_repr(key)}, window {window!r}, when its "
                  f"{pane.timing.value} pane fired")

    def drain(self) -> list:
        out, self.out = self.out, []
        return out


class GroupFunction(_Keyed):
    """GroupByKey (``combine_fn`` None) or CombinePerKey: the window driver per key. Elements
    dropped as late go to ``late_tag`` when the transform has a late output. ``errors`` is the
    transform's error policy for failures of its CombineFn: an element it cannot add goes there
    with the element as payload, a pane it cannot extract with ``{"key", "window",
    "error_in"}`` (the driver drops that pane); under "dead_letter" and "skip" the CombineFn
    folds with ``isolating()``. Elements that are not keyed reach the policy before, in the
    operator that keys them."""

    def __init__(self, label: str, windowing: Any, combine_fn: Any, what: str, late_tag: Any,
                 scripted_clock: bool, channel: str, tick_tags: list, errors: ErrorPolicy) -> None:
        super().__init__(channel)
        self.label = label
        self.windowing = windowing
        self.combine_fn = combine_fn
        self.what = what
        self.errors = errors
        self.late_tag = late_tag
        self.scripted_clock = scripted_clock
        self.tick_tags = tick_tags
        self.grouping: KeyedGrouping | None = None
        self.panes: _Panes | None = None
        self.holds: SubtaskHolds | None = None
        self.row: Any = None

    def open(self, runtime_context: Any) -> None:
        from pyflink.common import Row

        self.row = Row
        self._open_metrics()
        self.errors.metrics = self.metrics
        fn = self.combine_fn
        if fn is not None and self.errors.guarded:
            fn = fn.isolating()  # a failing add leaves the accumulator as it was
        slots, contents = _state(runtime_context, "fluvial-slots", "fluvial-contents")
        self.holds = SubtaskHolds()
        store = FlinkWindowStore(slots, contents, self.scripted_clock, self.holds)
        self.grouping = KeyedGrouping(WindowDriver(self.windowing, fn), store)
        self.panes = _Panes(self)

    def _outputs(self, key: _KeyBytes) -> list:
        """The call's outputs: panes as ``Row(key, None, record)``, side outputs as they are,
        then the hold reports ``Row(key, hold, None)``."""
        row = self.row
        out = []
        for o in self.panes.drain():  # type: ignore[union-attr]
            out.append(o if len(o) == 2 else row(key(), None, o))  # (tag, record): a side output
        for kb, hold in self.holds.drain():  # type: ignore[union-attr]
            out.append(row(kb, JAVA_LONG_MAX if hold is None else hold, None))
        return out

    def _pass_tick(self, tick: ClockTick, ctx: Any) -> list:
        """The clock passes on once, on the main output (under the clock's own key) and the
        side outputs."""
        return [self.row(ctx.get_current_key(), None, tick), *((tag, tick) for tag in self.tick_tags)]

    def _firing_error(self, e: BaseException) -> BaseException:
        """A failure while panes fire (the policy "fail" raises a FluvialError naming the
        transform; anything else is user code failing for the key being fired)."""
        if isinstance(e, FluvialError):
            return self._fail(e)
        key = self.panes.key  # type: ignore[union-attr]
        return self._fail(UserCodeError(self.label, {"key": key}, e,
                                        f"while firing a pane of key {bounded_repr(key)}"))

    def process_element(self, value: Any, ctx: Any) -> list:
        t = type(value)
        if t is ClockTick:
            return self._pass_tick(value, ctx)
        g, panes = self.grouping, self.panes
        key = _KeyBytes(ctx)
        self._bind(self.label)
        if t is KeyClock:
            try:
                g.clock(value.now_ms, ctx.timer_service(), panes.for_key(pickle.loads(key())),  # type: ignore[union-attr]
                        key)
            except Exception as e:
                raise self._firing_error(e) from None
            return self._outputs(key)
        v, ts, ws, _ = value
        kv = v
        try:
            kv = as_kv(self.label, v, self.what)  # keyed rows: checked where they were keyed
            g.element(kv[1], ts, GLOBAL_WINDOWS if ws is None else ws, ctx.timer_service(),  # type: ignore[union-attr]
                      panes.for_key(kv[0]), key)  # type: ignore[union-attr]
        except Exception as e:
            raise self._fail(e, kv) from None
        return self._outputs(key)

    def on_timer(self, ts: int, ctx: Any) -> list:
        g, panes = self.grouping, self.panes
        key = _KeyBytes(ctx)
        self._bind(self.label)
        panes.for_key(pickle.loads(key()))  # type: ignore[union-attr]
        try:
            if _is_processing(ctx):
                g.processing_timer(ts, ctx.timer_service(), panes, key)  # type: ignore[union-attr]
            else:
                g.event_timer(ts, ctx.timer_service(), panes, key)  # type: ignore[union-attr]
        except Exception as e:
            raise self._firing_error(e) from None
        return self._outputs(key)

    def close(self) -> None:
        self._close_metrics()


class _DriverErrors:
    """The transform's error policy as the stateful driver calls it; dead letters join the
    outputs of the call."""

    __slots__ = ("policy", "guarded", "out")

    def __init__(self, policy: ErrorPolicy) -> None:
        self.policy = policy
        self.guarded = policy.guarded
        self.out: list = []

    def handle(self, exc: BaseException, payload: Any, timestamp_ms: int | None, window: Any) -> None:
        self.policy.handle(exc, payload, timestamp_ms, self.out)


class _StatefulOut:
    """The stateful driver's output: main and tagged outputs as wire records."""

    __slots__ = ("fn", "out")

    def __init__(self, fn: StatefulFunction, out: list) -> None:
        self.fn = fn
        self.out = out

    def emit(self, tag: str | None, wv: WindowedValue) -> None:
        if tag is None:
            self.out.append(to_wire(wv))
        else:
            otag = self.fn.tags[tag]
            if otag is not None:  # None: an output nobody reads
                self.out.append((otag, to_wire(wv)))

    def dropped(self, reason: str, count: int) -> None:
        self.fn.metrics.inc(MetricKey(self.fn.label, "fluvial", reason), count)  # type: ignore[union-attr]


class StatefulFunction(_Keyed):
    """A stateful ParDo: the stateful driver per key. ``tags`` maps the declared output tags
    to the translation's output tags; ``errors`` is the transform's error policy."""

    def __init__(self, label: str, pardo: Any, lateness_ms: int, errors: ErrorPolicy,
                 tags: dict[str, Any], scripted_clock: bool, channel: str, tick_tags: list) -> None:
        super().__init__(channel)
        self.label = label
        self.fn = pardo.fn
        self.args = pardo.args
        self.kwargs = pardo.kwargs
        self.lateness_ms = lateness_ms
        self.errors = errors
        self.tags = tags
        self.scripted_clock = scripted_clock
        self.tick_tags = tick_tags
        self.keyed: KeyedStateful | None = None
        self.driver_errors: _DriverErrors | None = None
        self.bundles = False

    def _lifecycle(self, what: str) -> Any:
        try:
            return getattr(self.fn, what)()
        except Exception as e:
            raise self._fail(user_error(self.label, f"<{what}>", e)) from None

    def open(self, runtime_context: Any) -> None:
        from fluvial.dofn import DoFn
        from fluvial.dofn_invoker import DoFnSignature

        self._open_metrics()
        self.errors.metrics = self.metrics
        sig = DoFnSignature(self.fn, self.label)
        self.driver_errors = _DriverErrors(self.errors)
        driver = StatefulDriver(self.fn, sig, self.label, self.lateness_ms, set(self.tags),
                                self.driver_errors, self.args, self.kwargs)
        book, cells = _state(runtime_context, "fluvial-book", "fluvial-cells")
        state = FlinkStatefulState(book, cells, raw_cell_names(sig), self.scripted_clock)
        self.keyed = KeyedStateful(driver, state)
        cls = type(self.fn)
        self.bundles = any(getattr(cls, n, None) is not getattr(DoFn, n)
                           for n in ("start_bundle", "finish_bundle"))
        self._bind(self.label)
        self._lifecycle("setup")

    def _run(self, call: Any, failure: Any) -> list:
        out: list = []
        errs = self.driver_errors
        errs.out = out  # type: ignore[union-attr]
        self._bind(self.label)
        if self.bundles:
            self._lifecycle("start_bundle")
        try:
            call(_StatefulOut(self, out))
        except Exception as e:
            raise self._fail(e, failure) from None
        if self.bundles:
            self._finish_bundle(out)
        return out

    def _finish_bundle(self, out: list) -> None:
        from fluvial.values import TaggedOutput

        res = self._lifecycle("finish_bundle")
        for r in res or ():
            tag = None
            if isinstance(r, TaggedOutput):
                tag, r = r.tag, r.value
            if not isinstance(r, WindowedValue):
                raise self._fail(FluvialError(
                    f"transform '{self.label}': finish_bundle must yield WindowedValue(value, "
                    f"timestamp_ms, windows) (there is no current element), got {r!r}"))
            if tag is None:
                out.append(to_wire(r))
            elif self.tags[tag] is not None:
                out.append((self.tags[tag], to_wire(r)))

    def process_element(self, value: Any, ctx: Any) -> list:
        t = type(value)
        if t is ClockTick:
            return self._forward(value)
        ks = self.keyed
        if t is KeyClock:
            key = pickle.loads(ctx.get_current_key())
            return self._run(lambda out: ks.clock(key, value.now_ms, ctx.timer_service(), out),  # type: ignore[union-attr]
                             f"<timers of key {key!r}>")
        wv = from_wire(value)
        kv = as_kv(self.label, wv.value, "stateful DoFn")
        if kv is not wv.value:
            wv = WindowedValue(kv, wv.timestamp, wv.windows, wv.pane)
        return self._run(lambda out: ks.element(kv[0], wv, ctx.timer_service(), out), kv)  # type: ignore[union-attr]

    def on_timer(self, ts: int, ctx: Any) -> list:
        ks = self.keyed
        key = pickle.loads(ctx.get_current_key())
        if _is_processing(ctx):
            return self._run(lambda out: ks.processing_timer(key, ts, ctx.timer_service(), out),  # type: ignore[union-attr]
                             f"<timers of key {key!r}>")
        return self._run(lambda out: ks.event_timer(key, ts, ctx.timer_service(), out),  # type: ignore[union-attr]
                         f"<timers of key {key!r}>")

    def close(self) -> None:
        try:
            self._bind(self.label)
            self._lifecycle("teardown")
        finally:
            self._close_metrics()


__all__ = ["GroupFunction", "StatefulFunction"]
