"""The Flink runner's tests need pyflink (tox env ``flink``). They share one JVM: PyFlink starts
it at the first job of the session and every later job reuses it and its mini-cluster (the first
job takes 10-40 s, later ones a few seconds), so keep inputs tiny and parallelism 1.

The session gets a private temp directory (``TMPDIR``, hence the JVM's ``java.io.tmpdir``; each
run sets Flink's ``io.tmp.dirs`` under it) and stops the JVM by its pid at the end.
``tests/support`` is importable (``from cross_runner import ...``, shared with the other runners'
tests).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time

import pytest

SUPPORT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)

pytest.importorskip(
    "pyflink", reason="pyflink is not installed; run the Flink runner's tests with tox -e flink"
)


@pytest.fixture(scope="session", autouse=True)
def flink_jvm(tmp_path_factory: pytest.TempPathFactory):
    """One JVM for the session, with a private TMPDIR; stopped by pid at the end."""
    tmp = str(tmp_path_factory.mktemp("flink-tmp"))
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = tmp
    tempfile.tempdir = None  # let tempfile pick up the new TMPDIR
    try:
        yield tmp
    finally:
        from pyflink import java_gateway

        gw = getattr(java_gateway, "_gateway", None)
        if gw is not None:
            pid = int(gw.jvm.ProcessHandle.current().pid())
            try:
                gw.shutdown()
            except Exception:  # noqa: BLE001 - the JVM may be gone already
                pass
            java_gateway._gateway = None
            _stop(pid)
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved
        tempfile.tempdir = None


def _stop(pid: int) -> None:
    """End the JVM with this pid (SIGTERM, then SIGKILL after 10 s)."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child: poll for its existence
                done = 0 if os.path.exists(f"/proc/{pid}") else pid
            if done == pid:
                return
            time.sleep(0.1)
