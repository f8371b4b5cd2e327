"""Live routing control: disable, enable, reweight routes, set alias policies, roll back, refresh.

Every change goes through ``RoutingAdmin`` (the admin API and the CLI share it), is stored with
an entry in the change log naming its actor, and reaches every replica through
``refresh_controls``: each replica reads the store's version (when PostgreSQL announces a change,
else on a poll) and swaps in a new snapshot only when it moved. Nothing is cached between calls here; the store is the single source of truth.

Rollback is an undo stack per alias: it restores the state before that alias's most recent
change that has not been rolled back yet, so repeated rollbacks walk back through its history.
A rollback is itself logged (``reverts`` names the change it undid) and is never undone.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import anyio.to_thread

from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.errors import ClientError, InvalidRequest, ProviderError
from imagegate.providers.base import RouteTarget
from imagegate.routing.breaker import is_route_fault
from imagegate.routing.control_store import ChangeFeed, RouteCheck, RoutingChange, RoutingStateStore
from imagegate.routing.controls import ControlsHolder, ControlsSnapshot
from imagegate.routing.health import RouteHealth, RouteStats, RouteStatus
from imagegate.routing.policy import POLICIES, Policy
from imagegate.routing.table import ModelAlias, RouteTable
from imagegate.service.lifecycle import shutdown_policy
from imagegate.service.plan import FactsLookup

log = logging.getLogger("imagegate.routing")

# Statuses a smoke test may report that live traffic can confirm or overturn; the others
# (unsupported, unknown_failure, retired) stand until the next check says otherwise.
_TRAFFIC_STATUSES = ("unknown", "available", "degraded")


class UnknownRoute(ClientError):
    """No configured route has that name."""

    code = "route_not_found"


class UnknownAlias(ClientError):
    """No configured alias has that name."""

    code = "model_not_found"


class NothingToRollBack(ClientError):
    """Every change of the alias has already been rolled back (or it never had one)."""

    code = "nothing_to_roll_back"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class EffectiveStatus:
    """A route's status as reported to operators, and when it was last checked."""

    status: RouteStatus
    last_checked_at: datetime | None


def effective_status(check: RouteCheck | None, stats: RouteStats | None, *, retired: bool) -> EffectiveStatus:
    """Combine the catalog lifecycle, the stored smoke verdict and this replica's live traffic.

    Retired (past the shutdown date) always wins. Otherwise live traffic with enough calls
    decides between available and degraded unless the last smoke test found a harder failure.
    """
    checked_at = None if check is None else check.checked_at
    if retired:
        return EffectiveStatus("retired", checked_at)
    status: RouteStatus = "unknown" if check is None else check.status
    # ``stats.status`` is available/degraded only once the replica has seen enough calls.
    if stats is not None and status in _TRAFFIC_STATUSES and stats.status in ("available", "degraded"):
        status = stats.status
    return EffectiveStatus(status, checked_at)


