"""Watermark holds of a grouping on Flink: a Python keyed function cannot hold back its output
watermark, so the runner holds it in Java right after the function (``fluvial.flink.GroupHolds``,
on the same keys: the function's output stream reinterpreted as keyed by the same selector).

The protocol:

* The window store keeps each window's hold in the key's state, with the key's earliest hold
  (:mod:`.window_state`), so holds are keyed state: checkpointed, and moved with their key
  when a job is rescaled.
* A call (element, timer, clock tick) that changes the key's earliest hold ends by reporting
  it: the function emits ``Row(key, hold)`` after the call's panes (``Long.MAX_VALUE``: the key
  holds nothing). ``GroupHolds`` keeps every key's earliest hold in its own keyed state, and in
  memory the minimum over its keys (rebuilt from that state when it opens, after a restore or a
  rescale), and forwards ``min(input watermark, that minimum)``, never moving back. Flink takes
  the minimum over the instances downstream, so holds are per subtask, as watermarks are.
* The window driver needs the output watermark ``GroupHolds`` has published
  (``WindowStore.output_watermark``: an element places an element hold only if its output time
  is not behind it). At an element this is exactly ``min(watermark, earliest hold)`` over this
  instance's keys: ``GroupHolds`` forwards a watermark only after the timers it fired (which
  only release holds), and a hold is placed only at or after the published watermark, so the
  minimum never drops below what was published. :class:`SubtaskHolds` computes it from the
  holds this instance knows.
* After a restore ``GroupHolds`` knows every key's hold at once; the function knows a key's
  again the first time it processes that key (a key's state records which instance of the
  function last reported its hold, :attr:`SubtaskHolds.epoch`; a fresh instance learns the
  hold from the state without reporting it). Until then its output watermark may be above the
  published one, never below: an element of another key whose output time lies between the
  two gets a garbage-collection hold instead of an element hold (its pane is stamped at the end
  of its window, not earlier), and no pane leaves behind the published watermark. A restored
  Flink job replays its input from the checkpoint with watermarks starting again from the
  minimum, so its panes can differ from an uninterrupted run's in any case.

>>> h = SubtaskHolds()
>>> h.update(b"a", 5_000); h.update(b"b", 7_000); h.publish(8_000)
5000
>>> h.update(b"a", None); h.minimum(), h.publish(8_000), h.drain()
(7000, 7000, [(b'a', 5000), (b'b', 7000), (b'a', None)])
"""

from __future__ import annotations

import heapq
import os


class SubtaskHolds:
    """The watermark holds of one instance of a grouping (a Flink subtask) as its function
    knows them: each key's earliest hold by the key's bytes (what Flink partitions on), the
    earliest over the keys, and the reports not yet sent to ``GroupHolds``. ``epoch`` tells
    this instance apart from earlier ones (a job restored from a checkpoint runs new ones)."""

    def __init__(self) -> None:
        self.epoch = int.from_bytes(os.urandom(8), "big")
        self.by_key: dict[bytes, int] = {}
        self._count: dict[int, int] = {}  # hold -> how many keys hold there
        self._heap: list[int] = []  # the holds in _count, and stale ones removed lazily
        self.reports: list[tuple[bytes, int | None]] = []

    def _set(self, key: bytes, hold: int | None) -> None:
        old = self.by_key.pop(key, None)
        if old is not None:
            n = self._count[old] - 1
            if n:
                self._count[old] = n
            else:
                del self._count[old]
        if hold is not None:
            self.by_key[key] = hold
            if hold in self._count:
                self._count[hold] += 1
            else:
                self._count[hold] = 1
                heapq.heappush(self._heap, hold)

    def update(self, key: bytes, hold: int | None) -> None:
        """The earliest hold of ``key`` is now ``hold`` (None: none): reported to GroupHolds."""
        self._set(key, hold)
        self.reports.append((key, hold))

    def learn(self, key: bytes, hold: int) -> None:
        """``key`` holds at ``hold`` since before this instance (GroupHolds knows it)."""
        self._set(key, hold)

    def minimum(self) -> int | None:
        """The earliest hold of any key of this instance, or None."""
        heap, count = self._heap, self._count
        while heap and heap[0] not in count:
            heapq.heappop(heap)
        return heap[0] if heap else None

    def publish(self, watermark: int) -> int:
        """The output watermark while the input watermark is ``watermark``: the minimum of it
        and the earliest hold (see the module docstring)."""
        hold = self.minimum()
        return watermark if hold is None or watermark < hold else hold

    def drain(self) -> list[tuple[bytes, int | None]]:
        """The reports since the last drain, in order."""
        out, self.reports = self.reports, []
        return out
