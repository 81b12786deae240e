"""The Beam runner's tests need apache_beam (tox envs beam-277 and beam-261). Makes
``tests/support`` importable (``from cross_runner import ...``, shared with other runners'
tests)."""

import os
import sys

import pytest

pytest.importorskip(
    "apache_beam", reason="apache_beam is not installed; run these tests with tox -e beam-277"
)

SUPPORT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)
