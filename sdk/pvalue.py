"""PCollection and the multi-output result of ParDo."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fluvial.pipeline import AppliedTransform, Pipeline
    from fluvial.windowing import Windowing


class PCollection:
    """A (possibly unbounded) collection of elements produced by one transform.

    Apply transforms with ``|``: ``pcoll | "Label" >> Map(f)``.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        producer: AppliedTransform | None,
        windowing: Windowing,
        is_bounded: bool,
        tag: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.producer = producer
        self.windowing = windowing
        self.is_bounded = is_bounded
        self.tag = tag
        self.keyed_hint: bool = False

    def __or__(self, transform: Any) -> Any:
        return self.pipeline.apply(transform, self)

    def __ror__(self, other: Any) -> Any:  # pragma: no cover - symmetry only
        return NotImplemented

    @property
    def label(self) -> str:
        base = self.producer.full_label if self.producer else "?"
        return base if self.tag is None else f"{base}.{self.tag}"

    def __repr__(self) -> str:
        return f"<PCollection {self.label}>"


class DoOutputsTuple:
    """The outputs of ``ParDo(...).with_outputs(...)``: ``.main``, ``["tag"]`` or ``.tag``; as in
    Beam, ``with_outputs(..., main="name")`` names the main output too (``["name"]``, ``.name``)."""

    def __init__(self, main: PCollection, tagged: dict[str, PCollection],
                 main_tag: str | None = None) -> None:
        self.main = main
        self._tagged = tagged
        self._main_tag = main_tag

    def __getitem__(self, tag: str | None) -> PCollection:
        if tag is None or tag == self._main_tag:
            return self.main
        try:
            return self._tagged[tag]
        except KeyError:
            raise KeyError(
                f"no output tagged {tag!r}; declared tags: {sorted(self._tagged)}"
            ) from None

    def __getattr__(self, tag: str) -> PCollection:
        if tag.startswith("_"):
            raise AttributeError(tag)
        if tag == self._main_tag:
            return self.main
        try:
            return self._tagged[tag]
        except KeyError:
            raise AttributeError(f"no output tagged {tag!r}; declared: {sorted(self._tagged)}") from None

    def __iter__(self):
        yield self.main
        yield from self._tagged.values()

    @property
    def pipeline(self):
        return self.main.pipeline


# Beam keeps the side-input views in its pvalue module; so does fluvial (defined in
# fluvial.side_inputs, imported last: that module reads PCollection from here)
from fluvial.side_inputs import (  # noqa: E402
    AsDict,
    AsIter,
    AsList,
    AsSideInput,
    AsSingleton,
    EmptySideInput,
)

__all__ = ["PCollection", "DoOutputsTuple", "AsSideInput", "AsSingleton", "AsIter", "AsList",
           "AsDict", "EmptySideInput"]
