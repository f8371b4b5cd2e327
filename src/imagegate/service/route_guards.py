"""What the attempt loop consults around each call: route order, breakers, health, live controls."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from imagegate.domain.errors import ImagegateError
from imagegate.pricing.engine import quote
from imagegate.routing.breaker import Admission, BreakerStore, is_route_fault
from imagegate.routing.controls import ControlsHolder, ControlsSnapshot
from imagegate.routing.health import RouteHealth
from imagegate.routing.policy import order_routes
from imagegate.service.plan import Plan, PlannedRoute

log = logging.getLogger("imagegate.routing")


@dataclass(slots=True)
class RoutePass:
    """One admission to a route: calls made under it report their outcomes through ``observe``."""

    route: PlannedRoute
    admission: Admission
    reported: bool = False

    @property
    def allowed(self) -> bool:
        """Whether the breaker let calls through."""
        return self.admission.allowed


@dataclass(slots=True)
class RouteGuards:
    """Breakers, health and controls; each optional so unit tests can run the loop bare."""

    breakers: BreakerStore | None = None
    health: RouteHealth | None = None
    controls: ControlsHolder | None = None
    clock: Callable[[], float] = field(default=time.time)

    def snapshot(self) -> ControlsSnapshot:
        """The live controls in force now."""
        return ControlsSnapshot() if self.controls is None else self.controls.current

    def ordered(self, plan: Plan) -> list[PlannedRoute]:
        """The enabled routes of the plan, in the order the alias's policy chooses."""
        snapshot = self.snapshot()
        routes = [route for route in plan.routes if snapshot.enabled(route.target.name, route.target.enabled)]
        if plan.pinned_route is not None:
            return [route for route in routes if route.target.name == plan.pinned_route]
        policy = snapshot.policy(plan.alias.name, plan.alias.policy)

        def price(route: PlannedRoute) -> float | None:
            if route.price is None:
                return None
            try:
                return quote(route.request_for(plan.request), route.price, tool_price=route.tool_price).micros
            except Exception:
                return None

        def p50(route: PlannedRoute) -> float | None:
            return None if self.health is None else self.health.stats(route.target.name).p50_ms

        return order_routes(
            policy,
            routes,
            weight=lambda route: snapshot.weight(route.target.name, route.target.weight),
            price=price,
            p50=p50,
        )

    async def admit(self, route: PlannedRoute) -> Admission:
        """Whether the route's breaker lets a call through now (always when breakers are off)."""
        if self.breakers is None:
            return Admission(allowed=True)
        try:
            return await self.breakers.admit(route.target.name, self.clock())
        except Exception:
            # A broken breaker store must not take the gateway down with it: fail open.
            log.exception("breaker store unavailable; admitting %s", route.target.name)
            return Admission(allowed=True)

    @contextlib.asynccontextmanager
    async def admitted(self, route: PlannedRoute) -> AsyncIterator[RoutePass]:
        """Admit calls to ``route`` for the block; a probe slot nobody reported on is handed back.

        Whatever ends the block (a serialiser error, cancellation at shutdown, a client gone), a
        half-open probe that produced no outcome releases its slot here, so it never holds the
        route shut until the probe timeout.
        """
        route_pass = RoutePass(route, await self.admit(route))
        try:
            yield route_pass
        finally:
            if route_pass.admission.probe and not route_pass.reported and self.breakers is not None:
                try:
                    await self.breakers.release(route.target.name)
                except Exception:
                    log.exception("breaker store unavailable; probe slot of %s not released", route.target.name)

    async def observe(self, route_pass: RoutePass, latency_s: float, error: ImagegateError | None = None) -> None:
        """Feed one call's outcome to the breaker and to route health."""
        route_pass.reported = True
        route = route_pass.route
        fault = error is not None and is_route_fault(error)
        if self.health is not None:
            self.health.observe(route.target.name, success=not fault, latency_ms=latency_s * 1000)
        if self.breakers is None:
            return
        try:
            await self.breakers.record(route.target.name, self.clock(), success=not fault)
        except Exception:
            log.exception("breaker store unavailable; outcome of %s not recorded", route.target.name)
