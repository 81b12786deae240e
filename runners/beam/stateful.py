"""A stateful fluvial DoFn as a Beam stateful DoFn: Beam userstate holds the state and Beam
timers the timers.

* ValueState -> ReadModifyWriteState, BagState -> BagState, CombiningState ->
  CombiningValueState (the fluvial CombineFn wrapped as a Beam CombineFn).
* MapState (Beam Python has none) -> a ReadModifyWriteState holding a dict.
* StateTTL in event time -> the cell keeps its expiry; an event-time timer per state clears it
  (for MapState the timer follows the earliest entry). Processing-time TTL cannot be expressed:
  a Beam Python DoFn cannot read the current processing time to compute the expiry.
* Event-time and processing-time timers -> Beam timers of the same domain.
* ``@on_window_expiration`` -> an event-time timer at the window's max timestamp + allowed
  lateness + 1 ms (the instant the window expires), then the key's state is cleared.

Beam needs the state and timer parameters declared on ``process`` itself, so the Beam DoFn's
class is generated per fluvial DoFn (:func:`make_stateful_dofn`).
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam import coders
from apache_beam.transforms import userstate as bus
from apache_beam.transforms.timeutil import TimeDomain as BeamTimeDomain

from fluvial.dofn import DoFn
from fluvial.dofn_invoker import DoFnSignature, Invocation, bind_kwargs, normalize_outputs
from fluvial.errors import FluvialError, UnsupportedFeatureError, UserCodeError
from fluvial.timeutil import GLOBAL_WINDOW_MAX_MS, TimeDomain, to_millis
from fluvial.userstate import StateSpec, TimerSpec
from fluvial.values import WindowedValue

from .convert import RUNNER, from_beam_pane, from_beam_ts, from_beam_window, to_beam_ts
from .deadletters import ErrorPolicy
from .dofns import UserDoFnLifecycle, to_beam_output
from .metrics import install_bridge

_PICKLE = coders.PickleCoder()


class _BeamCombineFn(beam.CombineFn):
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def create_accumulator(self):
        return self.fn.create_accumulator()

    def add_input(self, acc, x):
        return self.fn.add_input(acc, x)

    def merge_accumulators(self, accs):
        return self.fn.merge_accumulators(list(accs))

    def extract_output(self, acc):
        return self.fn.extract_output(acc)


# -- state cells over Beam state -------------------------------------------------------------------
class _Ctx:
    """Per call: the write timestamp (element or timer time) and the TTL timers."""

    __slots__ = ("write_ts", "ttl_timers")

    def __init__(self, write_ts: int, ttl_timers: dict) -> None:
        self.write_ts = write_ts
        self.ttl_timers = ttl_timers


class _Cell:
    def __init__(self, spec: StateSpec, beam_state: Any, ctx: _Ctx) -> None:
        self.spec = spec
        self.s = beam_state
        self.ctx = ctx

    def _touch(self) -> int | None:
        ttl = self.spec.ttl
        if ttl is None:
            return None
        expire_at = self.ctx.write_ts + ttl.ttl_ms + 1  # expired once watermark > write + ttl
        self.ctx.ttl_timers[self.spec.name].set(to_beam_ts(expire_at))
        return expire_at

    def clear(self) -> None:
        self.s.clear()


class ValueCell(_Cell):
    def read(self) -> Any:
        return self.s.read()

    def write(self, v: Any) -> None:
        self.s.write(v)
        self._touch()


class BagCell(_Cell):
    def read(self) -> list:
        return list(self.s.read())

    def add(self, v: Any) -> None:
        self.s.add(v)
        self._touch()


class CombiningCell(_Cell):
    def read(self) -> Any:
        return self.s.read()

    def add(self, v: Any) -> None:
        self.s.add(v)
        self._touch()


class MapCell(_Cell):
    """MapState emulated on a ReadModifyWriteState holding {key: (value, expire_at|None)}."""

    def _d(self) -> dict:
        return self.s.read() or {}

    def get(self, k: Any, default: Any = None) -> Any:
        e = self._d().get(k)
        return default if e is None else e[0]

    def put(self, k: Any, v: Any) -> None:
        d = self._d()
        d[k] = (v, None)
        self.s.write(d)
        if self.spec.ttl is not None:
            d[k] = (v, self.ctx.write_ts + self.spec.ttl.ttl_ms + 1)
            self.s.write(d)
            self._rearm(d)

    def _rearm(self, d: dict) -> None:
        times = [e[1] for e in d.values() if e[1] is not None]
        timer = self.ctx.ttl_timers[self.spec.name]
        if times:
            timer.set(to_beam_ts(min(times)))
        else:
            timer.clear()

    def expire(self, now_ms: int) -> None:
        d = {k: e for k, e in self._d().items() if e[1] is None or e[1] > now_ms}
        if d:
            self.s.write(d)
            self._rearm(d)
        else:
            self.s.clear()

    def remove(self, k: Any) -> None:
        d = self._d()
        d.pop(k, None)
        self.s.write(d)

    def contains(self, k: Any) -> bool:
        return k in self._d()

    def items(self) -> list:
        return [(k, e[0]) for k, e in self._d().items()]

    def keys(self) -> list:
        return list(self._d())

    def values(self) -> list:
        return [e[0] for e in self._d().values()]

    def is_empty(self) -> bool:
        return not self._d()


_CELLS = {"value": ValueCell, "bag": BagCell, "combining": CombiningCell, "map": MapCell}


def _beam_state_spec(spec: StateSpec, name: str) -> Any:
    if spec.kind == "value" or spec.kind == "map":
        return bus.ReadModifyWriteStateSpec(name, _PICKLE)
    if spec.kind == "bag":
        return bus.BagStateSpec(name, _PICKLE)
    if spec.kind == "combining":
        return bus.CombiningValueStateSpec(name, _PICKLE, _BeamCombineFn(spec.combine_fn))  # type: ignore[attr-defined]
    raise ValueError(spec.kind)


class _TimerHandle:
    """fluvial's ``set(t)`` (seconds) / ``clear()`` over a Beam timer."""

    __slots__ = ("t", "out_ts", "write_ts")

    def __init__(self, beam_timer: Any, out_ts: Any, write_ts: int) -> None:
        self.t = beam_timer
        self.out_ts = out_ts  # processing-time timers: where the setter's timestamp is kept
        self.write_ts = write_ts

    def set(self, t: Any) -> None:
        if self.out_ts is not None:
            # the model: outputs of a processing-time timer carry the setting element's time
            self.out_ts.write(self.write_ts)
        self.t.set(to_beam_ts(to_millis(t)))

    def clear(self) -> None:
        self.t.clear()


