"""Smoke tests: one real, minimal, cheapest request per route, to learn whether it works.

Each check goes straight to the route's provider through the same adapter and ``HttpExecutor``
the gateway uses (no breaker, no fallback: the point is to see this one route), with the
route's own timeout, so a slow image model is not declared dead for being slow. The request
asks for one image at the cheapest size and quality the catalog allows (priced with
``pricing.engine.quote``). Every call is a ledger row (key ``smoke``, dialect ``smoke``) and
its verdict replaces the route's row in ``route_status``.

Verdicts (docs/routing.md, "Route status"):

    success                                          available
    model shut down per the catalog (no call made)   retired
    ProviderPermission (403), ProviderNotFound (404) unsupported
    RateLimited (429), UpstreamTimeout               degraded     (it answers, just not now)
    anything else                                    unknown_failure
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from imagegate.accounting.ports import LedgerEntry
from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import (
    InvalidRequest,
    ProviderError,
    ProviderNotFound,
    ProviderPermission,
    RateLimited,
    UpstreamTimeout,
)
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.pricing.engine import quote, settle
from imagegate.pricing.rows import PriceRow
from imagegate.providers.base import ProviderAdapter, RouteTarget
from imagegate.providers.http import HttpExecutor
from imagegate.providers.polling import Poller
from imagegate.providers.registry import AdapterRegistry
from imagegate.routing.control_store import RouteCheck
from imagegate.routing.health import RouteStatus
from imagegate.routing.table import RouteTable
from imagegate.service.lifecycle import shutdown_policy
from imagegate.service.plan import FactsLookup
from imagegate.service.route_control import UnknownAlias, UnknownRoute
from imagegate.service.smoke_request import smoke_request

log = logging.getLogger("imagegate.smoke")

SMOKE_KEY_NAME = "smoke"
SMOKE_DIALECT = "smoke"
# Verdicts that do not fail ``imagegate smoke``: a retired route is reported, but it was not tried.
PASSING: tuple[RouteStatus, ...] = ("available", "retired")


def status_for(error: ProviderError) -> RouteStatus:
    """The route status a failed smoke call implies (the table in the module docstring)."""
    if isinstance(error, ProviderPermission | ProviderNotFound):
        return "unsupported"
    if isinstance(error, RateLimited | UpstreamTimeout):
        return "degraded"
    return "unknown_failure"


@dataclass(frozen=True, slots=True)
class SmokeResult:
    """One route's check: what was sent, and the verdict stored for it."""

    target: RouteTarget
    check: RouteCheck
    request_id: str | None = None
    size: str | None = None
    quality: str | None = None
    http_status: int | None = None

    @property
    def passed(self) -> bool:
        """Whether this verdict lets ``imagegate smoke`` exit 0."""
        return self.check.status in PASSING

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``imagegate smoke --json``."""
        check = self.check
        return {
            "alias": self.target.alias,
            "route": self.target.name,
            "provider": self.target.provider,
            "provider_model": self.target.model,
            "status": check.status,
            "passed": self.passed,
            "checked_at": check.checked_at.isoformat(),
            "latency_ms": check.latency_ms,
            "http_status": self.http_status,
            "error_code": check.error_code,
            "detail": check.detail,
            "provider_request_id": check.provider_request_id,
            "usage": dict(check.usage),
            "cost_micros": check.cost_micros,
            "request_id": self.request_id,
            "size": self.size,
            "quality": self.quality,
        }


class SmokeTester:
    """Runs smoke checks and records each one (a ledger row and the route's stored status)."""

    def __init__(
        self,
        *,
        routes: RouteTable,
        registry: AdapterRegistry,
        facts: FactsLookup,
        http: HttpExecutor,
        record_entry: Callable[[LedgerEntry], None],
        record_check: Callable[[RouteCheck], None],
        today: Callable[[], date],
        concurrency: int = 4,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._routes = routes
        self._registry = registry
        self._facts = facts
        self._http = http
        self._record_entry = record_entry
        self._record_check = record_check
        self._today = today
        self._concurrency = concurrency
        self._wall_clock = wall_clock

    def select(self, models: Iterable[str] = (), routes: Iterable[str] = ()) -> list[RouteTarget]:
        """The routes of the named aliases plus the named routes (every route when both are empty)."""
        models, routes = list(models), list(routes)
        aliases = {alias.name: alias for alias in self._routes.aliases()}
        targets = {target.name: target for alias in aliases.values() for target in alias.routes}
        for name in models:
            if name not in aliases:
                raise UnknownAlias(f"No model alias named '{name}'.", param="model")
        for name in routes:
            if name not in targets:
                raise UnknownRoute(f"No route named '{name}'; `imagegate routes` lists them.", param="route")
        if not models and not routes:
            return list(targets.values())
        return [t for t in targets.values() if t.alias in models or t.name in routes]

    async def run(self, targets: Iterable[RouteTarget]) -> list[SmokeResult]:
        """Check every target (a few at a time), in the given order."""
        gate = asyncio.Semaphore(self._concurrency)

        async def one(target: RouteTarget) -> SmokeResult:
            async with gate:
                return await self.check(target)

        return list(await asyncio.gather(*(one(target) for target in targets)))

    async def check(self, target: RouteTarget) -> SmokeResult:
        """Check one route, record the verdict, and return it."""
        facts = self._facts(target.provider, target.model)
        lifecycle = facts.lifecycle
        if lifecycle is not None and shutdown_policy(target, lifecycle, self._today()) is not None:
            detail = f"{target.model} was shut down on {lifecycle.shutdown_on}"
            if lifecycle.replacement is not None:
                detail += f"; its replacement is {lifecycle.replacement}"
            result = SmokeResult(target, RouteCheck(target.name, "retired", self._wall_clock(), detail=detail))
        else:
            result = await self._call(target, facts.capabilities, facts.price)
        # Stored, not kept in this replica's RouteHealth: every replica reads verdicts from the store.
        await asyncio.to_thread(self._record_check, result.check)
        return result

    async def _call(self, target: RouteTarget, caps: Capabilities | None, price: PriceRow | None) -> SmokeResult:
        adapter = self._registry.get(target.provider)
        caps = caps if caps is not None else adapter.default_capabilities
        try:
            request = smoke_request(target, adapter, caps, price)
        except InvalidRequest as error:
            check = RouteCheck(
                target.name,
                "unknown_failure",
                self._wall_clock(),
                error_code=error.code,
                detail=f"no smoke request fits the route: {error.message}",
            )
            return SmokeResult(target, check)
        request_id = f"smoke_{secrets.token_hex(12)}"
        entry = LedgerEntry(
            request_id=request_id,
            attempt=1,
            model=target.alias,
            provider=target.provider,
            provider_model=target.model,
            route=target.name,
            operation="generate",
            dialect=SMOKE_DIALECT,
            status="ok",
            created_at=self._wall_clock(),
            key_name=SMOKE_KEY_NAME,
        )
        shown = {"request_id": request_id, "size": request.size or request.resolution, "quality": request.quality}
        started = time.monotonic()
        try:
            result, http_status = await self._send(target, adapter, request)
        except Exception as exc:
            failure: ProviderError
            if isinstance(exc, ProviderError):
                failure = exc
            else:
                # A bug (an adapter choking on an answer) still gets its row and a verdict.
                log.exception("smoke check of %s crashed", target.name)
                failure = ProviderError(f"the smoke check crashed: {type(exc).__name__}")
            entry = _failed(entry, failure, request, price, started)
            self._record_entry(entry)
            check = RouteCheck(
                target.name,
                status_for(failure),
                entry.created_at,
                latency_ms=entry.latency_ms,
                error_code=failure.code,
                provider_request_id=failure.provider_request_id,
                detail=failure.message[:500],
                usage=entry.usage,
                cost_micros=entry.cost_micros,
            )
            return SmokeResult(target, check, http_status=failure.provider_status, **shown)
        except asyncio.CancelledError:
            # Stopped mid-call (server shutdown): the provider may still bill, so record the upper bound.
            cost = 0 if price is None else _quiet(lambda: quote(request, price).micros, 0)
            self._record_entry(
                dataclasses.replace(
                    entry,
                    status="error",
                    error_code="cancelled",
                    cost_micros=cost,
                    cost_estimated=True,
                    latency_ms=_elapsed_ms(started),
                    client_disconnected=True,
                )
            )
            raise
        entry.latency_ms = _elapsed_ms(started)
        entry.http_status = http_status
        entry.images = result.image_count
        entry.usage = dict(result.usage.raw)
        entry.provider_request_id = result.provider_request_id
        if price is not None:
            charge = _quiet(lambda: settle(request, result, price), None)
            entry.cost_micros, entry.cost_estimated = (0, True) if charge is None else (charge.micros, charge.estimated)
        self._record_entry(entry)
        check = RouteCheck(
            target.name,
            "available",
            entry.created_at,
            latency_ms=entry.latency_ms,
            provider_request_id=result.provider_request_id,
            usage=entry.usage,
            cost_micros=entry.cost_micros,
        )
        return SmokeResult(target, check, http_status=http_status, **shown)

    async def _send(
        self,
        target: RouteTarget,
        adapter: ProviderAdapter,
        request: ImageRequest,
    ) -> tuple[ImageResult, int]:
        wire = adapter.to_wire(request, target)
        await adapter.authorize(wire, target, self._http)  # OAuth routes fetch a token first
        # A submit-and-poll host is followed to its result like any request (providers.polling).
        response = await Poller(self._http).exchange(adapter, wire, target)
        if response.status >= 300:
            raise adapter.error_from_wire(response)
        return adapter.from_wire(response, request, target, keep_raw=True), response.status


def _failed(
    entry: LedgerEntry, error: ProviderError, request: ImageRequest, price: PriceRow | None, started: float
) -> LedgerEntry:
    cost, estimated = 0, False
    usage = error.usage
    if usage is not None and price is not None:
        # Billed although it failed (a blocked prompt): priced like the gateway prices it.
        charge = _quiet(lambda: settle(request, ImageResult(image_count=0, usage=usage), price), None)
        cost, estimated = (0, True) if charge is None else (charge.micros, charge.estimated)
    return dataclasses.replace(
        entry,
        status="error",
        error_code=error.code,
        http_status=error.provider_status,
        usage={} if error.usage is None else dict(error.usage.raw),
        cost_micros=cost,
        cost_estimated=estimated,
        latency_ms=_elapsed_ms(started),
        provider_request_id=error.provider_request_id,
    )


def _quiet(compute: Callable[[], Any], fallback: Any) -> Any:
    try:
        return compute()
    except Exception:
        # A pricing bug must not lose the smoke verdict or its ledger row.
        log.exception("pricing a smoke check failed")
        return fallback


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


async def smoke_forever(tester: SmokeTester, interval_s: float) -> None:
    """Check every route every ``interval_s`` seconds (a server lifespan task; off by default).

    The first round waits one interval, so a replica that restarts often does not pay for a
    round of real requests on every start.
    """
    while True:
        await asyncio.sleep(interval_s)
        try:
            results = await tester.run(tester.select())
            failed = [result.target.name for result in results if not result.passed]
            log.info("smoke checks: %d routes, %d failing %s", len(results), len(failed), failed or "")
        except Exception:
            log.exception("scheduled smoke checks failed")
