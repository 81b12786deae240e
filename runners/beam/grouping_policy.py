"""GroupByKey and CombinePerKey under the error policies "dead_letter" and "skip" on Beam, with
the records and results of the direct runner (:mod:`fluvial.combine`, :mod:`fluvial.gbk`).

Beam's own GroupByKey cannot route one bad element (its combiner lifting merges accumulators
anywhere), so a grouping whose policy is not "fail" translates as::

    input | "<label>#check" >> ParDo(CheckGroupingInput)   # bad elements -> the policy
          | "<label>" >> GroupByKey()
          | "<label>#panes" >> ParDo(GuardedPanes)         # combine element by element

* ``CheckGroupingInput``: an element that is not a (key, value) pair or whose key is not
  hashable goes to the policy (payload: the element); for a CombinePerKey, so does a value the
  CombineFn cannot add to a fresh accumulator (``add_input(create_accumulator(), v)`` raises,
  e.g. a str reaching ``sum``), so it never reaches the grouping nor its trigger, as on the
  direct runner. A combine's values travel as ``(value, timestamp_ms)`` through the GroupByKey,
  so a later failure still names the element's time.
* ``GuardedPanes``: folds each pane's values one by one with ``combine_fn.isolating()``; a value
  whose ``add_input`` raises (it could not be combined with the others, e.g. mixed types reaching
  ``max``) goes to the policy with its element; a pane none of whose values could be added is
  not emitted; ``extract_output`` raising drops the pane and goes to the policy with the payload
  ``{"key", "window", "error_in": "extract_output"}`` at the pane's timestamp. The pane fixes of
  the plain translation apply (an ON_TIME pane of the default trigger without lateness is
  the window's last; an empty final pane of the added end-of-window trigger is dropped).

Records go to the transform's dead-letter output (``DLQ_TAG``), one per window of the element
(Beam calls DoFns per window), labelled with the transform's label.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.utils.windowed_value import PaneInfo as BeamPaneInfo
from apache_beam.utils.windowed_value import WindowedValue as BeamWindowedValue

from fluvial.errors import NotKeyedError, UnhashableKeyError, bounded_repr

from .convert import from_beam_pane, from_beam_ts, from_beam_window
from .deadletters import DLQ_TAG, ErrorPolicy
from .metrics import install_bridge

_ABSENT = object()


class CheckGroupingInput(beam.DoFn):
    """Passes good (key, value) elements on (a combine's as ``(key, (value, timestamp_ms))``);
    hands the others to the policy (module docstring)."""

    def __init__(self, label: str, what: str, policy: str, combine_fn: Any = None) -> None:
        self.label = label
        self.what = what
        self.errors = ErrorPolicy(label, policy)
        self.fn = combine_fn.isolating() if combine_fn is not None else None

    def start_bundle(self) -> None:
        install_bridge()

    def process(self, element, ts=beam.DoFn.TimestampParam, w=beam.DoFn.WindowParam):
        ts_ms = from_beam_ts(ts)
        kv = element
        if type(kv) is not tuple or len(kv) != 2:
            if not isinstance(kv, (tuple, list)) or len(kv) != 2:
                return self.errors.handle(NotKeyedError(self.label, element, self.what),
                                          element, ts_ms, w)
            kv = tuple(kv)
        try:
            hash(kv[0])
        except TypeError:
            return self.errors.handle(UnhashableKeyError(self.label, element), element, ts_ms, w)
        fn = self.fn
        if fn is None:
            return [kv]
        try:
            fn.add_input(fn.create_accumulator(), kv[1])
        except Exception as e:  # noqa: BLE001 - the CombineFn's; routed by the policy
            return self.errors.handle(e, kv, ts_ms, w)
        return [(kv[0], (kv[1], ts_ms))]


class GuardedPanes(beam.DoFn):
    """Grouped values as lists, or combined element by element (module docstring)."""

    def __init__(self, label: str, policy: str, combine_fn: Any, fix_on_time_last: bool,
                 drop_empty: bool) -> None:
        self.label = label
        self.errors = ErrorPolicy(label, policy)
        self.fn = combine_fn.isolating() if combine_fn is not None else None
        self.fix = fix_on_time_last
        self.drop_empty = drop_empty

    def start_bundle(self) -> None:
        install_bridge()

    def process(self, kv, ts=beam.DoFn.TimestampParam, w=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam):
        key, values = kv[0], list(kv[1])
        if self.drop_empty and not values:
            return []
        fn = self.fn
        if fn is None:
            return [self._out((key, values), ts, w, pane)]
        outs: list = []
        acc: Any = _ABSENT
        for v, ets in values:
            try:
                acc = fn.add_input(fn.create_accumulator() if acc is _ABSENT else acc, v)
            except Exception as e:  # noqa: BLE001 - the CombineFn's; routed by the policy
                outs += self.errors.handle(e, (key, v), ets, w)
        if values and acc is _ABSENT:
            return outs  # no value of this pane could be added: no pane, as on the direct runner
        try:
            result = fn.extract_output(fn.create_accumulator() if acc is _ABSENT else acc)
        except Exception as e:  # noqa: BLE001 - the pane is dropped; routed by the policy
            window = from_beam_window(w)
            payload = {"key": key, "window": repr(window), "error_in": "extract_output"}
            timing = from_beam_pane(pane).timing.value
            return outs + self.errors.handle(
                e, payload, from_beam_ts(ts), w,
                where=f"in extract_output of key {bounded_repr(key)}, window {window!r}, when "
                      f"its {timing} pane fired")
        return [*outs, self._out((key, result), ts, w, pane)]

    def _out(self, kv: Any, ts: Any, w: Any, pane: Any) -> Any:
        if self.fix and pane is not None and not pane.is_last and pane.timing == 1:
            p = BeamPaneInfo(pane.is_first, True, pane.timing, pane.index,
                             pane.nonspeculative_index)
            return BeamWindowedValue(kv, ts, [w], p)
        return kv


def guarded_grouping(pc: Any, label: str, combine_fn: Any, policy: str,
                     fix_on_time_last: bool, drop_empty: bool, dl_outputs: list) -> Any:
    """The translation of a GroupByKey (``combine_fn`` None) or CombinePerKey under ``policy``
    ("dead_letter" or "skip"); appends its dead-letter outputs to ``dl_outputs`` (policy
    "dead_letter") and returns the grouping's main output."""
    what = "GroupByKey" if combine_fn is None else "CombinePerKey"
    checked = pc | f"{label}#check" >> beam.ParDo(
        CheckGroupingInput(label, what, policy, combine_fn)).with_outputs(DLQ_TAG, main="main")
    keyed = checked["main"] | f"{label}#kv" >> beam.Map(lambda kv: kv).with_output_types(
        beam.typehints.Tuple[Any, Any])
    grouped = keyed | label >> beam.GroupByKey()
    panes = grouped | f"{label}#panes" >> beam.ParDo(
        GuardedPanes(label, policy, combine_fn, fix_on_time_last, drop_empty)).with_outputs(
            DLQ_TAG, main="main")
    if policy == "dead_letter":
        dl_outputs.extend([checked[DLQ_TAG], panes[DLQ_TAG]])
    return panes["main"]
