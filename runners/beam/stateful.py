"""A stateful fluvial DoFn as a Beam stateful DoFn: the sdk's stateful driver
(:mod:`fluvial.stateful_driver`) runs it, over Beam userstate and Beam timers.

* Raw cells (:mod:`fluvial.state_cells`): a value, combining or map cell -> a
  ReadModifyWriteState (a map as a dict: Beam Python has no MapState), a bag -> a BagState, the
  expiry of a bag with TTL -> a ReadModifyWriteState of its own.
* Timers -> Beam timers of the same domain; a processing-time timer keeps the timestamp of the
  element that set it in a hidden ReadModifyWriteState (its outputs carry it).
* TTL cleanup -> one event-time timer per state with TTL. Processing-time TTL cannot be
  expressed: a Beam Python DoFn cannot read the current processing time, so it is refused.
* ``@on_window_expiration`` -> an event-time timer 1 ms after the window's expiry time; without
  the callback, Beam's own garbage collection of expired windows clears the state.
* A Beam DoFn cannot read the input watermark: late elements are left to Beam to drop, and the
  driver sees the best lower bound it has (a timer's time inside its callback).

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
from fluvial.dofn_invoker import DoFnSignature
from fluvial.errors import UnsupportedFeatureError, UserCodeError
from fluvial.metrics import MetricKey
from fluvial.state_cells import TTL_SUFFIX
from fluvial.stateful_driver import StatefulDriver
from fluvial.timeutil import GLOBAL_WINDOW_MAX_MS, MIN_TIMESTAMP_MS, TimeDomain
from fluvial.userstate import StateSpec, TimerSpec
from fluvial.values import WindowedValue

from .capabilities import PROCESSING_TIME_TTL
from .convert import RUNNER, from_beam_pane, from_beam_ts, from_beam_window, to_beam_ts
from .deadletters import ErrorPolicy
from .dofns import UserDoFnLifecycle, to_beam_output
from .metrics import STEP_BRIDGE, install_bridge

_PICKLE = coders.PickleCoder()


class _BeamCombineFn(beam.CombineFn):
    """A fluvial CombineFn as Beam's (CombinePerKey under the error policy "fail"): what it
    raises becomes a UserCodeError naming the transform ``label`` and the value (Beam's
    combiner does not see the key)."""

    def __init__(self, fn: Any, label: str = "CombinePerKey") -> None:
        self.fn = fn
        self.label = label

    def _failed(self, e: Exception, value: Any, method: str) -> UserCodeError:
        where = None if method == "add_input" else f"in {method}"
        return UserCodeError(self.label, value, e, where)

    def create_accumulator(self):
        try:
            return self.fn.create_accumulator()
        except Exception as e:
            raise self._failed(e, None, "create_accumulator") from e

    def add_input(self, acc, x):
        try:
            return self.fn.add_input(acc, x)
        except Exception as e:
            raise self._failed(e, x, "add_input") from e

    def merge_accumulators(self, accs):
        try:
            return self.fn.merge_accumulators(list(accs))
        except Exception as e:
            raise self._failed(e, None, "merge_accumulators") from e

    def extract_output(self, acc):
        try:
            return self.fn.extract_output(acc)
        except Exception as e:
            raise self._failed(e, None, "extract_output") from e


# -- raw cells over Beam state ----------------------------------------------------------------------
class _BeamValue:
    """A ReadModifyWriteState as a RawValue (fluvial's payloads are never None)."""

    __slots__ = ("s",)

    def __init__(self, s: Any) -> None:
        self.s = s

    def get(self, default: Any) -> Any:
        v = self.s.read()
        return default if v is None else v

    def set(self, value: Any) -> None:
        self.s.write(value)

    def clear(self) -> None:
        self.s.clear()


class _BeamBag:
    __slots__ = ("s",)

    def __init__(self, s: Any) -> None:
        self.s = s

    def add(self, value: Any) -> None:
        self.s.add(value)

    def read(self) -> list:
        return list(self.s.read())

    def clear(self) -> None:
        self.s.clear()


class _BeamMap:
    """MapState emulated on a ReadModifyWriteState holding a dict (Beam Python has no MapState)."""

    __slots__ = ("s",)

    def __init__(self, s: Any) -> None:
        self.s = s

    def _d(self) -> dict:
        return self.s.read() or {}

    def get(self, key: Any, default: Any) -> Any:
        return self._d().get(key, default)

    def put(self, key: Any, value: Any) -> None:
        d = self._d()
        d[key] = value
        self.s.write(d)

    def remove(self, key: Any) -> None:
        d = self._d()
        if key in d:
            del d[key]
            self.s.write(d) if d else self.s.clear()

    def items(self) -> list:
        return list(self._d().items())

    def clear(self) -> None:
        self.s.clear()


class _BeamStorage:
    __slots__ = ("states",)

    def __init__(self, states: dict[str, Any]) -> None:
        self.states = states

    def value(self, name: str) -> _BeamValue:
        return _BeamValue(self.states[name])

    def bag(self, name: str) -> _BeamBag:
        return _BeamBag(self.states[name])

    def map(self, name: str) -> _BeamMap:
        return _BeamMap(self.states[name])


def _beam_state_spec(spec: StateSpec, name: str) -> Any:
    if spec.kind == "bag":
        return bus.BagStateSpec(name, _PICKLE)
    return bus.ReadModifyWriteStateSpec(name, _PICKLE)  # value, combining, map (a dict)


class _BeamStore:
    """The sdk driver's StatefulStore over the Beam state and timers of one call. A Beam DoFn
    cannot read the watermark or the processing time: ``watermark`` is the best lower bound
    known (a timer's time inside its callback, else MIN), ``processing_time`` 0."""

    __slots__ = ("owner", "states", "timers", "hidden", "ttls", "expire", "watermark",
                 "processing_time")

    def __init__(self, owner: _StatefulBase, states: dict, timers: dict, hidden: dict, ttls: dict,
                 expire: Any, watermark: int = MIN_TIMESTAMP_MS) -> None:
        self.owner = owner
        self.states = states
        self.timers = timers
        self.hidden = hidden
        self.ttls = ttls
        self.expire = expire
        self.watermark = watermark
        self.processing_time = 0

    def storage(self) -> _BeamStorage:
        return _BeamStorage(self.states)

    def set_timer(self, name: str, domain: TimeDomain, t: int, output_ts: int) -> None:
        if domain is TimeDomain.REAL_TIME:
            # outputs of a processing-time timer carry the setting element's timestamp
            self.hidden[name].write(output_ts)
        self.timers[name].set(to_beam_ts(t))

    def clear_timer(self, name: str) -> None:
        self.timers[name].clear()

    def set_expiry_timer(self, t: int) -> None:
        # without an expiration callback Beam's own end-of-window garbage collection suffices
        if self.owner.sig.expiration is not None:
            self.expire.set(to_beam_ts(min(t, GLOBAL_WINDOW_MAX_MS + 1)))

    def set_cleanup_timer(self, name: str, domain: TimeDomain, t: int) -> None:
        # processing-time TTL is refused at translation. Reads here cannot see the watermark,
        # so expiry rests on this timer: a map's must follow its earliest entry, not the last
        if self.owner.sig.state_specs[name].kind == "map":
            times = [at for _, (_, at) in _BeamMap(self.states[name]).items() if at is not None]
            t = min(times) + 1 if times else t
        self.ttls[name].set(to_beam_ts(t))

    def release(self) -> None:
        for h in self.hidden.values():
            h.clear()

    def state_empty(self) -> None:
        pass  # Beam keeps no bookkeeping of its own per key beyond its state


class _Results:
    """The driver's output for one Beam call: converted Beam outputs, in order."""

    __slots__ = ("items", "native_ts", "windows", "label")

    def __init__(self, native_ts: int, fwin: Any, label: str) -> None:
        self.items: list = []
        self.native_ts = native_ts
        self.windows = (fwin,)
        self.label = label

    def emit(self, tag: str | None, wv: WindowedValue) -> None:
        self.items.append(to_beam_output(tag, wv, self.native_ts, self.windows))

    def dropped(self, reason: str, count: int) -> None:
        STEP_BRIDGE.inc(MetricKey(self.label, "fluvial", reason), count)


class _Errors:
    """The transform's error policy for one Beam call: dead-letter outputs join the results."""

    __slots__ = ("policy", "results", "beam_window", "guarded")

    def __init__(self, policy: ErrorPolicy, results: _Results, beam_window: Any) -> None:
        self.policy = policy
        self.results = results
        self.beam_window = beam_window
        self.guarded = policy.guarded

    def handle(self, exc: BaseException, payload: Any, timestamp_ms: int | None, window: Any) -> None:
        self.results.items.extend(self.policy.handle(exc, payload, timestamp_ms, self.beam_window))


# -- the generated DoFn ----------------------------------------------------------------------------
class _StatefulBase(UserDoFnLifecycle):
    """Behaviour shared by every generated stateful DoFn; subclasses only declare parameters.
    The semantics are the sdk's stateful driver; this class maps Beam's parameters onto it."""

    fn: DoFn
    label: str
    state_names: list[str]  # the Beam states: user states, then bag TTL expiries
    timer_names: list[str]
    ttl_names: list[str]
    lateness_ms: int
    errors: ErrorPolicy
    tags: tuple[str, ...]

    def setup(self) -> None:
        install_bridge()
        self.sig = DoFnSignature(self.fn, self.label)
        self.driver = StatefulDriver(self.fn, self.sig, self.label, self.lateness_ms,
                                     set(self.tags))
        self._call("setup")

    def _store(self, packed: tuple, expire: Any, watermark: int = MIN_TIMESTAMP_MS) -> _BeamStore:
        states, timers, ttls = packed
        n = len(self.state_names)
        return _BeamStore(
            self, dict(zip(self.state_names, states[:n])), dict(zip(self.timer_names, timers)),
            dict(zip(self.timer_names, states[n:])), dict(zip(self.ttl_names, ttls)), expire,
            watermark)

    def _run(self, call: Any, native_ts: int, fwin: Any, beam_window: Any) -> list:
        results = _Results(native_ts, fwin, self.label)
        self.driver.errors = _Errors(self.errors, results, beam_window)
        call(results)
        return results.items

    def _run_process(self, element, ts, w, pane, packed, expire):
        ts_ms = from_beam_ts(ts)
        fwin = from_beam_window(w)
        wv = WindowedValue(element, ts_ms, (fwin,), from_beam_pane(pane))
        store = self._store(packed, expire)
        return self._run(lambda out: self.driver.process(element[0], wv, lambda _w: store, out),
                         ts_ms, fwin, w)

    def _run_timer(self, i, key, ts, w, packed, expire):
        name = self.timer_names[i]
        fire_ts = from_beam_ts(ts)
        fwin = from_beam_window(w)
        if self.sig.timer_specs[name].time_domain is TimeDomain.REAL_TIME:
            store = self._store(packed, expire)
            out_ts = store.hidden[name].read()
            out_ts = fire_ts if out_ts is None else out_ts
        else:
            store = self._store(packed, expire, watermark=fire_ts)
            out_ts = fire_ts
        return self._run(lambda out: self.driver.on_timer(name, key, fwin, fire_ts, out_ts, store, out),
                         fire_ts, fwin, w)

    def _run_ttl(self, i, key, ts, w, packed, expire):
        store = self._store(packed, expire, watermark=from_beam_ts(ts))
        self.driver.on_cleanup(self.ttl_names[i], store)
        return []

    def _run_expire(self, key, ts, w, packed, expire):
        fwin = from_beam_window(w)
        store = self._store(packed, expire, watermark=from_beam_ts(ts))
        return self._run(lambda out: self.driver.on_expiry(key, fwin, store, out),
                         from_beam_ts(ts), fwin, w)


def _timer_domain(spec: TimerSpec) -> Any:
    return BeamTimeDomain.REAL_TIME if spec.time_domain is TimeDomain.REAL_TIME else BeamTimeDomain.WATERMARK


def make_stateful_dofn(fn: DoFn, label: str, lateness_ms: int, policy: str = "fail",
                       tags: tuple[str, ...] = ()) -> beam.DoFn:
    """A Beam DoFn instance running the stateful fluvial DoFn ``fn`` (with declared output
    ``tags``) under the error policy ``policy``, through the sdk's stateful driver."""
    sig = DoFnSignature(fn, label)
    user_states = sorted(sig.state_specs)
    timer_names = sorted(sig.timer_specs)
    ttl_names = []
    for n in user_states:
        ttl = sig.state_specs[n].ttl
        if ttl is None:
            continue
        if ttl.time_domain is TimeDomain.REAL_TIME:
            raise UnsupportedFeatureError(
                RUNNER, label,
                f"state '{n}' has a processing-time StateTTL; {PROCESSING_TIME_TTL}. Use an "
                "event-time TTL (StateTTL(..., TimeDomain.WATERMARK)) or a processing-time timer "
                "that clears it",
            )
        ttl_names.append(n)
    # Beam states: the user states, the expiry of each bag with TTL, then h0..: per timer, the
    # timestamp of the element that set it
    state_names = user_states + [
        n + TTL_SUFFIX for n in user_states
        if sig.state_specs[n].kind == "bag" and sig.state_specs[n].ttl is not None]
    ns: dict[str, Any] = {"beam": beam, "bus": bus}
    sp = [f"s{i}" for i in range(len(state_names))] + [f"h{i}" for i in range(len(timer_names))]
    tp = [f"t{i}" for i in range(len(timer_names))]
    xp = [f"x{i}" for i in range(len(ttl_names))]
    for i, n in enumerate(state_names):
        spec = sig.state_specs.get(n)
        ns[f"S{i}"] = (_beam_state_spec(spec, f"s{i}") if spec is not None
                       else bus.ReadModifyWriteStateSpec(f"s{i}", _PICKLE))
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
    pack = f"(({', '.join(sp)}{',' if sp else ''}), ({', '.join(tp)}{',' if tp else ''}), " \
           f"({', '.join(xp)}{',' if xp else ''}))"
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
    obj.tags = tuple(tags)
    return obj
