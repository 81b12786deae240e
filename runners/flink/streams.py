"""What the Flink translation keeps for each translated PCollection (its handle on the shared
skeleton, :mod:`fluvial.runners.common.translator`), and the fused stateless operator.

* :class:`Stream`: a Flink DataStream of wire records, of script records, or of the Java
  combine path's result batches; the next Python operator decodes the last two.
* :class:`Chain`: the stages of a fused stateless operator (ParDos and WindowIntos, as the
  skeleton's ``fuse_pardo_chains`` pass grouped them). It is built into one Python operator when
  its output is first read, or at the end of the translation. A keyed operator (a grouping, a
  stateful ParDo) or the Java combine path that is the only reader of a chain's main output
  takes the chain over before it is built and ends it with its own terminal step: the chain
  then emits keyed rows (``keyed``) or batches for Java (``feeder``), so no second Python
  operator runs in front of the keyBy.
* :class:`ChainOutput`: output ``tag`` (None: the main output) of a chain, not yet built.
"""

from __future__ import annotations

from typing import Any


class Stream:
    """A translated PCollection: a Flink DataStream of wire records, of script records
    (``script``), or of the Java combine path's result batches (``combined``: the
    CombinePerKey's label and the decoder), which the next Python operator decodes."""

    __slots__ = ("ds", "script", "combined")

    def __init__(self, ds: Any, script: bool, combined: tuple[str, Any] | None = None) -> None:
        self.ds = ds
        self.script = script
        self.combined = combined


class Chain:
    """Stateless stages fused into one Flink operator reading ``source``."""

    def __init__(self, source: Stream) -> None:
        self.source = source
        self.stages: list = []
        self.tags: dict[str, Any] = {}  # output tags of the last stage
        self.dlq: Any = None  # the dead-letter output tag, once a stage needs it
        self.closed = False  # tagged outputs or a terminal step: nothing more joins
        self.keyed: tuple[str, str, Any] | None = None  # (label, what, errors) of the reader
        self.feeder: Any = None  # the Java combine path's Feeder, when the chain feeds it
        self.ds: Any = None  # the built operator
        self.side: dict[str, Any] = {}  # tag -> side-output DataStream, once taken


class ChainOutput:
    """Output ``tag`` of ``chain`` (None: the main output)."""

    __slots__ = ("chain", "tag")

    def __init__(self, chain: Chain, tag: str | None) -> None:
        self.chain = chain
        self.tag = tag

    @property
    def open(self) -> bool:
        """Whether a reader may still end the chain with its own terminal step: the main
        output of a chain not built yet and not closed."""
        return self.tag is None and not self.chain.closed and self.chain.ds is None
