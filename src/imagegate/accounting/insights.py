"""Read-only questions operators ask of the ledger: outcomes, latency percentiles, spend over time,
top errors, and a filtered search of attempts (the console's ledger explorer).

The store answers in SQL (``store/insights.py``); figures stay integers (micro-dollars, counts,
milliseconds), so nothing here rounds money. Windows are ``since <= created_at < until``, the same
rule as ``ReportStore.aggregate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from imagegate.accounting.ports import LedgerEntry

Bucket = Literal["hour", "day"]
SeriesDimension = Literal["model", "route", "team"]
AttemptStatus = Literal["ok", "error", "unknown"]
ATTEMPT_STATUSES: tuple[AttemptStatus, ...] = ("ok", "error", "unknown")


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Requests in a window and how many of them ended with a successful attempt."""

    requests: int
    succeeded: int

    @property
    def success_rate_bp(self) -> int | None:
        """Succeeded over all requests, in basis points (1/100 of a percent); ``None`` with no requests."""
        if self.requests == 0:
            return None
        return (self.succeeded * 10_000) // self.requests


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One bucket of one model's route for one team: ``bucket`` is the bucket's start as
    ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:00`` (UTC); ``team`` is None for keys without a team."""

    bucket: str
    model: str
    route: str
    spend_micros: int
    images: int
    attempts: int
    team: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorCount:
    """How often an error code was recorded in a window, and when last."""

    error_code: str
    count: int
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class LedgerSearch:
    """Filters of the ledger explorer; ``None`` means any. Exact matches only (indexes serve them)."""

    request_id: str | None = None
    key_name: str | None = None
    team: str | None = None
    model: str | None = None
    route: str | None = None
    status: AttemptStatus | None = None
    error_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class LedgerInsights(Protocol):
    """Aggregates and searches over the ledger for dashboards."""

    def outcomes(self, since: datetime | None, until: datetime | None) -> Outcomes:
        """Distinct requests in the window, and those with an ``ok`` attempt."""
        ...

    def latency_percentiles(
        self, since: datetime | None, until: datetime | None, quantiles: tuple[float, ...]
    ) -> list[int | None]:
        """Nearest-rank percentiles of successful attempts' latency (ms), one per quantile."""
        ...

    def series(self, since: datetime, until: datetime | None, bucket: Bucket) -> list[SeriesPoint]:
        """Spend, images and attempts per bucket, model, route and team, oldest bucket first (one
        scan serves the charts by model, by route and by team)."""
        ...

    def top_errors(self, since: datetime | None, until: datetime | None, limit: int) -> list[ErrorCount]:
        """The most frequent error codes of failed attempts, most frequent first."""
        ...

    def search(self, query: LedgerSearch, limit: int) -> list[LedgerEntry]:
        """Attempts matching every filter, newest first."""
        ...
