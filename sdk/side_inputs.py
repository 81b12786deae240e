"""Side inputs: a whole PCollection seen by every call of a DoFn, as Beam's ``AsSingleton``,
``AsIter``, ``AsList`` and ``AsDict`` (also importable from :mod:`fluvial.pvalue`).

Rules (Beam's semantics; every runner follows them):

* **Passing.** Wrap a PCollection in a view and pass it as an extra positional or keyword
  argument of ParDo (it reaches ``DoFn.process``), Map, FlatMap or Filter (it reaches the
  function), in any mix with ordinary arguments. The DoFn receives the view's value in its place.
* **Windows.** Each call sees the side input's contents in the *side window* of the main
  element's window: with Beam's default window mapping, the side input's WindowFn assigns the
  main window's max timestamp and the last window assigned is taken (for SlidingWindows: the
  earliest-starting window containing it); a side input in the global window is the same for
  every main window. A merging WindowFn (Sessions) cannot be a side input. An element in several
  windows is processed once per window.
* **Readiness.** A side window is *ready* once the side input's watermark has passed it
  (``watermark > window.max_timestamp``): for a bounded side input in the global window, once
  it is exhausted. A main element whose side windows are not all ready is held back (buffered;
  it holds the ParDo's output watermark at its timestamp) and processed as soon as they are.
* **Contents.** Every element the side input delivered into the side window before it was
  ready, and any (late) element delivered since, until the side window is garbage-collected:
  once the ParDo's input watermark passes the side window's end plus the main input's allowed
  lateness. Every main window reading it has expired then, so only main elements a grouping
  would drop as too late come after; they see the side window empty.
* **Views** (:meth:`AsSideInput.view`): AsIter: an iterable (iterate it as often as you like);
  AsList: a list; AsDict: a dict of the ``(key, value)`` pairs (keys should be unique);
  AsSingleton: the one element; when empty, ``default_value`` if given, else an
  :class:`EmptySideInput` instance (as in Beam); more than one element is a
  :class:`~fluvial.errors.SideInputError` naming the transform.
* A stateful DoFn (state, timers) takes no side inputs.

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=[]) as p:
...     rates = p | "Rates" >> fl.Create([("EUR", 1.1), ("GBP", 1.3)])
...     orders = p | "Orders" >> fl.Create([("EUR", 10), ("GBP", 20)])
...     usd = orders | fl.Map(lambda o, r: round(o[1] * r[o[0]], 2), fl.AsDict(rates))
...     assert_that(usd, equal_to([11.0, 26.0]))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fluvial.errors import PipelineConstructionError, SideInputError
from fluvial.window import GLOBAL_WINDOW, BoundedWindow, GlobalWindows

__all__ = ["AsSideInput", "AsSingleton", "AsIter", "AsList", "AsDict", "EmptySideInput",
           "SideArgs", "side_window"]


class EmptySideInput:
    """What an :class:`AsSingleton` view without a default gives for an empty side window (as in
    Beam): check ``isinstance(x, EmptySideInput)``."""

    def __repr__(self) -> str:
        return "EmptySideInput()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EmptySideInput)

    def __hash__(self) -> int:
        return 0x5e1


def side_window(window_fn: Any, main_window: BoundedWindow) -> BoundedWindow:
    """The side window a main window maps to (Beam's default window mapping: the last window
    ``window_fn`` assigns to the main window's max timestamp; the global window for
    GlobalWindows).

    >>> from fluvial.window import FixedWindows, IntervalWindow, SlidingWindows
    >>> w = side_window(SlidingWindows(20, 10), IntervalWindow(10_000, 20_000))
    >>> (w.start_ms, w.end_ms)
    (0, 20000)
    >>> side_window(FixedWindows(60), IntervalWindow(10_000, 20_000)).end_ms
    60000
    """
    if isinstance(window_fn, GlobalWindows):
        return GLOBAL_WINDOW
    return list(window_fn.assign(main_window.max_timestamp_ms, None))[-1]


class _Iterable:
    """AsIter's value: iterable any number of times, nothing else (as a Beam iterable view)."""

    __slots__ = ("_values",)

    def __init__(self, values: Sequence[Any]) -> None:
        self._values = values

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __repr__(self) -> str:
        return "<side input iterable>"


class _NoDefault:
    """AsSingleton without a default (pickles as this module's one instance)."""

    def __reduce__(self) -> str:
        return "_NO_DEFAULT"

    def __repr__(self) -> str:
        return "<no default>"


_NO_DEFAULT = _NoDefault()


