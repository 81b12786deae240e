"""A stateless ParDo with side inputs on Flink (the semantics: :mod:`fluvial.side_inputs`).

The translation tags every input with ``fluvial.flink.SideInputTag`` (Java): elements become
``Row(input, subtask, subtasks, None, element)`` and each input's watermarks become records
``Row(input, subtask, subtasks, watermark, None)`` in the same stream, since a Python function
sees only the minimum watermark over its inputs. Side inputs are broadcast to every instance
of the ParDo. :class:`SideInputFunction` reads the union:

* side elements are kept per side input and side window (unless the side window has expired
  with the main input's allowed lateness);
* a main element is processed once per window as soon as every side window it maps to is ready
  (that side input's watermark, the minimum over its instances, has passed the side window),
  else it waits, in arrival order, and runs when a side watermark makes it ready;
* the operator's outputs are ``Row(None, record)``, and ``Row(hold, None)`` whenever the
  earliest timestamp of a waiting element changes (``Long.MAX_VALUE``: none);
  ``fluvial.flink.HoldWatermark`` (Java) after it passes the records on and holds the
  watermark at that hold, so a waiting element is not late downstream when it is released;
* side contents of a side window are dropped once the operator's input watermark passes its
  expiry (every main window reading it has expired then).

Contents, waiting elements and the hold live in memory, not in Flink state: they are not part
of checkpoints.

Pure Python but for ``Row`` (imported in ``open``, where pyflink is available).
"""

from __future__ import annotations

from typing import Any

from fluvial.timeutil import MIN_TIMESTAMP_MS
from fluvial.values import WindowedValue
from fluvial.window import is_expired

from .functions import _Function
from .records import JAVA_LONG_MAX, ClockTick, from_wire, to_wire
from .window_state import fluvial_watermark

NO_HOLD = JAVA_LONG_MAX


class SideInputFunction(_Function):
    """Runs ``stage`` (a :class:`~.stages.ParDoStage` of the ParDo) with ``side_args`` (its
    extra arguments with the side-input views) over the tagged union of its inputs: input 0 the
    main input, input ``i >= 1`` side input ``i``. ``main_lateness_ms``: the main input's allowed
    lateness; ``tick_tags``: side outputs that also get clock ticks."""

    def __init__(self, label: str, stage: Any, side_args: Any, main_lateness_ms: int,
                 channel: str, tick_tags: list) -> None:
        super().__init__(channel)
        self.label = label
        self.stage = stage
        self.side_args = side_args
        self.n_sides = len(side_args.views)
        self.main_lateness_ms = main_lateness_ms
        self.tick_tags = tick_tags

    def open(self, runtime_context: Any = None) -> None:
        from pyflink.common import Row

        self.row = Row
        self._open_metrics()
        self.contents: list[dict[Any, list]] = [{} for _ in range(self.n_sides)]
        self.wms: list[dict[int, int]] = [{} for _ in range(self.n_sides + 1)]
        self.instances = [1] * (self.n_sides + 1)
        self.waiting: list[WindowedValue] = []
        self.hold = NO_HOLD
        try:
            self._bind(self.label)
            self.stage.open(self.metrics)
        except Exception as e:
            raise self._fail(e) from None

    # -- watermarks -----------------------------------------------------------------------------
    def _watermark(self, i: int) -> int:
        seen = self.wms[i]
        if len(seen) < self.instances[i]:
            return MIN_TIMESTAMP_MS
        return min(seen.values())

    def _ready(self, window: Any) -> bool:
        return all(self._watermark(i + 1) > v.side_window(window).max_timestamp_ms
                   for i, v in enumerate(self.side_args.views))

    # -- records --------------------------------------------------------------------------------
    def process_element(self, rec: Any, ctx: Any = None) -> list:
        i, instance, instances, wm, payload = rec[0], rec[1], rec[2], rec[3], rec[4]
        out: list = []
        if wm is not None:
            self.instances[i] = instances
            self.wms[i][instance] = fluvial_watermark(wm)
            if i > 0 and self.waiting:
                ready, still = [], []
                for wv in self.waiting:
                    (ready if self._ready(wv.windows[0]) else still).append(wv)
                self.waiting = still
                self._run(ready, out)
            self._collect()
        elif type(payload) is ClockTick:
            if i == 0:  # the clock passes on once, from the main input
                out.append(self.row(None, payload))
                out.extend((tag, payload) for tag in self.tick_tags)
        elif i == 0:
            wv = from_wire(payload)
            ready = []
            for w in wv.windows:
                one = WindowedValue(wv.value, wv.timestamp, (w,), wv.pane)
                (ready if self._ready(w) else self.waiting).append(one)
            self._run(ready, out)
        else:
            wv = from_wire(payload)
            store = self.contents[i - 1]
            wm_now = min(self._watermark(k) for k in range(self.n_sides + 1))
            for w in wv.windows:
                if not is_expired(w, self.main_lateness_ms, wm_now):
                    store.setdefault(w, []).append(wv.value)
        hold = min((wv.timestamp for wv in self.waiting), default=NO_HOLD)
        if hold != self.hold:
            self.hold = hold
            out.append(self.row(hold, None))
        return out

    def _collect(self) -> None:
        """Drop side windows every main window reading them has expired for."""
        wm = min(self._watermark(k) for k in range(self.n_sides + 1))
        for store in self.contents:
            for w in [w for w in store if is_expired(w, self.main_lateness_ms, wm)]:
                del store[w]

    def _run(self, elements: list[WindowedValue], out: list) -> None:
        stage, side_args, contents, row = self.stage, self.side_args, self.contents, self.row
        for wv in elements:
            w = wv.windows[0]
            side: list = []
            self._bind(self.label)
            try:
                values = side_args.values_for(w, lambda i, sw: contents[i].get(sw, ()), self.label)
                stage.args, stage.kwargs = side_args.bind(values)
                batch = stage.run([wv], side)
            except Exception as e:
                raise self._fail(e, wv.value) from None
            out.extend(row(None, to_wire(o)) for o in batch)
            out.extend(x for x in side if x[0] is not None)  # None: an output nobody reads

    def close(self) -> None:
        try:
            self._bind(self.label)
            self.stage.close()
        except Exception as e:
            raise self._fail(e) from None
        finally:
            self._close_metrics()
