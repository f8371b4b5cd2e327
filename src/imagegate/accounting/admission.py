"""Admission: budgets, image quotas, rate and concurrency limits, reserved before a provider is paid.

A request is admitted by *holding* its upper bound against every limit of its key and its team
at once (all fit, or nothing is held), and settled afterwards: the holds go, the actual cost and
images are added to what was spent. In the store's terms, each limit is a *bucket* of a *holder*:

    holder  key:<key id> | team:<team name>
    bucket  usd:<period>   micro-dollars spent (settled) + held, against budget_micros
            img:<period>   images made + held, against image_quota
            rpm | ipm      requests / images admitted in the last 60 s (holds that lapse, never released)
            conc           requests in flight (a hold of 1, released at the end)

``<period>`` is ``d2026-12-06``, ``w2026-12-07`` (the week's Monday), ``m2026-12`` or ``total``,
in the configured time zone, fixed when the request is admitted. Every hold carries an expiry: a
reservation's holds expire with its lease, so a crashed process's holds lapse and the budget comes
back (never lost for good, never counted twice: a lapsed hold is dropped, and settling it later
adds only what was actually spent).

Spent counters are *seeded* from the ledger (the source of truth) the first time a bucket is
used: a budget set mid-month counts the month's spend so far, and counters lost with a Redis
restart are rebuilt the same way. The stores (``store/sql_admission``, ``store/redis_admission``)
implement ``AdmissionStore``; this module turns limits into holds and refusals into errors.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from imagegate.accounting.admission_state import (
    AdmissionStore,
    AdmissionUnavailable,
    AttemptSpend,
    Hold,
    Refusal,
    Seed,
    Spend,
    period_bucket,
)
from imagegate.accounting.auth import Principal
from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.errors import (
    BudgetExceeded,
    ConcurrencyLimitExceeded,
    ImageQuotaExceeded,
    LimitExceeded,
    RateLimitExceeded,
    RequestExceedsLimit,
)
from imagegate.domain.limits import PERIODS, Headroom, Limits, Period
from imagegate.domain.money import MICROS_PER_USD, usd_string

__all__ = [
    "Admission",
    "AdmissionStore",
    "AdmissionUnavailable",
    "AttemptSpend",
    "Hold",
    "Refusal",
    "Reservation",
    "Seed",
    "Spend",
    "period_bucket",
]

RATE_WINDOW = timedelta(seconds=60)
# Retry-After for a budget or quota refused while other requests hold part of it.
SETTLE_WAIT_S = 2.0


@dataclass(slots=True)
class Reservation:
    """What a request holds: its buckets (fixed at admission) and the amounts held in them."""

    id: str
    holders: tuple[tuple[str, str, Limits, Seed | None, Seed | None], ...]
    created_at: datetime
    lease_until: datetime
    held_micros: int
    held_images: int
    settled: bool = False
    buckets: dict[str, tuple[str, str]] = field(default_factory=dict)

    def releasable(self) -> list[tuple[str, str]]:
        """Every ``(holder, bucket)`` this reservation holds and releases when settled."""
        return list(self.buckets.values())


def _usd(micros: int) -> str:
    # Cents when exact, else every micro-dollar: a refusal must not round a budget up.
    return f"{Decimal(micros) / MICROS_PER_USD:.2f}" if micros % 10_000 == 0 else usd_string(micros)


class Admission:
    """``reserve`` before the first provider call, ``extend`` before a dearer retry, ``settle`` at the end."""

    def __init__(
        self,
        store: AdmissionStore,
        *,
        timezone: str = "UTC",
        lease_s: float = 900.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._zone = ZoneInfo(timezone)
        self._lease = timedelta(seconds=lease_s)
        self._clock = clock

    @staticmethod
    def applies(principal: Principal) -> bool:
        """Whether any limit applies to this caller (no limits: admission is skipped entirely)."""
        return not principal.key_limits.empty or (principal.team_id is not None and not principal.team_limits.empty)

    async def reserve(self, principal: Principal, quote_micros: int, images: int) -> Reservation:
        """Hold ``quote_micros`` and ``images`` (and a request, and a concurrency slot) against
        every limit of the key and its team, atomically; raise ``LimitExceeded`` or
        ``RequestExceedsLimit`` when they do not fit."""
        now = self._clock()
        reservation = Reservation(
            id=secrets.token_hex(12),
            holders=self._holders(principal, now),
            created_at=now,
            lease_until=now + self._lease,
            held_micros=quote_micros,
            held_images=images,
        )
        holds: list[Hold] = []
        for holder, label, limits, usd_seed, img_seed in reservation.holders:
            holds.extend(
                self._holds_of(reservation, holder, label, limits, usd_seed, img_seed, now, quote_micros, images)
            )
        await self._hold(reservation, holds, now)
        return reservation

    async def extend(self, reservation: Reservation, micros: int, images: int) -> None:
        """Hold ``micros`` and ``images`` more for a retry or fallback that may cost more than held."""
        if micros <= 0 and images <= 0:
            return
        now = self._clock()
        holds = []
        for holder, _, limits, usd_seed, img_seed in reservation.holders:
            if micros > 0 and limits.budget_micros is not None:
                holds.append(self._extend_hold(reservation, holder, "usd", micros, limits.budget_micros, usd_seed))
            if images > 0 and limits.image_quota is not None:
                holds.append(self._extend_hold(reservation, holder, "img", images, limits.image_quota, img_seed))
        await self._hold(reservation, holds, now)
        reservation.held_micros += max(micros, 0)
        reservation.held_images += max(images, 0)

    async def settle(self, reservation: Reservation, actual_micros: int, actual_images: int) -> None:
        """Release what the reservation holds and add what was actually spent (once)."""
        await self.settle_attempts(reservation, [AttemptSpend(reservation.created_at, actual_micros, actual_images)])

    async def settle_attempts(self, reservation: Reservation, attempts: Sequence[AttemptSpend]) -> None:
        """``settle`` with the spend of each attempt apart (the service knows when each began)."""
        if reservation.settled:
            return
        spends = []
        for holder, _, limits, _, _ in reservation.holders:
            for attempt in attempts:
                if limits.budget_micros is not None and attempt.micros > 0:
                    bucket = reservation.buckets[f"{holder}|usd"][1]
                    spends.append(Spend(holder, bucket, attempt.micros, attempt.began_at))
                if limits.image_quota is not None and attempt.images > 0:
                    bucket = reservation.buckets[f"{holder}|img"][1]
                    spends.append(Spend(holder, bucket, attempt.images, attempt.began_at))
        await self._store.settle(reservation.id, reservation.releasable(), spends)
        reservation.settled = True

    async def add_unrecorded(self, entries: Sequence[LedgerEntry]) -> None:
        """Count attempts that reached the ledger without their request settling (a crashed
        process's, written by the sweeper at their quote) in every spent counter they belong to.

        Only counters that exist are changed (a missing one is seeded from the ledger, which has
        them); an attempt begun before a Redis loss is already in the rebuilt counters.
        """
        spends = []
        for entry in entries:
            holders = [] if entry.key_id is None else [f"key:{entry.key_id}"]
            if entry.team is not None:
                holders.append(f"team:{entry.team}")
            for holder in holders:
                for period in PERIODS:
                    if entry.cost_micros > 0:
                        bucket = period_bucket("usd", period, entry.created_at, self._zone)[0]
                        spends.append(Spend(holder, bucket, entry.cost_micros, entry.created_at))
                    if entry.images > 0:
                        bucket = period_bucket("img", period, entry.created_at, self._zone)[0]
                        spends.append(Spend(holder, bucket, entry.images, entry.created_at))
        if spends:
            await self._store.settle(f"swept-{secrets.token_hex(6)}", [], spends)

    def now(self) -> datetime:
        """The admission clock (attempts are stamped with it)."""
        return self._clock()

    async def release(self, reservation: Reservation) -> None:
        """Give everything back: nothing was spent (no provider was called)."""
        await self.settle(reservation, 0, 0)

    async def headroom(self, principal: Principal) -> Headroom:
        """What is left now of this caller's limits (the tighter of key and team per kind)."""
        now = self._clock()
        result = Headroom()
        for holder, _, limits, _, _ in self._holders(principal, now):
            result = await self._headroom_of(result, holder, limits, now)
        return result

    # -- building holds --------------------------------------------------------------------------

    def _holders(
        self, principal: Principal, now: datetime
    ) -> tuple[tuple[str, str, Limits, Seed | None, Seed | None], ...]:
        pairs: list[tuple[str, str, str, Limits]] = [
            (f"key:{principal.key_id}", "key", principal.key_name, principal.key_limits)
        ]
        if principal.team_id is not None and principal.team_name is not None:
            # By name, as the ledger rows name the team (seeding and swept attempts find it so).
            pairs.append((f"team:{principal.team_name}", "team", principal.team_name, principal.team_limits))
        holders = []
        for holder, label, name, limits in pairs:
            if limits.empty:
                continue
            column: Literal["key_name", "team"] = "key_name" if label == "key" else "team"
            _, usd_since, _ = period_bucket("usd", limits.budget_period, now, self._zone)
            _, img_since, _ = period_bucket("img", limits.quota_period, now, self._zone)
            holders.append(
                (holder, label, limits, Seed(column, name, "cost", usd_since), Seed(column, name, "images", img_since))
            )
        return tuple(holders)

    def _holds_of(
        self,
        reservation: Reservation,
        holder: str,
        label: str,
        limits: Limits,
        usd_seed: Seed | None,
        img_seed: Seed | None,
        now: datetime,
        micros: int,
        images: int,
    ) -> list[Hold]:
        holds = []
        if limits.budget_micros is not None:
            over = (
                f"This request may cost up to ${_usd(micros)}, more than the {label}'s whole "
                f"{limits.budget_period} budget of ${_usd(limits.budget_micros)}; ask for fewer or smaller images."
            )
            counted = (limits.budget_period, limits.budget_micros, micros, usd_seed)
            holds.append(self._period_hold(reservation, holder, "usd", counted, now, over, "request_exceeds_budget"))
        if limits.image_quota is not None:
            over = (
                f"This request asks for {images} images, more than the {label}'s whole "
                f"{limits.quota_period} image quota of {limits.image_quota}."
            )
            counted = (limits.quota_period, limits.image_quota, images, img_seed)
            holds.append(
                self._period_hold(reservation, holder, "img", counted, now, over, "request_exceeds_image_quota")
            )
        window_end = now + RATE_WINDOW
        if limits.rpm is not None:
            holds.append(Hold(holder, "rpm", 1, limits.rpm, window_end))
        if limits.ipm is not None:
            if images > limits.ipm:
                raise RequestExceedsLimit(
                    f"This request asks for {images} images, more than the {label}'s {limits.ipm} images per minute.",
                    code="request_exceeds_rate_limit",
                    param="n",
                )
            holds.append(Hold(holder, "ipm", images, limits.ipm, window_end))
        if limits.max_concurrent is not None:
            reservation.buckets[f"{holder}|conc"] = (holder, "conc")
            holds.append(Hold(holder, "conc", 1, limits.max_concurrent, reservation.lease_until))
        return holds

    def _period_hold(
        self,
        reservation: Reservation,
        holder: str,
        kind: str,
        counted: tuple[Period, int, int, Seed | None],
        now: datetime,
        over: str,
        code: str,
    ) -> Hold:
        """The hold of ``amount`` in this period's ``kind`` bucket; refused outright when it alone exceeds the limit."""
        period, limit, amount, seed = counted
        reservation.buckets[f"{holder}|{kind}"] = (holder, period_bucket(kind, period, now, self._zone)[0])
        if amount > limit:
            raise RequestExceedsLimit(over, code=code, param=None if kind == "usd" else "n")
        return self._extend_hold(reservation, holder, kind, amount, limit, seed)

    @staticmethod
    def _extend_hold(
        reservation: Reservation, holder: str, kind: str, amount: int, limit: int, seed: Seed | None
    ) -> Hold:
        return Hold(holder, reservation.buckets[f"{holder}|{kind}"][1], amount, limit, reservation.lease_until, seed)

    # -- refusals --------------------------------------------------------------------------------

    async def _hold(self, reservation: Reservation, holds: list[Hold], now: datetime) -> None:
        if not holds:
            return
        refusal = await self._store.hold(reservation.id, holds, now)
        if refusal is not None:
            raise await self._refused(reservation, refusal, now)

    async def _refused(self, reservation: Reservation, refusal: Refusal, now: datetime) -> LimitExceeded:
        hold = refusal.hold
        label = "team" if hold.holder.startswith("team:") else "key"
        headroom = Headroom()
        for holder, _, limits, _, _ in reservation.holders:
            headroom = await self._headroom_of(headroom, holder, limits, now)
        kind = hold.bucket.split(":", 1)[0]
        wait = None if refusal.next_expiry is None else max((refusal.next_expiry - now).total_seconds(), 0.001)
        # Budgets and quotas: waiting helps only while other requests hold part of them (they
        # usually settle below their holds, within seconds); otherwise not before the period ends.
        settling = None if refusal.next_expiry is None else SETTLE_WAIT_S
        left = max(hold.limit - refusal.used, 0)
        message: str
        error: type[LimitExceeded]
        retry_after: float | None = settling
        if kind == "usd":
            error = BudgetExceeded
            message = (
                f"The {label}'s budget is spent or reserved: ${_usd(left)} of ${_usd(hold.limit)} left "
                f"({hold.bucket.split(':', 1)[1]}), this request may cost up to ${_usd(hold.amount)}."
            )
        elif kind == "img":
            error = ImageQuotaExceeded
            message = (
                f"The {label}'s image quota is used or reserved: {left} of {hold.limit} images left, "
                f"this request asks for {hold.amount}."
            )
        elif kind == "conc":
            error, retry_after = ConcurrencyLimitExceeded, 1.0
            message = (
                f"The {label} already has {refusal.used} of {hold.limit} requests in flight; retry when one finishes."
            )
        else:
            error, retry_after = RateLimitExceeded, 60.0 if wait is None else wait
            unit = "requests" if kind == "rpm" else "images"
            message = f"The {label}'s limit of {hold.limit} {unit} per minute is reached; retry in a moment."
        return error(message, holder=label, retry_after=retry_after, headroom=headroom)

    async def _headroom_of(self, headroom: Headroom, holder: str, limits: Limits, now: datetime) -> Headroom:
        if limits.rpm is not None:
            _, held = await self._store.usage(holder, "rpm", now)
            remaining = max(limits.rpm - held, 0)
            if headroom.requests_remaining is None or remaining < headroom.requests_remaining:
                reset = 0.0 if held == 0 else RATE_WINDOW.total_seconds() * held / limits.rpm
                headroom = replace(
                    headroom, requests_limit=limits.rpm, requests_remaining=remaining, requests_reset_s=reset
                )
        if limits.budget_micros is not None:
            bucket, _, _ = period_bucket("usd", limits.budget_period, now, self._zone)
            spent, held = await self._store.usage(holder, bucket, now)
            left = max(limits.budget_micros - spent - held, 0)
            if headroom.budget_remaining_micros is None or left < headroom.budget_remaining_micros:
                headroom = replace(headroom, budget_remaining_micros=left)
        if limits.image_quota is not None:
            bucket, _, _ = period_bucket("img", limits.quota_period, now, self._zone)
            spent, held = await self._store.usage(holder, bucket, now)
            left = max(limits.image_quota - spent - held, 0)
            if headroom.images_remaining is None or left < headroom.images_remaining:
                headroom = replace(headroom, images_remaining=left)
        return headroom
