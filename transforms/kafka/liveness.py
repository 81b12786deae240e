"""Broker loss: how Kafka IO notices that its brokers stopped answering, retries, and gives up.

Kafka clients reconnect by themselves and never raise when a broker goes away: a reader only
sees empty fetches, a writer a queue that stops draining. Without a bound a job would show
``0 ev/s`` forever. The rules, one :class:`BrokerWatch` per reader or writer:

* **Detecting.** A reader probes its brokers (a metadata or ListOffsets request for its
  partitions, with a short timeout) when a fetch returned nothing and either the client
  reported a connection error since the last look, or nothing has come from the brokers for
  :data:`QUIET_S` seconds. A writer's wait (a flush, a full client buffer, a transaction call)
  counts as failing while nothing it waits for is acknowledged.
* **Retrying.** While the brokers do not answer, the client keeps reconnecting and the watch
  probes again after a backoff (:data:`FIRST_DELAY_S`, doubling up to :data:`MAX_DELAY_S`);
  each failed attempt is counted, the first one logged (a WARNING of logger
  ``fluvial.kafka``) and shown by :meth:`BrokerWatch.status` (the reader's ``progress()``:
  the direct runner's status line shows ``broker down 12s, retry #4 in 2s``). An answer
  ends the outage (logged once, with its length).
* **Giving up.** When the brokers have not answered for ``broker_timeout`` seconds, counted
  from the first failed attempt, the watch raises
  :class:`~fluvial.transforms.kafka.errors.BrokerUnreachableError` naming the transform, the
  bootstrap servers and the last error. The run fails like on any error, and the restart
  strategy (``--restart-attempts``) decides whether it restarts from its latest checkpoint.
  An authentication failure is never retried: it is raised at once.

>>> clock = iter([0.0, 0.0, 1.0, 30.0, 61.0]).__next__
>>> w = BrokerWatch("Orders", "127.0.0.1:9092", timeout_s=60, now=clock)
>>> w.failed("Connection refused"); w.status()["attempts"]
1
>>> w.failed("Connection refused")      # 30 s after the first failed attempt: retrying
>>> w.failed("Connection refused")      # 61 s: gives up
Traceback (most recent call last):
...
fluvial.transforms.kafka.errors.BrokerUnreachableError: transform 'Orders': lost the Kafka broker at '127.0.0.1:9092' (no answer for 61s, last error: Connection refused); the run fails here, and --restart-attempts decides whether it restarts from its latest checkpoint; check the broker, or raise broker_timeout (on the transform, or --kafka-broker-timeout for every Kafka transform)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .errors import BrokerUnreachableError, servers_text

QUIET_S = 5.0
"""A reader with nothing from its brokers for this long probes them."""
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 8.0
PROBE_TIMEOUT_S = 2.0
"""At most this long per probe (the executor loop waits for it)."""

log = logging.getLogger("fluvial.kafka")


class BrokerWatch:
    """Outage bookkeeping for one reader or writer (see the module docstring)."""

    def __init__(self, label: str, servers: Any, timeout_s: float,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.servers = servers
        self.timeout_s = float(timeout_s)
        self.now = now
        self.down_since: float | None = None
        self.last_error: str | None = None
        self.attempts = 0
        self.delay = FIRST_DELAY_S
        self.next_try = 0.0
        self.last_contact = now()

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def ok(self) -> None:
        """The brokers answered."""
        t = self.now()
        self.last_contact = t
        if self.down_since is not None:
            log.warning("transform '%s': the Kafka broker at %s answers again after %.0fs "
                        "(%d failed attempts)", self.label, servers_text(self.servers),
                        t - self.down_since, self.attempts)
            self.down_since = None
            self.attempts = 0
            self.delay = FIRST_DELAY_S
            self.last_error = None

    def failed(self, error: str) -> None:
        """An attempt to reach the brokers failed with ``error``: back off, or give up after
        ``timeout_s`` (raises BrokerUnreachableError)."""
        t = self.now()
        self.last_error = error
        self.attempts += 1
        if self.down_since is None:
            self.down_since = t
            log.warning("transform '%s': the Kafka broker at %s does not answer (%s); retrying "
                        "for up to %gs", self.label, servers_text(self.servers), error,
                        self.timeout_s)
        self.next_try = t + self.delay
        self.delay = min(self.delay * 2, MAX_DELAY_S)
        if t - self.down_since >= self.timeout_s:
            raise BrokerUnreachableError(self.label, self.servers, "lost", error,
                                         round(t - self.down_since))

    def due(self, trouble: bool) -> bool:
        """Time to probe: the backoff has passed, and the client reported trouble, an outage
        is on, or nothing came for QUIET_S."""
        t = self.now()
        if t < self.next_try:
            return False
        return trouble or self.down_since is not None or t - self.last_contact >= QUIET_S

    def probe_timeout(self) -> float:
        return PROBE_TIMEOUT_S

    def status(self) -> dict[str, Any] | None:
        """While the brokers do not answer: what the progress line shows."""
        if self.down_since is None:
            return None
        t = self.now()
        return {"servers": servers_text(self.servers).strip("'"),
                "down_s": t - self.down_since, "attempts": self.attempts,
                "retry_in_s": max(self.next_try - t, 0.0), "timeout_s": self.timeout_s,
                "last_error": self.last_error}


def broker_timeout(own: float | None, options: Any) -> float:
    """The transform's ``broker_timeout``, else the pipeline's ``--kafka-broker-timeout``."""
    if own is not None:
        return float(own)
    return float(getattr(options, "kafka_broker_timeout", None) or 60.0)


__all__ = ["BrokerWatch", "broker_timeout", "QUIET_S"]
