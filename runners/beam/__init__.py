"""The Beam runner: translates fluvial pipelines to apache_beam (``--runner beam``)."""

from __future__ import annotations

from .logs import quiet_beam_import

try:
    with quiet_beam_import():
        import apache_beam  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the Beam runner needs apache_beam; install 'fluvial[beam]' (pip install 'fluvial[beam]')"
    ) from e

from .runner import BeamRunner

__all__ = ["BeamRunner"]