# -- the generated DoFn ----------------------------------------------------------------------------
class _StatefulBase(UserDoFnLifecycle):
    """Behaviour shared by every generated stateful DoFn; subclasses only declare parameters."""

    fn: DoFn
    label: str
    state_names: list[str]
    timer_names: list[str]
    ttl_names: list[str]
    lateness_ms: int
    errors: ErrorPolicy

    def setup(self) -> None:
        install_bridge()
        self.sig = DoFnSignature(self.fn, self.label)
        self._call("setup")

    def _binder(self, states: tuple, timers: tuple, ttls: tuple, write_ts: int):
        ctx = _Ctx(write_ts, dict(zip(self.ttl_names, ttls)))
        cells: dict[str, Any] = {}
        specs = self.sig.state_specs

        def state(spec: StateSpec) -> Any:
            c = cells.get(spec.name)
            if c is None:
                i = self.state_names.index(spec.name)
                c = cells[spec.name] = _CELLS[spec.kind](specs[spec.name], states[i], ctx)
            return c

        def timer(spec: TimerSpec) -> Any:
            i = self.timer_names.index(spec.name)
            proc = spec.time_domain is TimeDomain.REAL_TIME
            hidden = states[len(self.state_names) + i] if proc else None
            return _TimerHandle(timers[i], hidden, write_ts)

        return state, timer

    def _emit(self, results: Any, ts_ms: int, fwin: Any, pane: Any, element: Any,
              native_ts_ms: int | None = None) -> list:
        windows = (fwin,)
        native = ts_ms if native_ts_ms is None else native_ts_ms
        return [to_beam_output(tag, o, native, windows)
                for tag, o in normalize_outputs(results, ts_ms, windows, pane, self.label, element)]

    def _run_process(self, element, ts, w, pane, states, timers, ttls, expire):
        ts_ms = from_beam_ts(ts)
        fwin = from_beam_window(w)
        fpane = from_beam_pane(pane)
        if expire is not None and self.sig.expiration is not None:
            end = fwin.max_timestamp_ms + self.lateness_ms + 1
            expire.set(to_beam_ts(min(end, GLOBAL_WINDOW_MAX_MS + 1)))
        state, timer = self._binder(states, timers, ttls, ts_ms)
        wv = WindowedValue(element, ts_ms, (fwin,), fpane)
        try:
            kw = bind_kwargs(self.sig.process_params,
                             Invocation(wv, fwin, element[0], state, timer, ts_ms), self.label)
            return self._emit(self.fn.process(element, **kw), ts_ms, fwin, fpane, element)
        except FluvialError:
            raise
        except Exception as e:
            if not self.errors.guarded:
                raise UserCodeError(self.label, element, e) from e
            return self.errors.handle(e, element, ts_ms, w)

    def _run_callback(self, cb: Any, key, ts, w, states, timers, ttls, what: str,
                      out_ts: int | None = None, name: str = "", fire_ts: int | None = None,
                      ) -> list:
        ts_ms = from_beam_ts(ts) if out_ts is None else out_ts
        fwin = from_beam_window(w)
        state, timer = self._binder(states, timers, ttls, ts_ms)
        fn, params = cb
        try:
            kw = bind_kwargs(params, Invocation(None, fwin, key, state, timer, ts_ms), self.label)
            return self._emit(fn(**kw), ts_ms, fwin, None, what, from_beam_ts(ts))
        except FluvialError:
            raise
        except Exception as e:
            if not self.errors.guarded:
                raise UserCodeError(self.label, f"<{what} key={key!r}>", e) from e
            # the same payload as the direct runner's
            fired = from_beam_ts(ts) if fire_ts is None else fire_ts
            payload = {"key": key, "timer": name, "window": repr(fwin), "timestamp_ms": fired}
            return self.errors.handle(e, payload, ts_ms, w)

    def _run_timer(self, i, key, ts, w, states, timers, ttls, expire):
        name = self.timer_names[i]
        out_ts = None
        if self.sig.timer_specs[name].time_domain is TimeDomain.REAL_TIME:
            out_ts = states[len(self.state_names) + i].read()
        return self._run_callback(self.sig.timer_callbacks[name], key, ts, w, states, timers, ttls,
                                  f"timer {name}", out_ts, name)

    def _run_ttl(self, i, key, ts, w, states, timers, ttls, expire):
        name = self.ttl_names[i]
        s = states[self.state_names.index(name)]
        spec = self.sig.state_specs[name]
        if spec.kind == "map":
            ctx = _Ctx(from_beam_ts(ts), dict(zip(self.ttl_names, ttls)))
            MapCell(spec, s, ctx).expire(from_beam_ts(ts))
        else:
            s.clear()
        return []

    def _run_expire(self, key, ts, w, states, timers, ttls, expire):
        out = []
        if self.sig.expiration is not None:
            # outputs carry the window's max timestamp (the timer is 1 ms after it)
            end = from_beam_window(w).max_timestamp_ms
            out = self._run_callback(self.sig.expiration, key, ts, w, states, timers, ttls,
                                     "window expiration", end, "<window expiration>", end)
        for s in states:
            s.clear()
        return out


