"""Spending and traffic limits a key or a team may carry (governance).

A ``Limits`` value is pure data: which limits apply and their sizes. Enforcement (reservations,
counters, periods in the configured time zone) lives in ``accounting/``; storage as JSON in
``store/``. Every field is optional: ``None`` means "no limit of this kind".

Money is integer micro-dollars (``budget_micros``), never float.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

Period = Literal["day", "week", "month", "total"]
PERIODS: tuple[Period, ...] = get_args(Period)


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one key or one team; a request must pass both its key's and its team's."""

    budget_micros: int | None = None
    budget_period: Period = "month"
    image_quota: int | None = None
    quota_period: Period = "month"
    rpm: int | None = None
    ipm: int | None = None
    max_concurrent: int | None = None

    @property
    def empty(self) -> bool:
        """Whether no limit of any kind is set (admission can skip this holder)."""
        return (
            self.budget_micros is None
            and self.image_quota is None
            and self.rpm is None
            and self.ipm is None
            and self.max_concurrent is None
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored and as the admin API shows it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Limits:
        """Read the stored form; unknown fields are ignored, missing ones take their defaults."""
        if data is None:
            return cls()
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        for period_field in ("budget_period", "quota_period"):
            if period_field in known and known[period_field] not in PERIODS:
                raise ValueError(f"{period_field} must be one of {', '.join(PERIODS)}")
        return cls(**known)


@dataclass(frozen=True, slots=True)
class Headroom:
    """What is left of the limits that applied to a request, for the dialects' rate-limit headers.

    Each field is None when no such limit applies. Where a key and its team both have a limit
    of a kind, the tighter one is shown.
    """

    requests_limit: int | None = None
    requests_remaining: int | None = None
    requests_reset_s: float | None = None
    budget_remaining_micros: int | None = None
    images_remaining: int | None = None
