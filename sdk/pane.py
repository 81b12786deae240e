"""PaneInfo: which firing of a window produced an output (Beam's model).

>>> PaneInfo.ON_TIME_AND_ONLY_FIRING.timing
<PaneTiming.ON_TIME: 'ON_TIME'>
"""

from __future__ import annotations

import enum

import attrs


class PaneTiming(enum.Enum):
    EARLY = "EARLY"
    ON_TIME = "ON_TIME"
    LATE = "LATE"
    UNKNOWN = "UNKNOWN"


@attrs.frozen(slots=True)
class PaneInfo:
    """Describes one pane: its timing, whether first/last, its index among all panes of the
    window and its index among the non-early panes (-1 for early panes)."""

    is_first: bool
    is_last: bool
    timing: PaneTiming
    index: int
    nonspeculative_index: int

    def to_dict(self) -> dict:
        return {
            "timing": self.timing.value,
            "is_first": self.is_first,
            "is_last": self.is_last,
            "index": self.index,
            "nonspeculative_index": self.nonspeculative_index,
        }


PaneInfo.NO_FIRING = PaneInfo(True, True, PaneTiming.UNKNOWN, 0, 0)  # type: ignore[attr-defined]
PaneInfo.ON_TIME_AND_ONLY_FIRING = PaneInfo(True, True, PaneTiming.ON_TIME, 0, 0)  # type: ignore[attr-defined]
NO_FIRING: PaneInfo = PaneInfo.NO_FIRING  # type: ignore[attr-defined]
