"""SIGTERM stops a direct run the way Ctrl-C (SIGINT) does.

Rule: while a pipeline runs on the direct runner in the main thread, a SIGTERM raises
``KeyboardInterrupt`` there, so the executor cancels the run (its sinks abort their pending
work, nothing half done is committed) and ``run`` returns ``CANCELLED``, as after Ctrl-C. This
applies only when SIGTERM has Python's default disposition: a handler the program (or
``fluvial run``) installed, or an ignored SIGTERM, is left alone. The previous disposition is
restored when the run ends. The model package (``fluvial``) installs no signal handlers.

>>> import signal
>>> before = signal.getsignal(signal.SIGTERM)
>>> with sigterm_as_interrupt():
...     pass
>>> signal.getsignal(signal.SIGTERM) is before
True
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Install the SIGTERM handler for the duration of the block (see the module rule)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
