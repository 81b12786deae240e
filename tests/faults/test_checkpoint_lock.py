"""Issue 11, defect 4: two instances on one checkpoint directory were not prevented; both died
(each deleting the other's staged files) and the directory could no longer be restored.

Now the directory is locked (``fcntl.flock`` on ``.lock``) for the whole run, restarts
included: a second instance is refused at once, naming the directory and the holder's pid. The
kernel releases the lock when the holder dies, even by SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from fluvial.errors import CheckpointLockedError
from fluvial.runners.direct.checkpoint_dir import CheckpointDirectory

JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lock_job.py")


class Proc:
    """A job process, SIGKILLed by pid at teardown if still running."""

    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen([sys.executable, JOB, *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            seen += line
            if text in line:
                return
        raise AssertionError(f"the job never printed {text!r}; its output:\n{seen}")

    def kill(self) -> None:
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait()
        self.p.stdout.close()


@pytest.fixture
def procs():
    started: list[Proc] = []

    def start(*args: str) -> Proc:
        proc = Proc(*args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


def test_a_second_instance_is_refused_at_once_naming_the_holder(tmp_path, procs):
    ck = str(tmp_path / "ck")
    first = procs(ck, "100000", "0.05")
    first.wait_for("seen=1")  # running: it holds the directory
    # refused at once: had it waited for the lock, the timeout would end the test
    second = subprocess.run([sys.executable, JOB, ck, "3", "0"], capture_output=True, text=True,
                            timeout=120)
    assert second.returncode != 0
    assert (f"CheckpointLockedError: checkpoint directory {ck} is in use by another running "
            f"pipeline (pid {first.p.pid}, recorded in {ck}/.lock)") in second.stderr
    assert "seen=" not in second.stdout
    assert first.p.poll() is None  # the first is unharmed

    # the holder dies by SIGKILL: the kernel releases the lock, the next run resumes
    first.kill()
    third = subprocess.run([sys.executable, JOB, ck, "3", "0"], capture_output=True, text=True,
                           timeout=120)
    assert third.returncode == 0, third.stderr
    assert "DONE restored_from=" in third.stdout and "restored_from=None" not in third.stdout


def test_the_lock_is_per_directory_within_one_process_too(tmp_path):
    ck = str(tmp_path / "ck")
    with CheckpointDirectory.open(ck):
        with pytest.raises(CheckpointLockedError, match=f"pid {os.getpid()}"):
            CheckpointDirectory.open(ck)
        with CheckpointDirectory.open(str(tmp_path / "other")):  # another directory: fine
            pass
    with CheckpointDirectory.open(ck):  # released by close
        pass
