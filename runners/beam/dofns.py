"""A fluvial DoFn run as a Beam DoFn (stateless ParDo): lifecycle, parameters (timestamp,
window, pane, key, element) converted from Beam's, outputs (tagged, re-timestamped, windowed)
converted to Beam's, user errors carrying the transform label and the element.

>>> from fluvial.dofn import DoFn
>>> class Double(DoFn):
...     def process(self, x):
...         yield 2 * x
>>> BeamDoFn(Double(), "Double", (), {}).label
'Double'
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput as BeamTaggedOutput
from apache_beam.transforms.window import TimestampedValue as BeamTimestampedValue
from apache_beam.utils.windowed_value import WindowedValue as BeamWindowedValue

from fluvial.dofn import DoFn
from fluvial.dofn_invoker import DoFnSignature, Invocation, bind_kwargs, normalize_outputs
from fluvial.errors import FluvialError, UserCodeError
from fluvial.side_inputs import SideArgs
from fluvial.values import WindowedValue

from .convert import (
    from_beam_pane,
    from_beam_ts,
    from_beam_window,
    to_beam_pane,
    to_beam_ts,
    to_beam_window,
)
from .deadletters import ErrorPolicy
from .metrics import install_bridge
from .side_inputs import resolve


def to_beam_output(tag: str | None, wv: WindowedValue, ts_ms: int, windows: tuple) -> Any:
    """One fluvial output as what a Beam DoFn yields."""
    if wv.windows is not windows and wv.windows != windows:
        out: Any = BeamWindowedValue(
            wv.value, to_beam_ts(wv.timestamp), [to_beam_window(w) for w in wv.windows],
            to_beam_pane(wv.pane),
        )
    elif wv.timestamp != ts_ms:
        out = BeamTimestampedValue(wv.value, to_beam_ts(wv.timestamp))
    else:
        out = wv.value
    return out if tag is None else BeamTaggedOutput(tag, out)


def finish_outputs(results: Any, label: str) -> list:
    """Outputs of finish_bundle: fluvial WindowedValues (optionally tagged) -> Beam."""
    out = []
    for tag, wv in normalize_outputs(results, 0, (), None, label, None):
        bwv = BeamWindowedValue(
            wv.value, to_beam_ts(wv.timestamp), [to_beam_window(w) for w in wv.windows or ()],
            to_beam_pane(wv.pane) if wv.pane is not None else None,
        ) if wv.windows else None
        if bwv is None:
            raise UserCodeError(label, wv.value, TypeError(
                "finish_bundle must yield WindowedValue outputs (value, timestamp, windows)"))
        out.append(bwv if tag is None else BeamTaggedOutput(tag, bwv))
    return out


class UserDoFnLifecycle(beam.DoFn):
    """The lifecycle of the wrapped fluvial DoFn ``self.fn`` (label ``self.label``), shared by
    the stateless and the stateful wrappers: its exceptions become UserCodeError naming the
    transform, and finish_bundle's outputs are converted for Beam."""

    fn: DoFn
    label: str

    def _call(self, what: str) -> Any:
        try:
            return getattr(self.fn, what)()
        except FluvialError:
            raise
        except Exception as e:
            raise UserCodeError(self.label, f"<{what}>", e) from e

    def start_bundle(self) -> None:
        install_bridge()
        self._call("start_bundle")

    def finish_bundle(self):
        results = self._call("finish_bundle")
        return finish_outputs(results, self.label) if results is not None else None

    def teardown(self) -> None:
        self._call("teardown")


class BeamDoFn(UserDoFnLifecycle):
    """Runs a stateless fluvial DoFn under the error policy ``policy`` (see
    :mod:`.deadletters`): an element's outputs are collected before any is emitted, so a
    failing element contributes none."""

    def __init__(self, fn: DoFn, label: str, args: tuple, kwargs: dict,
                 policy: str = "fail", side_args: SideArgs | None = None) -> None:
        self.fn = fn
        self.label = label
        self.args = args
        self.kwargs = kwargs
        self.errors = ErrorPolicy(label, policy)
        # with side inputs the extra arguments come from Beam with every call (Beam resolves
        # the side inputs per window); side_args says which of them are views
        self.side_args = side_args if side_args else None
        self._params: Any = None

    def setup(self) -> None:
        install_bridge()
        sig = DoFnSignature(self.fn, self.label)
        self._params = sig.process_params
        self._needs = {p.kind for _, p in self._params}
        self._call("setup")

    def process(self, element, ts=beam.DoFn.TimestampParam, w=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam, *side_args, **side_kwargs):
        ts_ms = from_beam_ts(ts)
        fwin = from_beam_window(w)
        windows = (fwin,)
        fpane = from_beam_pane(pane)
        if self.side_args is not None:
            args, kwargs = resolve(self.side_args, side_args, side_kwargs, self.label, fwin)
        else:
            args, kwargs = self.args, self.kwargs
        kw = {}
        if self._params:
            wv = WindowedValue(element, ts_ms, windows, fpane)
            key = element[0] if "Key" in self._needs else None
            kw = bind_kwargs(self._params, Invocation(wv, fwin, key, None, None, ts_ms), self.label)
        try:
            results = self.fn.process(element, *args, **kwargs, **kw)
            outs = [to_beam_output(tag, o, ts_ms, windows)
                    for tag, o in normalize_outputs(results, ts_ms, windows, fpane, self.label, element)]
        except FluvialError:
            raise
        except Exception as e:
            if not self.errors.guarded:
                raise UserCodeError(self.label, element, e) from e
            return self.errors.handle(e, element, ts_ms, w)
        return outs

