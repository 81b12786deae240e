"""SIGINT and SIGTERM stop a command cleanly, the same way.

Rule: while :func:`stop_on_signals` is active, either signal raises ``KeyboardInterrupt`` in the
main thread, also when the shell started the process with SIGINT ignored (a background job).
The direct runner turns that into a cancelled run: its sinks abort their pending work, nothing
half done is committed. Each signal is caught once; a second one while the first is being
handled gets the signal's default action, so a run that does not stop can still be ended.
``exit_status`` is what a shell reports for the signal (130 for SIGINT, 143 for SIGTERM).

>>> with stop_on_signals() as stop:
...     pass
>>> stop.received is None
True
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stop:
    """Which signal stopped the command (None: none did)."""

    def __init__(self) -> None:
        self.received: int | None = None

    @property
    def exit_status(self) -> int:
        return 128 + (self.received or signal.SIGINT)

    @property
    def name(self) -> str:
        """``SIGINT`` or ``SIGTERM`` (SIGINT when none was received: a KeyboardInterrupt)."""
        return signal.Signals(self.received or signal.SIGINT).name


@contextlib.contextmanager
def stop_on_signals() -> Iterator[Stop]:
    """Install the handlers (main thread only; elsewhere a no-op) and restore the previous
    ones on exit."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.received is None:
            stop.received = signum
            signal.signal(signum, signal.SIG_DFL)  # a second signal is not caught
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
