"""PTransform: the unit of a pipeline, composable with ``|`` and labelled with ``>>``.

>>> class Double(PTransform):
...     def expand(self, pcoll):
...         from fluvial.transforms import Map
...         return pcoll | Map(lambda x: 2 * x)
"""

from __future__ import annotations

from typing import Any


def composite_label(label: str, inner: str, composite: bool) -> str:
    """The label a user gave a composite that applies its primitive as ``inner >> primitive``
    (so the primitive's full label is ``"<composite label>/<inner>"``): what records, errors
    and counters of such a transform carry.

    >>> composite_label("Ingest/Out/Write", "Write", True)
    'Ingest/Out'
    """
    suffix = "/" + inner
    if composite and label.endswith(suffix):
        return label[: -len(suffix)]
    return label


class PTransform:
    """Base class. Subclasses implement :meth:`expand` (composites) or are primitives."""

    label: str | None = None

    def expand(self, input_or_inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement expand()")

    def default_label(self) -> str:
        return type(self).__name__

    def __rrshift__(self, label: str) -> PTransform:
        if not isinstance(label, str):
            return NotImplemented
        self.label = label
        return self

    def __ror__(self, left: Any) -> Any:
        # ``(pc1, pc2) | Flatten()`` and ``pipeline | Create(...)``
        from fluvial.pipeline import Pipeline, pipeline_of

        if isinstance(left, Pipeline):
            return left.apply(self, left)
        p = pipeline_of(left)
        return p.apply(self, left)

    def __or__(self, right: Any) -> Any:
        raise TypeError(
            f"cannot compose {self!r} with {right!r} before applying it; apply transforms to a "
            "PCollection or a Pipeline: pcoll | transform"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label or ''}>".replace(" >", ">")


class PrimitiveTransform(PTransform):
    """A transform runners implement directly."""

    is_primitive = True
