"""Every route's live state at scrape time: breaker, operator switch and status.

Read when ``/metrics`` is scraped rather than counted as events: breakers live in Redis when
replicas share them, statuses in the database, so the answering process reports the shared truth
(or, with in-process breakers, its own view).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import get_args

import anyio.to_thread

from imagegate.routing.breaker import State
from imagegate.routing.health import RouteStatus
from imagegate.routing.table import RouteTable
from imagegate.service.route_control import RoutingAdmin
from imagegate.service.route_guards import RouteGuards

log = logging.getLogger("imagegate.telemetry")

BREAKER_STATES: tuple[str, ...] = get_args(State)
ROUTE_STATUSES: tuple[str, ...] = get_args(RouteStatus)


@dataclass(frozen=True, slots=True)
class RouteGauge:
    """One route's state now. ``breaker`` / ``status`` are None when their store could not be read."""

    route: str
    alias: str
    provider: str
    enabled: bool
    breaker: str | None
    status: str | None


class RouteStateReader:
    """Reads the state of every configured route (breakers, live controls, effective status)."""

    def __init__(self, routes: RouteTable, guards: RouteGuards, routing: RoutingAdmin | None) -> None:
        self._routes = routes
        self._guards = guards
        self._routing = routing

    async def read(self) -> list[RouteGauge]:
        """Every configured route's gauge values; a store that fails leaves its field None."""
        snapshot = self._guards.snapshot()
        statuses: dict[str, str] = {}
        if self._routing is not None:
            try:
                effective = await anyio.to_thread.run_sync(self._routing.statuses, self._guards.health)
                statuses = {name: value.status for name, value in effective.items()}
            except Exception:
                log.warning("route statuses unavailable for /metrics", exc_info=True)
        gauges = []
        for alias in self._routes.aliases():
            for target in alias.routes:
                gauges.append(
                    RouteGauge(
                        route=target.name,
                        alias=alias.name,
                        provider=target.provider,
                        enabled=snapshot.enabled(target.name, target.enabled),
                        breaker=await self._breaker(target.name),
                        status=statuses.get(target.name),
                    )
                )
        return gauges

    async def _breaker(self, route: str) -> str | None:
        breakers = self._guards.breakers
        if breakers is None:
            return "closed"
        try:
            return (await breakers.state(route)).state
        except Exception:
            log.warning("breaker state of %s unavailable for /metrics", route, exc_info=True)
            return None
