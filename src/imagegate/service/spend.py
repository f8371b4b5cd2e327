"""Spend against limits, per team or per key: what ``GET /admin/spend`` and ``imagegate spend`` show.

For each holder, in its own budget period and quota period (or the one asked for), in the
configured time zone:

- **spend** and **images** come from the ledger (the source of truth: every attempt's settled
  cost, failed attempts included at what the provider bills);
- **reserved** comes from admission: what requests in flight hold right now (their upper bounds),
  read through ``AdmissionStore.usage``;
- **remaining** is the limit minus both (never below zero), ``None`` without a limit or when the
  period asked for is not the limit's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import anyio.to_thread

from imagegate.accounting.admission import AdmissionStore, Seed, period_bucket
from imagegate.accounting.ports import KeyStore, TeamStore
from imagegate.domain.limits import Limits, Period
from imagegate.domain.money import usd_string

SpendBy = Literal["team", "key"]
SPEND_BY: tuple[SpendBy, ...] = ("team", "key")


@dataclass(frozen=True, slots=True)
class Holder:
    """A team or key with its limits, as admission names it (``team:<name>``, ``key:<id>``)."""

    kind: SpendBy
    id: int
    name: str
    team: str | None
    limits: Limits

    @property
    def admission_name(self) -> str:
        """The holder's name in admission's buckets."""
        return f"team:{self.name}" if self.kind == "team" else f"key:{self.id}"


@dataclass(frozen=True, slots=True)
class SpendLine:
    """One holder's spend, reservations and headroom in one budget period and one quota period."""

    holder: Holder
    budget_period: Period
    budget_since: datetime | None
    spend_micros: int
    reserved_micros: int
    remaining_micros: int | None
    quota_period: Period
    quota_since: datetime | None
    images: int
    reserved_images: int
    remaining_images: int | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape (money as decimal strings of USD)."""
        limits = self.holder.limits
        return {
            self.holder.kind: self.holder.name,
            **({"team": self.holder.team} if self.holder.kind == "key" else {}),
            "budget_period": self.budget_period,
            "budget_since": None if self.budget_since is None else self.budget_since.isoformat(),
            "spend_usd": usd_string(self.spend_micros),
            "reserved_usd": usd_string(self.reserved_micros),
            "budget_usd": None if limits.budget_micros is None else usd_string(limits.budget_micros),
            "remaining_usd": None if self.remaining_micros is None else usd_string(self.remaining_micros),
            "quota_period": self.quota_period,
            "quota_since": None if self.quota_since is None else self.quota_since.isoformat(),
            "images": self.images,
            "reserved_images": self.reserved_images,
            "image_quota": limits.image_quota,
            "remaining_images": self.remaining_images,
        }


class SpendReport:
    """Builds spend lines from the key and team stores, the ledger and admission's live holds."""

    def __init__(
        self,
        *,
        keys: KeyStore,
        teams: TeamStore,
        ledger_sum: Callable[[Seed], int],
        admission: AdmissionStore | None,
        timezone: str = "UTC",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._keys = keys
        self._teams = teams
        self._ledger_sum = ledger_sum
        self._admission = admission
        self._zone = ZoneInfo(timezone)
        self._clock = clock

    def holders(self, by: SpendBy) -> list[Holder]:
        """Every team, or every key not revoked, oldest first."""
        if by == "team":
            return [Holder("team", team.id, team.name, None, team.limits) for team in self._teams.list_teams()]
        return [
            Holder("key", key.id, key.name, None if key.team is None else key.team.name, key.limits)
            for key in self._keys.list_keys()
            if key.revoked_at is None
        ]

    async def lines(self, by: SpendBy, period: Period | None = None) -> list[SpendLine]:
        """One line per holder; ``period`` replaces each holder's own budget and quota periods."""
        now = self._clock()
        holders = await anyio.to_thread.run_sync(self.holders, by)
        return [await self._line(holder, period, now) for holder in holders]

    async def limited_lines(self, by: SpendBy, most: int) -> tuple[list[SpendLine], int]:
        """Lines of the first ``most`` holders (oldest first) that have a budget or an image quota,
        and how many more such holders were left out (a bound for gauges read at scrape time)."""
        now = self._clock()
        limited = [
            h
            for h in await anyio.to_thread.run_sync(self.holders, by)
            if h.limits.budget_micros is not None or h.limits.image_quota is not None
        ]
        return [await self._line(holder, None, now) for holder in limited[:most]], max(len(limited) - most, 0)

    async def _line(self, holder: Holder, period: Period | None, now: datetime) -> SpendLine:
        limits = holder.limits
        column: Literal["key_name", "team"] = "key_name" if holder.kind == "key" else "team"
        budget_period = limits.budget_period if period is None else period
        quota_period = limits.quota_period if period is None else period
        usd_bucket, usd_since, _ = period_bucket("usd", budget_period, now, self._zone)
        img_bucket, img_since, _ = period_bucket("img", quota_period, now, self._zone)
        # The ledger's sums are database reads: off the event loop, which serves image requests.
        spend, images = await anyio.to_thread.run_sync(
            lambda: (
                self._ledger_sum(Seed(column, holder.name, "cost", usd_since)),
                self._ledger_sum(Seed(column, holder.name, "images", img_since)),
            )
        )
        reserved_micros = await self._held(holder, usd_bucket, now)
        reserved_images = await self._held(holder, img_bucket, now)
        own_budget = limits.budget_micros is not None and budget_period == limits.budget_period
        own_quota = limits.image_quota is not None and quota_period == limits.quota_period
        return SpendLine(
            holder=holder,
            budget_period=budget_period,
            budget_since=usd_since,
            spend_micros=spend,
            reserved_micros=reserved_micros,
            remaining_micros=_left(limits.budget_micros, spend + reserved_micros) if own_budget else None,
            quota_period=quota_period,
            quota_since=img_since,
            images=images,
            reserved_images=reserved_images,
            remaining_images=_left(limits.image_quota, images + reserved_images) if own_quota else None,
        )

    async def _held(self, holder: Holder, bucket: str, now: datetime) -> int:
        if self._admission is None:
            return 0
        _, held = await self._admission.usage(holder.admission_name, bucket, now)
        return held


def _left(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(limit - used, 0)


def spend_rows(lines: Sequence[SpendLine]) -> list[dict[str, Any]]:
    """The JSON rows of a spend report."""
    return [line.as_dict() for line in lines]
