"""Flatten: merge several PCollections of one pipeline into one.

>>> import fluvial as fl
>>> from fluvial.testing import assert_that, equal_to
>>> with fl.Pipeline(argv=["--runner", "direct"]) as p:
...     both = (p | "A" >> fl.Create([1, 2]), p | "B" >> fl.Create([3])) | fl.Flatten()
...     assert_that(both, equal_to([1, 2, 3]))
"""

from __future__ import annotations

from fluvial.errors import PipelineConstructionError
from fluvial.ptransform import PrimitiveTransform


class Flatten(PrimitiveTransform):
    def expand_primitive(self, node, pcolls):
        from fluvial.pvalue import PCollection

        if isinstance(pcolls, dict):
            pcolls = list(pcolls.values())
        if isinstance(pcolls, PCollection):
            pcolls = [pcolls]
        if not isinstance(pcolls, (list, tuple)) or not pcolls:
            raise PipelineConstructionError(
                f"transform '{node.full_label}': Flatten takes a non-empty tuple of PCollections"
            )
        first = pcolls[0].windowing
        for pc in pcolls[1:]:
            if pc.windowing.window_fn != first.window_fn:
                raise PipelineConstructionError(
                    f"transform '{node.full_label}': inputs have different window functions "
                    f"({first.window_fn!r} vs {pc.windowing.window_fn!r}); apply the same WindowInto "
                    "to all inputs first"
                )
        bounded = all(pc.is_bounded for pc in pcolls)
        return pcolls[0].pipeline.new_pcollection(node, first, bounded)
