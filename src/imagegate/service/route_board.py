"""The routes board: ``RoutingAdmin.overview`` plus each route's circuit-breaker state.

Breaker state lives in the breaker store (this process, or Redis shared by every replica), so it
is read here, on the event loop, rather than by ``RoutingAdmin`` (whose reads are synchronous).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread

from imagegate.routing.breaker import BreakerStore
from imagegate.routing.health import RouteHealth
from imagegate.service.route_control import RoutingAdmin


async def route_board(
    admin: RoutingAdmin, health: RouteHealth | None, breakers: BreakerStore | None
) -> list[dict[str, Any]]:
    """Every alias and route as ``RoutingAdmin.overview`` shows them, each route with ``circuit``
    (``closed``, ``open``, ``half_open``, or ``None`` when this gateway runs no breakers)."""
    aliases = await anyio.to_thread.run_sync(admin.overview, health)
    for alias in aliases:
        for route in alias["routes"]:
            route["circuit"] = None if breakers is None else (await breakers.state(route["route"])).state
    return aliases
