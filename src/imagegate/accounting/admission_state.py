"""The admission state port: holds, spends and refusals in buckets, and the period a bucket belongs to.

``accounting.admission`` (the policy) builds holds from limits; ``store/sql_admission`` and
``store/redis_admission`` implement ``AdmissionStore``. Bucket names are documented there.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from imagegate.domain.limits import Period

Metric = Literal["cost", "images"]


@dataclass(frozen=True, slots=True)
class Seed:
    """Where a spent counter's starting value comes from: the ledger's sum of ``metric`` for rows
    whose ``column`` (``key_name`` or ``team``) is ``value``, created at or after ``since``."""

    column: Literal["key_name", "team"]
    value: str
    metric: Metric
    since: datetime | None


@dataclass(frozen=True, slots=True)
class Hold:
    """An amount held against one bucket of one holder, until ``expires_at``."""

    holder: str
    bucket: str
    amount: int
    limit: int
    expires_at: datetime
    # Budget and image buckets have a spent counter, seeded from the ledger; rate and concurrency do not.
    seed: Seed | None = None

    @property
    def releasable(self) -> bool:
        """Whether settling drops this hold (rate holds stay until their minute is over)."""
        return self.bucket not in ("rpm", "ipm")


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first hold that did not fit: what its bucket had in use, and when its oldest hold lapses."""

    hold: Hold
    used: int
    next_expiry: datetime | None = None


@dataclass(frozen=True, slots=True)
class Spend:
    """An amount actually spent in one bucket (added to its counter when the bucket has one).

    ``began_at`` is when the attempt that spent it started: a store whose counters were rebuilt
    from the ledger after that (Redis after a loss) already counted it.
    """

    holder: str
    bucket: str
    amount: int
    began_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AttemptSpend:
    """What one attempt of an admitted request cost, and when it began."""

    began_at: datetime
    micros: int
    images: int


class AdmissionStore(Protocol):
    """Shared admission state: holds and spent counters, changed atomically."""

    async def hold(self, reservation_id: str, holds: Sequence[Hold], now: datetime) -> Refusal | None:
        """Add every hold to the reservation's (amounts add up, expiries extend) if each bucket's
        spent + live holds + amount stays within its limit; otherwise change nothing and return
        the first refusal. Holds past their expiry count for nothing."""
        ...

    async def settle(self, reservation_id: str, release: Sequence[tuple[str, str]], spends: Sequence[Spend]) -> None:
        """Drop the reservation's holds in the ``(holder, bucket)`` pairs of ``release`` and add
        ``spends`` to the spent counters, atomically. Settling twice releases nothing twice."""
        ...

    async def usage(self, holder: str, bucket: str, now: datetime) -> tuple[int, int]:
        """``(spent, held)`` of one bucket now (0 for a counter not seeded yet)."""
        ...


class AdmissionUnavailable(Exception):
    """The shared admission state cannot be reached; the caller fails closed."""


def period_bucket(
    kind: str, period: Period, now: datetime, zone: ZoneInfo
) -> tuple[str, datetime | None, datetime | None]:
    """``(bucket, period start, next period start)`` for ``now`` in ``zone`` (None, None for ``total``)."""
    if period == "total":
        return f"{kind}:total", None, None
    return _bucket_of_day(kind, period, now.astimezone(zone).date(), zone)


@functools.lru_cache(maxsize=256)
def _bucket_of_day(kind: str, period: Period, day: date, zone: ZoneInfo) -> tuple[str, datetime, datetime]:
    # Cached per local day: every request of the day asks for the same few buckets.
    if period == "day":
        start, end, label = day, day + timedelta(days=1), f"d{day:%Y-%m-%d}"
    elif period == "week":
        start = day - timedelta(days=day.weekday())
        end, label = start + timedelta(days=7), f"w{start:%Y-%m-%d}"
    else:
        start = day.replace(day=1)
        end, label = (start + timedelta(days=32)).replace(day=1), f"m{start:%Y-%m}"
    # Local midnights, so a DST change inside the period does not shift them.
    return f"{kind}:{label}", _midnight(start, zone), _midnight(end, zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
