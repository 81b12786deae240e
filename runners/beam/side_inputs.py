"""Side inputs on Beam (the semantics: :mod:`fluvial.side_inputs`). Beam does the windowing
(its default window mapping is the model's) and the waiting (a main bundle is held until the
side input's watermark passes the side window); fluvial's view turns the contents into the
value, so defaults and errors are the same on every runner:

* ``AsIter`` -> Beam's ``AsIter`` (lazy), wrapped as fluvial's iterable;
* ``AsList`` -> Beam's ``AsList``;
* ``AsSingleton``, ``AsDict`` -> Beam's ``AsList``, reduced by the fluvial view (the default
  value, :class:`~fluvial.side_inputs.EmptySideInput`, and the
  :class:`~fluvial.errors.SideInputError` on several elements or on elements that are not
  pairs).

The side-input arguments go through ``beam.ParDo(fn, *args, **kwargs)`` so Beam resolves them
per window; :class:`~fluvial.runners.beam.dofns.BeamDoFn` applies :func:`from_beam` to each.

Beam's BundleBasedDirectRunner maps the window of every main-input bundle onto the side input
to know how long the bundle must wait, and takes ``None`` as the window of a bundle without
elements (which it schedules, e.g. after a DoFn that emitted nothing): Beam's default mapping
then raises AttributeError in an executor thread and the run hangs. Each view's window mapping
is therefore Beam's default wrapped in :class:`EmptyBundleSafe`, which maps ``None`` to a window
that ended at the start of time (an empty bundle has nothing to wait for).
"""

from __future__ import annotations

from typing import Any

from apache_beam import pvalue as bpv
from apache_beam.transforms.window import IntervalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP

from fluvial.side_inputs import AsIter, AsList, AsSideInput, SideArgs

_ENDED = IntervalWindow(MIN_TIMESTAMP, MIN_TIMESTAMP)


class EmptyBundleSafe:
    """Beam's window mapping ``inner``, with ``None`` (an empty bundle's window on Beam's
    DirectRunner) mapped to a window that ended at the start of time."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, window: Any) -> Any:
        return _ENDED if window is None else self.inner(window)


def beam_side_input(view: AsSideInput, beam_pcoll: Any) -> Any:
    """The Beam side input standing for ``view`` over ``beam_pcoll``."""
    side = bpv.AsIter(beam_pcoll) if isinstance(view, AsIter) else bpv.AsList(beam_pcoll)
    side._window_mapping_fn = EmptyBundleSafe(side._window_mapping_fn)
    return side


def beam_args(side_args: SideArgs, beam_pcolls: list[Any]) -> tuple[tuple, dict]:
    """A ParDo's extra arguments for ``beam.ParDo``: each view replaced by its Beam side input
    (``beam_pcolls[i]`` is the i-th view's PCollection on Beam)."""
    return side_args.bind([beam_side_input(v, pc) for v, pc in zip(side_args.views, beam_pcolls)])


def from_beam(view: AsSideInput, value: Any, label: str, window: Any) -> Any:
    """The value a fluvial DoFn sees for ``view``, from what Beam passed for it in the main
    ``window`` (a fluvial window)."""
    if isinstance(view, AsIter):
        return view.view(value)
    if isinstance(view, AsList):
        return value if isinstance(value, list) else list(value)
    return view.view(list(value), label, view.side_window(window))


def resolve(side_args: SideArgs, args: tuple, kwargs: dict, label: str,
            window: Any) -> tuple[tuple, dict]:
    """The fluvial arguments from the ones Beam passed (side inputs resolved for ``window``)."""
    values = []
    for slot, view in zip(side_args.slots, side_args.views):
        raw = args[slot] if isinstance(slot, int) else kwargs[slot]
        values.append(from_beam(view, raw, label, window))
    return side_args.bind(values)
