"""Usage alerts: a ``usage.threshold_crossed`` event (and one log line) when a team or key reaches
a threshold of its budget or image quota, exactly once per threshold per period, across replicas.

How (docs/governance.md, "Usage alerts"): ``observe`` (an attempt observer) notes which key and
team just spent something; every ``interval_s`` the watcher reads those holders' use in the
current period from the ledger (the source of truth), and claims each threshold reached in the
shared ``AlertMarks`` (a database row). Only the replica whose claim went in emits the event, so
a crossing noticed by several replicas at once is announced once. Holders are checked on two
ticks after they spend (the ledger is written in batches, a moment after the attempt), and every
holder once at start (a crossing a stopped replica never got to announce).

Delivery is the ``EventSink``'s (signed webhooks, retried); without one the log line is the alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import anyio.to_thread

from imagegate.accounting.admission import Seed, period_bucket
from imagegate.accounting.ports import KeyAdminStore, LedgerEntry, TeamStore
from imagegate.accounting.usage_alerts import AlertMarks, reached
from imagegate.domain.limits import Limits
from imagegate.domain.money import usd_string
from imagegate.service.event_port import EventSink

log = logging.getLogger("imagegate.alerts")

EVENT_TYPE = "usage.threshold_crossed"
HolderKind = Literal["team", "key"]


@dataclass(frozen=True, slots=True)
class Crossing:
    """One threshold reached by one holder in one period: the event's content."""

    kind: HolderKind
    name: str
    team_id: int | None
    key_id: int | None
    metric: Literal["budget", "image_quota"]
    threshold: int
    period: str
    period_start: datetime | None
    limit: int
    used: int

    def data(self) -> dict[str, Any]:
        """The event's ``data`` (money as decimal strings of USD, images as integers)."""

        def amount(value: int) -> str | int:
            return usd_string(value) if self.metric == "budget" else value

        return {
            "holder": self.kind,
            self.kind: self.name,
            "metric": self.metric,
            "threshold_percent": self.threshold,
            "period": self.period,
            "period_start": None if self.period_start is None else self.period_start.isoformat(),
            "limit": amount(self.limit),
            "used": amount(self.used),
        }


class UsageAlerts:
    """Watches spend against thresholds; ``observe`` is its attempt observer, ``run`` its loop."""

    def __init__(
        self,
        *,
        keys: KeyAdminStore,
        teams: TeamStore,
        marks: AlertMarks,
        ledger_sum: Callable[[Seed], int],
        sink: EventSink | None = None,
        timezone: str = "UTC",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._keys = keys
        self._teams = teams
        self._marks = marks
        self._ledger_sum = ledger_sum
        self.sink = sink
        self._zone = ZoneInfo(timezone)
        self._clock = clock
        self._dirty: set[tuple[HolderKind, str]] = set()
        self._recheck: set[tuple[HolderKind, str]] = set()

    def observe(self, entry: LedgerEntry) -> None:
        """Note the key and team of an attempt that cost something or made images."""
        if entry.cost_micros == 0 and entry.images == 0:
            return
        if entry.key_name is not None:
            self._dirty.add(("key", entry.key_name))
        if entry.team is not None:
            self._dirty.add(("team", entry.team))

    async def check_recent(self) -> list[Crossing]:
        """Check the holders that spent since the last two checks; announce new crossings."""
        due = self._dirty | self._recheck
        self._recheck, self._dirty = self._dirty, set()
        return await self.check(due)

    async def check_all(self) -> list[Crossing]:
        """Check every team and every key; announce new crossings."""

        def everyone() -> list[tuple[HolderKind, str]]:
            teams: list[tuple[HolderKind, str]] = [("team", team.name) for team in self._teams.list_teams()]
            return teams + [("key", key.name) for key in self._keys.list_keys() if key.revoked_at is None]

        return await self.check(await anyio.to_thread.run_sync(everyone))

    async def check(self, holders: Iterable[tuple[HolderKind, str]]) -> list[Crossing]:
        """Claim and announce every threshold these holders have reached and nobody announced yet."""
        chosen = sorted(set(holders))
        if not chosen:
            return []
        crossings = await anyio.to_thread.run_sync(self._claim_crossings, chosen)
        for crossing in crossings:
            log.warning(
                "usage alert: %s %s reached %d%% of its %s %s (%s of %s)",
                crossing.kind,
                crossing.name,
                crossing.threshold,
                crossing.period.split(":", 1)[-1],
                crossing.metric.replace("_", " "),
                crossing.data()["used"],
                crossing.data()["limit"],
            )
            if self.sink is not None:
                try:
                    await self.sink.emit(EVENT_TYPE, crossing.data(), team_id=crossing.team_id, key_id=crossing.key_id)
                except Exception:
                    log.exception("queueing the usage alert for %s %s failed", crossing.kind, crossing.name)
        return crossings

    async def run(self, interval_s: float) -> None:
        """Check everyone once, then the recently active holders every ``interval_s``, until cancelled."""
        first = True
        while True:
            try:
                await (self.check_all() if first else self.check_recent())
                first = False
            except Exception:
                log.exception("checking usage alerts failed; retrying in %.0f s", interval_s)
            await asyncio.sleep(interval_s)

    # -- on a worker thread ----------------------------------------------------------------------

    def _claim_crossings(self, holders: list[tuple[HolderKind, str]]) -> list[Crossing]:
        now = self._clock()
        crossings: list[Crossing] = []
        for kind, name in holders:
            crossings.extend(self._holder_crossings(kind, name, now))
        return crossings

    def _holder_crossings(self, kind: HolderKind, name: str, now: datetime) -> list[Crossing]:
        if kind == "team":
            team = self._teams.team_by_name(name)
            if team is None:
                return []
            ids: tuple[int | None, int | None] = (team.id, None)
            limits, thresholds, holder = team.limits, team.alert_thresholds, f"team:{team.id}"
        else:
            key = self._keys.key_by_name(name)
            if key is None or key.revoked_at is not None:
                return []
            ids = (key.team_id, key.id)
            limits, thresholds, holder = key.limits, key.alert_thresholds, f"key:{key.id}"
        if thresholds is None or len(thresholds) == 0:
            return []
        found = []
        for metric, limit, used, bucket, start in self._uses(kind, name, limits, now):
            for threshold in reached(thresholds, limit, used):
                if self._marks.claim(holder, metric, bucket, threshold, now):
                    found.append(Crossing(kind, name, *ids, metric, threshold, bucket, start, limit, used))
        return found

    def _uses(
        self, kind: HolderKind, name: str, limits: Limits, now: datetime
    ) -> list[tuple[Literal["budget", "image_quota"], int, int, str, datetime | None]]:
        column: Literal["key_name", "team"] = "key_name" if kind == "key" else "team"
        uses: list[tuple[Literal["budget", "image_quota"], int, int, str, datetime | None]] = []
        if limits.budget_micros is not None:
            bucket, start, _ = period_bucket("usd", limits.budget_period, now, self._zone)
            used = self._ledger_sum(Seed(column, name, "cost", start))
            uses.append(("budget", limits.budget_micros, used, bucket, start))
        if limits.image_quota is not None:
            bucket, start, _ = period_bucket("img", limits.quota_period, now, self._zone)
            used = self._ledger_sum(Seed(column, name, "images", start))
            uses.append(("image_quota", limits.image_quota, used, bucket, start))
        return uses
