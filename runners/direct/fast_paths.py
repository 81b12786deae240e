"""Which operator the direct runner builds for groupings and stateful ParDos: its fast paths,
each computing what the sdk's reference driver computes (the property tests prove them equal).

WindowInto and a grouping:

WindowInto whose only consumer is a CombinePerKey or GroupByKey (without late output) is fused
with it into one operator when a specialised one computes the same result as the window driver
(``fluvial.window_driver``), the reference; otherwise the two run apart (WindowInto, then the
window driver per element). The choice:

* the sliced path (:mod:`.operators.sliced_combine`): FixedWindows and SlidingWindows under the
  default trigger, no allowed lateness, OUTPUT_AT_EOW, no late output — any CombineFn (for
  sliding windows one that merges accumulators) and GroupByKey;
* the sessions operator (:mod:`.operators.sessions`): Sessions under the default trigger, no
  allowed lateness, OUTPUT_AT_EOW — any CombineFn and GroupByKey;
* else, for FixedWindows and SlidingWindows (size a multiple of the period) under any trigger:
  the window driver's operator (:mod:`.operators.group`) assigning the windows itself.

A grouping that is not fused (:func:`grouping`) runs the window driver over batches regrouped
by key and window (:mod:`.operators.group`).

A stateful ParDo (:mod:`.operators.stateful`) keeps the stateful driver's binding of each live
key and window (:meth:`fluvial.stateful_driver.StatefulDriver.binding`): state cells, timer
handles and arguments made once, not per element.

``--direct-fast-paths off`` turns every fast path off: each grouping runs the window driver and
each stateful ParDo the stateful driver, one element at a time (for checking the fast paths
against the reference).
"""

from __future__ import annotations

from typing import Any

from fluvial.combine import CombinePerKey
from fluvial.gbk import GroupByKey
from fluvial.window import FixedWindows, SlidingWindows

from .operators.base import Operator
from .operators.group import GroupOperator
from .operators.sessions import SessionsOperator, can_sessionize
from .operators.sliced_combine import SlicedCombineOperator, can_slice
from .operators.stateful import StatefulParDoOperator

FLAG = "--direct-fast-paths"


def fast_paths_enabled(options: Any) -> bool:
    """False when ``--direct-fast-paths off`` was given."""
    value = "on"
    for a in getattr(options, "extra_args", ()) or ():
        name, _, v = a.partition("=")
        if name == FLAG:
            value = v
    return value != "off"


def grouping(label: str, windowing: Any, transform: Any, options: Any,
             errors: Any = None) -> GroupOperator:
    """The operator of a GroupByKey or CombinePerKey that is not fused with a WindowInto."""
    fn = transform.combine_fn if isinstance(transform, CombinePerKey) else None
    what = "CombinePerKey" if fn is not None else "GroupByKey"
    op = GroupOperator(label, windowing, fn, transform.late_output, what, errors)
    if not fast_paths_enabled(options):
        op.batched = False
    return op


def stateful_pardo(label: str, caller: Any, windowing: Any, options: Any) -> StatefulParDoOperator:
    """The operator of a stateful ParDo."""
    op = StatefulParDoOperator(label, caller, windowing)
    op.fast = fast_paths_enabled(options)
    return op


def fuse_window_into(window_label: str, windowing: Any, consumer: Any, options: Any,
                     errors: Any = None) -> Operator | None:
    """The fused operator for WindowInto(``windowing``) followed by the grouping node
    ``consumer`` (its only consumer; ``errors`` its error handler), or None when they run
    apart."""
    if not fast_paths_enabled(options):
        return None
    t = consumer.transform
    if isinstance(t, CombinePerKey):
        fn = t.combine_fn
    elif isinstance(t, GroupByKey):
        fn = None
    else:
        return None
    if not t.late_output and can_slice(windowing, fn):
        return SlicedCombineOperator(consumer.full_label, window_label, windowing, fn, errors)
    what = "CombinePerKey" if fn is not None else "GroupByKey"
    if can_sessionize(windowing):
        return SessionsOperator(consumer.full_label, windowing, fn, t.late_output, what, errors)
    wfn = windowing.window_fn
    if type(wfn) in (FixedWindows, SlidingWindows) and wfn.slicing() is not None:
        return GroupOperator(consumer.full_label, windowing, fn, t.late_output, what, errors,
                             windows=wfn.slicing())
    return None
