"""The Beam runner's tests need apache_beam (tox envs beam-277 and beam-261)."""

import pytest

pytest.importorskip(
    "apache_beam", reason="apache_beam is not installed; run these tests with tox -e beam-277"
)
