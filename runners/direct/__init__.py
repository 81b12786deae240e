"""The direct runner: fluvial's in-process engine."""

from fluvial.runners.direct.runner import DirectRunner

__all__ = ["DirectRunner"]