def _timer_domain(spec: TimerSpec) -> Any:
    return BeamTimeDomain.REAL_TIME if spec.time_domain is TimeDomain.REAL_TIME else BeamTimeDomain.WATERMARK


def make_stateful_dofn(fn: DoFn, label: str, lateness_ms: int, policy: str = "fail") -> beam.DoFn:
    """A Beam DoFn instance running the stateful fluvial DoFn ``fn`` under the error policy
    ``policy`` (state a failing call changed before raising stays changed)."""
    sig = DoFnSignature(fn, label)
    state_names = sorted(sig.state_specs)
    timer_names = sorted(sig.timer_specs)
    ttl_names = []
    for n in state_names:
        ttl = sig.state_specs[n].ttl
        if ttl is None:
            continue
        if ttl.time_domain is TimeDomain.REAL_TIME:
            raise UnsupportedFeatureError(
                RUNNER, label,
                f"state '{n}' has a processing-time StateTTL; a Beam Python DoFn cannot read the "
                "current processing time, so the expiry cannot be computed. Use an event-time TTL "
                "(StateTTL(..., TimeDomain.WATERMARK)) or a processing-time timer that clears it",
            )
        ttl_names.append(n)
    ns: dict[str, Any] = {"beam": beam, "bus": bus}
    # user states s0.., then h0..: per timer, the timestamp of the element that set it
    sp = [f"s{i}" for i in range(len(state_names))] + [f"h{i}" for i in range(len(timer_names))]
    tp = [f"t{i}" for i in range(len(timer_names))]
    xp = [f"x{i}" for i in range(len(ttl_names))]
    for i, n in enumerate(state_names):
        ns[f"S{i}"] = _beam_state_spec(sig.state_specs[n], f"s{i}")
    for i, n in enumerate(timer_names):
        ns[f"H{i}"] = bus.ReadModifyWriteStateSpec(f"h{i}", _PICKLE)
        ns[f"T{i}"] = bus.TimerSpec(f"t{i}", _timer_domain(sig.timer_specs[n]))
    for i, _ in enumerate(ttl_names):
        ns[f"X{i}"] = bus.TimerSpec(f"x{i}", BeamTimeDomain.WATERMARK)
    ns["E"] = bus.TimerSpec("expire", BeamTimeDomain.WATERMARK)
    decl = ", ".join(
        [f"{p}=beam.DoFn.StateParam({p.upper()})" for p in sp]
        + [f"{p}=beam.DoFn.TimerParam({p.upper()})" for p in tp + xp]
        + ["_e=beam.DoFn.TimerParam(E)"]
    )
    pack = f"({', '.join(sp)}{',' if sp else ''}), ({', '.join(tp)}{',' if tp else ''}), " \
           f"({', '.join(xp)}{',' if xp else ''})"
    expire = "_e"  # set only when the DoFn has @on_window_expiration
    src = [
        f"def process(self, element, _ts=beam.DoFn.TimestampParam, _w=beam.DoFn.WindowParam, "
        f"_pane=beam.DoFn.PaneInfoParam, {decl}):",
        f"    return self._run_process(element, _ts, _w, _pane, {pack}, {expire})",
    ]
    cb_args = "_key=beam.DoFn.KeyParam, _ts=beam.DoFn.TimestampParam, _w=beam.DoFn.WindowParam"
    for kind, names, spec in (("timer", tp, "T"), ("ttl", xp, "X")):
        for i, _ in enumerate(names):
            src += [
                f"@bus.on_timer({spec}{i})",
                f"def _on_{kind}_{i}(self, {cb_args}, {decl}):",
                f"    return self._run_{kind}({i}, _key, _ts, _w, {pack}, _e)",
            ]
    src += [
        "@bus.on_timer(E)",
        f"def _on_expire(self, {cb_args}, {decl}):",
        f"    return self._run_expire(_key, _ts, _w, {pack}, _e)",
    ]
    exec("\n".join(src), ns)  # noqa: S102 - generated parameter declarations only
    body = {k: v for k, v in ns.items() if k == "process" or k.startswith("_on_")}
    cls = type(f"Stateful_{type(fn).__name__}", (_StatefulBase,), body)
    obj = cls()
    obj.fn = fn
    obj.label = label
    obj.state_names = state_names
    obj.timer_names = timer_names
    obj.ttl_names = ttl_names
    obj.lateness_ms = lateness_ms
    obj.errors = ErrorPolicy(label, policy)
    return obj
