"""The running gateway's parts (``Runtime``), the background tasks that keep them fresh, and what the
console reads from them, and the ASGI app that serves a runtime (``create_app``). ``app.build_runtime``
fills a ``Runtime``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from imagegate.accounting.ledger import LedgerWriter
from imagegate.api.edge import EdgeLimits, EdgeMiddleware, InflightBudget
from imagegate.api.passthrough import BrokenBodyLogFilter
from imagegate.api.request_ids import RequestIdMiddleware
from imagegate.api.routes import all_routes, carries_images, dialect_error_response
from imagegate.catalog import Catalog
from imagegate.providers.http import HttpExecutor
from imagegate.routing.breaker import BreakerStore
from imagegate.routing.control_store import ChangeFeed
from imagegate.routing.controls import ControlsHolder
from imagegate.routing.health import RouteHealth
from imagegate.service.batches import BatchService
from imagegate.service.compare_runs import CompareRuns
from imagegate.service.feedback import FeedbackService
from imagegate.service.gateway import Gateway
from imagegate.service.jobs import JobEngine, JobService
from imagegate.service.keys import KeyAdmin
from imagegate.service.readiness import Readiness
from imagegate.service.route_control import RoutingAdmin, refresh_controls, refresh_once
from imagegate.service.smoke import SmokeTester, smoke_forever
from imagegate.service.spend import SpendReport
from imagegate.service.teams import TeamAdmin
from imagegate.service.usage_alerts import UsageAlerts
from imagegate.service.webhooks import WebhookService
from imagegate.storage_setup import StorageRuntime
from imagegate.store.insights import SqlLedgerInsights
from imagegate.store.ledger import SqlLedgerStore
from imagegate.store.reports import SqlReportStore
from imagegate.telemetry.wiring import Telemetry
from imagegate.web.routes import console_routes
from imagegate.web.session import ConsoleSessions, signing_secret
from imagegate.web.state import ConsoleDeps
from imagegate.wiring import utc_today

log = logging.getLogger("imagegate")


@dataclass
class Runtime:
    """What the app owns and must close: the pool, the ledger thread, the database engine."""

    engine: Engine
    http: HttpExecutor
    ledger: LedgerWriter
    gateway: Gateway
    key_admin: KeyAdmin
    team_admin: TeamAdmin
    master_key: str | None = None
    redis: aioredis.Redis | None = None
    catalog: Catalog | None = None
    feedback: FeedbackService | None = None
    compare_runs: CompareRuns | None = None
    reports: SqlReportStore | None = None
    ledger_scan: SqlLedgerStore | None = None
    spend: SpendReport | None = None
    alerts: UsageAlerts | None = None
    alerts_interval_s: float = 5.0
    public_pricing: bool = True
    public_route_health: bool = False
    edge: EdgeLimits | None = None
    health: RouteHealth | None = None
    controls: ControlsHolder | None = None
    routing: RoutingAdmin | None = None
    smoke: SmokeTester | None = None
    controls_refresh_s: float = 2.0
    controls_feed: ChangeFeed | None = None
    controls_fallback_refresh_s: float = 60.0
    smoke_interval_s: float | None = None
    telemetry: Telemetry | None = None
    readiness: Readiness | None = None
    storage: StorageRuntime | None = None
    breakers: BreakerStore | None = None
    insights: SqlLedgerInsights | None = None
    console_secret: bytes | None = None
    console_session_ttl_s: float = 8 * 3600
    jobs: JobService | None = None
    job_engine: JobEngine | None = None
    webhooks: WebhookService | None = None
    batches: BatchService | None = None
    batch_poll_interval_s: float | None = None


async def start_background_tasks(runtime: Runtime) -> list[asyncio.Task[None]]:
    """Load the stored routing controls, then keep them fresh (and run scheduled smoke checks)."""
    tasks: list[asyncio.Task[None]] = []
    if runtime.routing is not None and runtime.controls is not None:
        try:
            # Before serving, so a restarted replica never routes with the config's defaults alone.
            await refresh_once(runtime.routing, runtime.controls)
        except Exception:
            log.exception("loading routing controls failed; the refresher will retry")
        tasks.append(
            asyncio.create_task(
                refresh_controls(
                    runtime.routing,
                    runtime.controls,
                    runtime.controls_refresh_s,
                    feed=runtime.controls_feed,
                    fallback_interval_s=runtime.controls_fallback_refresh_s,
                ),
                name="imagegate-controls",
            )
        )
    if runtime.alerts is not None:
        tasks.append(asyncio.create_task(runtime.alerts.run(runtime.alerts_interval_s), name="imagegate-alerts"))
    if runtime.smoke is not None and runtime.smoke_interval_s:
        tasks.append(
            asyncio.create_task(smoke_forever(runtime.smoke, runtime.smoke_interval_s), name="imagegate-smoke")
        )
    if runtime.storage is not None:
        tasks.append(asyncio.create_task(runtime.storage.sweeper.forever(), name="imagegate-sweeper"))
    if runtime.batches is not None and runtime.batch_poll_interval_s:
        poller = runtime.batches.poll_forever(runtime.batch_poll_interval_s)
        tasks.append(asyncio.create_task(poller, name="imagegate-batches"))
    return tasks


def console_deps(runtime: Runtime) -> ConsoleDeps | None:
    """What the console's pages use (``None`` for a runtime built without reports or insights)."""
    if runtime.reports is None or runtime.insights is None or runtime.catalog is None:
        return None
    secret = runtime.console_secret if runtime.console_secret is not None else signing_secret(None, None)
    return ConsoleDeps(
        sessions=ConsoleSessions(secret, ttl_s=runtime.console_session_ttl_s),
        gateway=runtime.gateway,
        key_admin=runtime.key_admin,
        team_admin=runtime.team_admin,
        spend=runtime.spend,
        reports=runtime.reports,
        insights=runtime.insights,
        routing=runtime.routing,
        catalog=runtime.catalog,
        today=utc_today if runtime.gateway.today is None else runtime.gateway.today,
        master_key=runtime.master_key,
        health=runtime.health,
        breakers=runtime.breakers,
        controls=runtime.controls,
        public_pricing=runtime.public_pricing,
        public_route_health=runtime.public_route_health,
        compare_runs=runtime.compare_runs,
        feedback=runtime.feedback,
    )