class AsSideInput:
    """Base of the views: ``pvalue`` is the side-input PCollection."""

    kind = "AsSideInput"

    def __init__(self, pcoll: Any) -> None:
        from fluvial.pvalue import PCollection

        if not isinstance(pcoll, PCollection):
            raise PipelineConstructionError(
                f"{self.kind} needs a PCollection, got {pcoll!r}; e.g. "
                f"{self.kind}(p | 'Side' >> fl.Create([...]))"
            )
        if getattr(pcoll.windowing.window_fn, "is_merging", False):
            raise PipelineConstructionError(
                f"{self.kind}({pcoll.label}): a PCollection in merging windows "
                f"({type(pcoll.windowing.window_fn).__name__}) cannot be a side input, as in "
                "Beam; re-window it first (WindowInto(FixedWindows(...)) or GlobalWindows())"
            )
        self.pvalue = pcoll
        self.window_fn = pcoll.windowing.window_fn

    def __getstate__(self) -> dict:
        # a view travels to workers without its PCollection (and so without the pipeline):
        # there it only turns contents into values (view, side_window)
        state = dict(self.__dict__)
        state["pvalue"] = None
        return state

    def side_window(self, main_window: BoundedWindow) -> BoundedWindow:
        """The window of this side input that ``main_window`` reads."""
        return side_window(self.window_fn, main_window)

    def view(self, values: Sequence[Any], label: str = "?", window: Any = None) -> Any:
        """The value a DoFn of transform ``label`` sees for the side window ``window`` holding
        ``values``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.kind}({self.pvalue.label if self.pvalue is not None else '...'})"


class AsSingleton(AsSideInput):
    """The side input's one element per window; ``default_value`` when the window is empty.

    >>> import fluvial as fl
    >>> from fluvial.testing import assert_that, equal_to
    >>> with fl.Pipeline(argv=[]) as p:
    ...     limit = fl.AsSingleton(p | "Limit" >> fl.Create([2]))
    ...     none = fl.AsSingleton(p | "None" >> fl.Create([]), default_value=0)
    ...     out = p | fl.Create([1, 2, 3]) | fl.Filter(lambda x, lo, hi: lo < x <= hi, none, limit)
    ...     assert_that(out, equal_to([1, 2]))
    """

    kind = "AsSingleton"

    def __init__(self, pcoll: Any, default_value: Any = _NO_DEFAULT) -> None:
        super().__init__(pcoll)
        self.default_value = default_value

    def view(self, values: Sequence[Any], label: str = "?", window: Any = None) -> Any:
        if len(values) == 1:
            return values[0]
        if not values:
            if self.default_value is _NO_DEFAULT:
                return EmptySideInput()
            return self.default_value
        where = "" if window is None else f" in window {window!r}"
        raise SideInputError(
            f"transform '{label}': side input {self!r}{where}: PCollection of size "
            f"{len(values)} with more than one element accessed as a singleton view. First two "
            f'elements encountered are "{values[0]}", "{values[1]}". Use AsList or AsIter, or '
            "combine the side input to one value per window (CombineGlobally)"
        )


class AsIter(AsSideInput):
    """The side input's elements of the window, as an iterable."""

    kind = "AsIter"

    def view(self, values: Sequence[Any], label: str = "?", window: Any = None) -> Any:
        return _Iterable(values)


class AsList(AsSideInput):
    """The side input's elements of the window, as a list."""

    kind = "AsList"

    def view(self, values: Sequence[Any], label: str = "?", window: Any = None) -> Any:
        return list(values)


class AsDict(AsSideInput):
    """The side input's ``(key, value)`` pairs of the window, as a dict."""

    kind = "AsDict"

    def view(self, values: Sequence[Any], label: str = "?", window: Any = None) -> Any:
        try:
            return dict(values)
        except (TypeError, ValueError) as e:
            raise SideInputError(
                f"transform '{label}': side input {self!r} needs (key, value) pairs: {e}"
            ) from None


class SideArgs:
    """A ParDo's extra arguments with the side-input views in them: ``views`` in argument order
    (positional first, then keywords), and :meth:`bind` to put one value per view in place.

    >>> import fluvial as fl
    >>> p = fl.Pipeline(argv=[])
    >>> s = SideArgs((1, fl.AsList(p | fl.Create([10, 20]))), {"k": 2})
    >>> s.bind([[10, 20]])
    ((1, [10, 20]), {'k': 2})
    """

    def __init__(self, args: tuple, kwargs: dict) -> None:
        self.args = tuple(args)
        self.kwargs = dict(kwargs)
        self.slots: list[int | str] = [i for i, a in enumerate(self.args)
                                       if isinstance(a, AsSideInput)]
        self.slots += [k for k, a in self.kwargs.items() if isinstance(a, AsSideInput)]
        self.views: list[AsSideInput] = [
            self.args[s] if isinstance(s, int) else self.kwargs[s] for s in self.slots]

    def __bool__(self) -> bool:
        return bool(self.views)

    def bind(self, values: Sequence[Any]) -> tuple[tuple, dict]:
        """The arguments with ``values[i]`` in place of ``views[i]``."""
        args = list(self.args)
        kwargs = dict(self.kwargs)
        for slot, value in zip(self.slots, values):
            if isinstance(slot, int):
                args[slot] = value
            else:
                kwargs[slot] = value
        return tuple(args), kwargs

    def values_for(self, window: BoundedWindow, contents: Sequence[Any], label: str) -> list:
        """The view values for the main ``window``; ``contents(i, side_window)`` gives the
        elements of side input ``i`` in a side window."""
        out = []
        for i, v in enumerate(self.views):
            sw = v.side_window(window)
            out.append(v.view(contents(i, sw), label, sw))  # type: ignore[operator]
        return out