class RoutingAdmin:
    """Operator changes to routing, validated against the configured route table."""

    def __init__(
        self,
        store: RoutingStateStore,
        routes: RouteTable,
        *,
        facts: FactsLookup | None = None,
        today: Callable[[], date] | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._routes = routes
        self._facts = facts
        self._today = today
        self._clock = clock

    # -- changes -------------------------------------------------------------------------------

    def disable(self, route: str, actor: str) -> RoutingChange:
        """Stop sending traffic to ``route`` (on every replica, within one refresh)."""
        target = self.target(route)
        return self._store.change_route(
            alias=target.alias, route=route, values={"enabled": False}, action="disable", actor=actor, at=self._clock()
        )

    def enable(self, route: str, actor: str) -> RoutingChange:
        """Send traffic to ``route`` again (even if the config file disables it)."""
        target = self.target(route)
        return self._store.change_route(
            alias=target.alias, route=route, values={"enabled": True}, action="enable", actor=actor, at=self._clock()
        )

    def reweight(self, route: str, weight: float, actor: str) -> RoutingChange:
        """Set ``route``'s weight for the ``weighted`` policy (0 = only when others fail)."""
        target = self.target(route)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise InvalidRequest("'weight' must be a finite number >= 0.", param="weight")
        return self._store.change_route(
            alias=target.alias,
            route=route,
            values={"weight": float(weight)},
            action="reweight",
            actor=actor,
            at=self._clock(),
        )

    def set_policy(self, alias: str, policy: str, actor: str) -> RoutingChange:
        """Order ``alias``'s routes by ``policy`` from now on."""
        self.alias(alias)
        if policy not in POLICIES:
            raise InvalidRequest(f"'policy' must be one of {', '.join(POLICIES)}.", param="policy")
        return self._store.change_policy(
            alias=alias,
            policy=policy,
            action="policy",
            actor=actor,
            at=self._clock(),
        )

    def rollback(self, alias: str, actor: str) -> RoutingChange:
        """Undo ``alias``'s most recent change not yet rolled back (see the module docstring)."""
        self.alias(alias)
        history = self._store.changes(alias=alias, limit=None)
        undone = {change.reverts for change in history if change.reverts is not None}
        target = next((c for c in history if c.action != "rollback" and c.id not in undone), None)
        if target is None:
            raise NothingToRollBack(f"Model '{alias}' has no routing change left to roll back.", param="alias")
        at = self._clock()
        if target.route is None:
            policy: Policy | None = target.before.get("policy")
            return self._store.change_policy(
                alias=alias, policy=policy, action="rollback", actor=actor, at=at, reverts=target.id
            )
        return self._store.change_route(
            alias=alias,
            route=target.route,
            values=dict(target.before),
            action="rollback",
            actor=actor,
            at=at,
            reverts=target.id,
        )

    # -- reads ---------------------------------------------------------------------------------

    def changes(self, *, alias: str | None = None, limit: int = 100) -> list[RoutingChange]:
        """The change log, newest first."""
        return self._store.changes(alias=alias, limit=limit)

    def version(self) -> int:
        """The stored controls' version (the newest change id)."""
        return self._store.version()

    def load_snapshot(self) -> ControlsSnapshot:
        """Every stored override, as the attempt loop reads them."""
        return self._store.snapshot()

    def checks(self) -> dict[str, RouteCheck]:
        """The latest smoke verdict per route."""
        return self._store.checks()

    def record_check(self, check: RouteCheck) -> None:
        """Store a smoke verdict (smoke tests call this)."""
        self._store.record_check(check)

    def target(self, route: str) -> RouteTarget:
        """The configured route called ``route``; ``UnknownRoute`` otherwise."""
        for alias in self._routes.aliases():
            for target in alias.routes:
                if target.name == route:
                    return target
        raise UnknownRoute(f"No route named '{route}'; `imagegate routes` lists them.", param="route")

    def alias(self, name: str) -> ModelAlias:
        """The configured alias called ``name``; ``UnknownAlias`` otherwise."""
        for alias in self._routes.aliases():
            if alias.name == name:
                return alias
        raise UnknownAlias(f"No model alias named '{name}'.", param="alias")

    def retired(self, target: RouteTarget) -> bool:
        """Whether the route's model is past its catalog shutdown date (and not kept alive by the operator)."""
        if self._facts is None or self._today is None:
            return False
        lifecycle = self._facts(target.provider, target.model).lifecycle
        return shutdown_policy(target, lifecycle, self._today()) is not None

    def statuses(self, health: RouteHealth | None = None) -> dict[str, EffectiveStatus]:
        """Every configured route's effective status, by route name."""
        checks = self.checks()
        return {
            target.name: effective_status(
                checks.get(target.name),
                None if health is None else health.stats(target.name),
                retired=self.retired(target),
            )
            for alias in self._routes.aliases()
            for target in alias.routes
        }

    def overview(self, health: RouteHealth | None = None) -> list[dict[str, Any]]:
        """Every alias and route: configured and override state, policy, status and recent figures."""
        snapshot = self.load_snapshot()
        checks = self.checks()
        aliases = []
        for alias in self._routes.aliases():
            rows = []
            for target in alias.routes:
                control = snapshot.routes.get(target.name)
                stats = None if health is None else health.stats(target.name)
                check = checks.get(target.name)
                status = effective_status(check, stats, retired=self.retired(target))
                rows.append(
                    {
                        "route": target.name,
                        "provider": target.provider,
                        "provider_model": target.model,
                        "configured": {"enabled": target.enabled, "weight": target.weight},
                        "override": {
                            "enabled": None if control is None else control.enabled,
                            "weight": None if control is None else control.weight,
                        },
                        "enabled": snapshot.enabled(target.name, target.enabled),
                        "weight": snapshot.weight(target.name, target.weight),
                        "status": status.status,
                        "last_checked_at": _iso(status.last_checked_at),
                        "last_check": None if check is None else check_view(check),
                        "calls": None if stats is None else stats.calls,
                        "p50_ms": None if stats is None else stats.p50_ms,
                        "p95_ms": None if stats is None else stats.p95_ms,
                        "error_rate": None if stats is None else stats.error_rate,
                    }
                )
            aliases.append(
                {
                    "alias": alias.name,
                    "configured_policy": alias.policy,
                    "policy_override": snapshot.policies.get(alias.name),
                    "policy": snapshot.policy(alias.name, alias.policy),
                    "routes": rows,
                }
            )
        return aliases


def _provider_errors() -> dict[str, type[ProviderError]]:
    found: dict[str, type[ProviderError]] = {}
    pending: list[type[ProviderError]] = [ProviderError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def health_from_ledger(entries: Iterable[LedgerEntry]) -> RouteHealth:
    """Route figures rebuilt from ledger rows (the CLI has no live traffic of its own).

    The same rule as the attempt loop: only failures that say something about the route count
    as errors; attempts cut short by the client are left out.
    """
    by_code = _provider_errors()
    health = RouteHealth()
    for entry in sorted(entries, key=lambda row: row.created_at):
        if entry.client_disconnected:
            continue
        error_class = None if entry.status == "ok" else by_code.get(entry.error_code or "", ProviderError)
        fault = error_class is not None and is_route_fault(error_class(entry.error_code or "error"))
        health.observe(entry.route, success=not fault, latency_ms=entry.latency_ms)
    return health


def change_view(change: RoutingChange) -> dict[str, Any]:
    """The JSON shape of one log entry."""
    return {
        "id": change.id,
        "at": change.at.isoformat(),
        "actor": change.actor,
        "alias": change.alias,
        "route": change.route,
        "action": change.action,
        "before": dict(change.before),
        "after": dict(change.after),
        "reverts": change.reverts,
    }


def check_view(check: RouteCheck) -> dict[str, Any]:
    """The JSON shape of a stored smoke verdict."""
    return {
        "status": check.status,
        "checked_at": check.checked_at.isoformat(),
        "latency_ms": check.latency_ms,
        "error_code": check.error_code,
        "provider_request_id": check.provider_request_id,
        "detail": check.detail,
        "usage": dict(check.usage),
        "cost_micros": check.cost_micros,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def refresh_once(admin: RoutingAdmin, holder: ControlsHolder) -> bool:
    """Swap in the stored snapshot if its version moved; True when it did."""
    version = await anyio.to_thread.run_sync(admin.version)
    if version == holder.current.version:
        return False
    snapshot = await anyio.to_thread.run_sync(admin.load_snapshot)
    holder.current = snapshot  # one reference swap: readers see the old or the new, never a mix
    log.info("routing controls now at version %d", snapshot.version)
    return True


async def refresh_controls(
    admin: RoutingAdmin,
    holder: ControlsHolder,
    interval_s: float,
    *,
    feed: ChangeFeed | None = None,
    fallback_interval_s: float = 60.0,
) -> None:
    """Keep ``holder`` current forever (a server lifespan task); a failed read is retried next time.

    Without a ``feed`` it reads the version every ``interval_s``. With one it reads when the feed
    announces a change, and every ``fallback_interval_s`` in case an announcement was lost.
    """
    try:
        while True:
            try:
                await refresh_once(admin, holder)
            except Exception:
                # The database being briefly away must not stop routing: keep the last snapshot.
                log.exception("refreshing routing controls failed; keeping version %d", holder.current.version)
            if feed is None:
                await asyncio.sleep(interval_s)
            else:
                await feed.wait(fallback_interval_s)
    finally:
        if feed is not None:
            await feed.close()