# -- the ASGI app over a runtime -----------------------------------------------------------


async def _no_route(request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 404)
    message = "Unknown path." if status == 404 else "Method not allowed for this path."
    body = {
        "error": {
            "message": f"{message} ({request.method} {request.url.path})",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found" if status == 404 else "method_not_allowed",
        }
    }
    return JSONResponse(body, status_code=status)


async def healthz(request: Request) -> JSONResponse:
    """Liveness and readiness: 200 once startup (migrations, pools, ledger thread) is done.

    ``worker`` is the serving process's id, to tell the workers of ``serve --workers N`` apart.
    """
    return JSONResponse({"status": "ok", "worker": os.getpid()})


# The collector's first-generation threshold under ``serve`` (CPython's default: 700).
GC_YOUNG_THRESHOLD = 10_000


def create_app(runtime: Runtime, *, dispose_engine: bool = True, freeze_startup_heap: bool = False) -> Starlette:
    """The ASGI app over a built runtime; its lifespan starts and stops the runtime's parts.

    ``freeze_startup_heap`` (the server sets it; tests leave it off, since they start many apps in
    one process): once started, what start-up allocated is moved out of the cyclic garbage
    collector's view (``gc.freeze``, after one collection), so that the collections requests
    trigger no longer walk the modules, catalog and pools every time, and young collections run
    less often (``GC_YOUNG_THRESHOLD``; docs/performance.md, "Garbage collection").
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A streamed provider body that breaks off is logged by the server as one warning line.
        broken_body_filter = BrokenBodyLogFilter()
        logging.getLogger("uvicorn.error").addFilter(broken_body_filter)
        if runtime.gateway.images.admission is not None:
            runtime.gateway.images.admission.bind(asyncio.get_running_loop())
        runtime.ledger.start()
        tasks = await start_background_tasks(runtime)
        if runtime.webhooks is not None:
            runtime.webhooks.start()
        if runtime.jobs is not None and runtime.job_engine is not None:
            await runtime.job_engine.start(runtime.jobs.run, runtime.jobs.due)
        if freeze_startup_heap:
            gc.collect()
            gc.freeze()
            # A young collection every 10,000 net allocations instead of 700: a request allocates
            # thousands of objects that refcounting frees anyway, and each young collection walks
            # the live ones of every request in flight (docs/performance.md, "Garbage collection").
            gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
        try:
            yield
        finally:
            # Answers still read after their client left are recorded (at the quote) while the
            # ledger, admission and HTTP pool are still up.
            await runtime.gateway.images.drains.close()
            if runtime.job_engine is not None:
                await runtime.job_engine.stop()
            if runtime.webhooks is not None:
                await runtime.webhooks.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if runtime.gateway.images.admission is not None:
                await runtime.gateway.images.admission.drain()  # settlements still in flight land first
            await runtime.http.aclose()
            if runtime.storage is not None:
                await runtime.storage.aclose()
            if runtime.redis is not None:
                await runtime.redis.aclose()
            runtime.ledger.close()
            if runtime.telemetry is not None:
                runtime.telemetry.close()
            if dispose_engine:
                runtime.engine.dispose()
            logging.getLogger("uvicorn.error").removeFilter(broken_body_filter)

    middleware = [Middleware(RequestIdMiddleware)]
    observed = None if runtime.telemetry is None else runtime.telemetry.middleware(carries_images)
    if observed is not None:
        # Outside the edge, so requests the edge refuses are counted too.
        middleware.append(observed)
    if runtime.edge is not None:
        budget = InflightBudget(runtime.edge.max_inflight_requests, runtime.edge.max_inflight_body_bytes)
        middleware.append(
            Middleware(
                EdgeMiddleware,
                limits=runtime.edge,
                budget=budget,
                carries_images=carries_images,
                render=dialect_error_response,
            )
        )
    app = Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"]), *all_routes(), *console_routes()],
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={404: _no_route, 405: _no_route},
    )
    app.state.gateway = runtime.gateway
    app.state.master_key = runtime.master_key
    app.state.key_admin = runtime.key_admin
    app.state.team_admin = runtime.team_admin
    app.state.runtime = runtime
    app.state.routing = runtime.routing
    app.state.catalog = runtime.catalog
    app.state.feedback = runtime.feedback
    app.state.reports = runtime.reports
    app.state.compare_runs = runtime.compare_runs
    app.state.ledger_scan = runtime.ledger_scan
    app.state.spend = runtime.spend
    app.state.public_pricing = runtime.public_pricing
    app.state.public_route_health = runtime.public_route_health
    app.state.today = utc_today
    app.state.telemetry = runtime.telemetry
    app.state.readiness = runtime.readiness
    app.state.batches = runtime.batches
    app.state.openapi = None  # built from app.routes on the first GET /openapi.json (api/ops/docs.py)
    app.state.image_storage = None if runtime.storage is None else runtime.storage.storage
    app.state.file_signer = None if runtime.storage is None else runtime.storage.signer
    app.state.console = console_deps(runtime)
    app.state.jobs = runtime.jobs
    app.state.webhooks = runtime.webhooks
    return app
