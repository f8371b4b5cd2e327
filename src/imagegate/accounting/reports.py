"""Spend reports: the port that aggregates the ledger with acceptance feedback, and the figures
derived from the sums (acceptance rate, cost per image, cost per accepted image).

The store does the aggregation (``GROUP BY`` in SQL); this module only divides. Every cost in
the group counts, also failed, blocked and retried attempts and rejected or unrated images: the
cost per accepted image is what was paid divided by what was kept (shared/reference/pricing.md §5.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, Protocol

ReportDimension = Literal["model", "route", "key", "team"]
DIMENSIONS: tuple[ReportDimension, ...] = ("model", "route", "key", "team")


@dataclass(frozen=True, slots=True)
class ReportGroup:
    """Sums over one group's ledger rows (``group`` is ``None`` for the total, or a missing key).

    ``requests`` counts distinct request ids (a request retried on two routes counts on both);
    ``attempts`` every ledger row; ``images`` delivered images; ``accepted``/``rejected`` the
    current verdict on delivered images; ``moderated_attempts`` those blocked by moderation; ``spend_micros`` the whole cost, of which
    ``estimated_micros`` rests on estimates (rows flagged ``cost_estimated``).
    """

    group: str | None
    requests: int
    attempts: int
    failed_attempts: int
    images: int
    accepted: int
    rejected: int
    spend_micros: int
    estimated_micros: int
    # Attempts refused for moderation, whether as an HTTP error or inside a 200 (a Responses image
    # tool call that failed): both are ledger rows with error code ``moderation_blocked``.
    moderated_attempts: int = 0

    @property
    def unrated(self) -> int:
        """Delivered images nobody gave a verdict on."""
        return max(0, self.images - self.accepted - self.rejected)

    @property
    def acceptance_rate(self) -> Decimal | None:
        """Accepted over rated images (four places), ``None`` before any verdict."""
        rated = self.accepted + self.rejected
        if rated == 0:
            return None
        return (Decimal(self.accepted) / rated).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)

    @property
    def cost_per_image_micros(self) -> int | None:
        """The whole spend over delivered images, ``None`` when none were delivered."""
        return _per(self.spend_micros, self.images)

    @property
    def cost_per_accepted_micros(self) -> int | None:
        """The whole spend over accepted images, ``None`` when none were accepted."""
        return _per(self.spend_micros, self.accepted)


class ReportStore(Protocol):
    """Aggregates over the ledger joined to the current acceptance verdicts."""

    def aggregate(
        self,
        by: ReportDimension,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        tag: tuple[str, str] | None = None,
    ) -> tuple[list[ReportGroup], ReportGroup]:
        """One group per value of ``by`` (most spend first) and the total over all of them,
        for ledger rows with ``since <= created_at < until`` (and carrying ``tag``, when given)."""
        ...


def _per(micros: int, count: int) -> int | None:
    if count == 0:
        return None
    return int((Decimal(micros) / count).quantize(Decimal(1), rounding=ROUND_HALF_UP))
