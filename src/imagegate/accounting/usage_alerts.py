"""Usage alerts: which thresholds a holder's use has reached, and the port that marks a crossing once.

A threshold is a percent of a limit (a budget in micro-dollars, an image quota in images). It is
reached when ``used * 100 >= percent * limit``. A crossing is *claimed* in shared storage keyed by
(holder, metric, period, threshold): the first replica to claim it sends the alert, the others
see it taken, and a new period starts with nothing claimed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


def reached(thresholds: Sequence[int], limit: int, used: int) -> list[int]:
    """The thresholds (percents of ``limit``) that ``used`` has reached, lowest first; none before any use."""
    if used <= 0:
        return []
    return sorted(percent for percent in set(thresholds) if used * 100 >= percent * limit)


class AlertMarks(Protocol):
    """Crossings already alerted, shared by every replica."""

    def claim(self, holder: str, metric: str, period: str, threshold: int, at: datetime) -> bool:
        """Mark the crossing; True only for the first claim of it (on any replica)."""
        ...
