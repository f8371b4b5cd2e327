"""The composition root: builds every collaborator from settings and config and passes it down.

Nothing else in the package constructs stores, pools or threads; tests build the same app with
their own settings (a throwaway database, the sandbox's URL) through ``create_app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from imagegate.accounting.admission import Admission, AdmissionStore
from imagegate.accounting.auth import KeyAuthenticator
from imagegate.accounting.ledger import CrashSafety, LedgerWriter
from imagegate.api.edge import EdgeLimits, EdgeMiddleware, InflightBudget
from imagegate.api.request_ids import RequestIdMiddleware
from imagegate.api.routes import all_routes, carries_images, dialect_error_response
from imagegate.catalog import Catalog, load_catalog
from imagegate.config.file import GatewayConfig
from imagegate.config.settings import Settings
from imagegate.providers.http import HttpExecutor
from imagegate.providers.registry import AdapterRegistry, builtin_registry
from imagegate.route_config import build_route_table, facts_from_catalog, replacements_from_catalog
from imagegate.routing.breaker import BreakerConfig, LocalBreakerStore
from imagegate.routing.controls import ControlsHolder
from imagegate.routing.health import RouteHealth
from imagegate.service.admission import AdmissionGate
from imagegate.service.feedback import FeedbackService
from imagegate.service.gateway import Gateway, RequestLimits
from imagegate.service.idempotency import IdempotencyLimits, IdempotentRunner, LocalIdempotencyStore
from imagegate.service.images import ImageService
from imagegate.service.keys import KeyAdmin
from imagegate.service.route_control import RoutingAdmin, refresh_controls, refresh_once
from imagegate.service.route_guards import RouteGuards
from imagegate.service.smoke import SmokeTester, smoke_forever
from imagegate.store.database import make_engine
from imagegate.store.feedback import SqlFeedbackStore
from imagegate.store.keys import SqlKeyStore
from imagegate.store.ledger import SqlLedgerStore
from imagegate.store.migrate import upgrade_database
from imagegate.store.pending_attempts import SqlPendingAttempts
from imagegate.store.redis_admission import RedisAdmissionStore
from imagegate.store.redis_breaker import RedisBreakerStore
from imagegate.store.redis_idempotency import RedisIdempotencyStore
from imagegate.store.reports import SqlReportStore
from imagegate.store.routing_state import SqlRoutingState
from imagegate.store.sql_admission import SqlAdmissionStore, ledger_seeder

log = logging.getLogger("imagegate")


@dataclass
class Runtime:
    """What the app owns and must close: the pool, the ledger thread, the database engine."""

    engine: Engine
    http: HttpExecutor
    ledger: LedgerWriter
    gateway: Gateway
    key_admin: KeyAdmin
    master_key: str | None = None
    redis: aioredis.Redis | None = None
    catalog: Catalog | None = None
    feedback: FeedbackService | None = None
    reports: SqlReportStore | None = None
    public_pricing: bool = True
    public_route_health: bool = False
    edge: EdgeLimits | None = None
    health: RouteHealth | None = None
    controls: ControlsHolder | None = None
    routing: RoutingAdmin | None = None
    smoke: SmokeTester | None = None
    controls_refresh_s: float = 2.0
    smoke_interval_s: float | None = None


def build_runtime(
    settings: Settings,
    config: GatewayConfig,
    *,
    engine: Engine | None = None,
    registry: AdapterRegistry | None = None,
    http: HttpExecutor | None = None,
    today: Callable[[], date] | None = None,
) -> Runtime:
    """Every collaborator of the gateway, wired; nothing started yet.

    ``today`` is the clock model lifecycle decisions use (default: the UTC date).
    """
    if engine is None:
        engine = make_engine(settings.resolved_database_url())
        if settings.auto_migrate:
            upgrade_database(engine)
    registry = registry if registry is not None else builtin_registry()
    for route in (target for alias in build_route_table(config).aliases() for target in alias.routes):
        adapter = registry.get(route.provider)
        # Adapters with route options (Google: Vertex project, service-account key) check them now.
        adapter.validate_route(route)
    catalog = load_operator_catalog(settings, config)
    keys = SqlKeyStore(engine)
    authenticator = KeyAuthenticator(
        keys, cache_ttl_s=settings.auth_cache_ttl_s, negative_entries=settings.auth_negative_cache_entries
    )
    redis_client = None if settings.redis_url is None else redis_client_for(settings.redis_url)
    admission = build_admission(settings, engine, redis_client)
    crash_safety = None
    if settings.ledger_crash_safe:
        crash_safety = CrashSafety(
            SqlPendingAttempts(engine),
            lease_s=settings.ledger_pending_lease_s,
            sweep_interval_s=settings.ledger_sweep_interval_s,
            begin_wait_s=settings.ledger_begin_wait_s,
            on_resolved=admission.swept,
        )
    ledger = LedgerWriter(
        SqlLedgerStore(engine),
        crash_safety=crash_safety,
        side_work=lambda: _flush_last_used(authenticator, keys),
    )
    http = http if http is not None else HttpExecutor()
    idempotency_limits = IdempotencyLimits(
        max_total_bytes=settings.idempotency_max_total_bytes,
        max_entry_bytes=settings.idempotency_max_entry_bytes,
        max_entries=settings.idempotency_max_entries,
    )
    idempotency_store = (
        LocalIdempotencyStore(idempotency_limits)
        if redis_client is None
        else RedisIdempotencyStore(redis_client, limits=idempotency_limits)
    )
    breaker_config = BreakerConfig(
        consecutive_failures=config.breaker.consecutive_failures,
        failure_rate=config.breaker.failure_rate,
        min_calls=config.breaker.min_calls,
        window_s=config.breaker.window,
        cooldown_s=config.breaker.cooldown,
        half_open_probes=config.breaker.half_open_probes,
    )
    breakers = (
        LocalBreakerStore(breaker_config) if redis_client is None else RedisBreakerStore(redis_client, breaker_config)
    )
    health = RouteHealth()
    controls = ControlsHolder()
    gateway = Gateway(
        routes=build_route_table(config),
        registry=registry,
        facts=facts_from_catalog(catalog),
        today=today if today is not None else utc_today,
        replacements=replacements_from_catalog(catalog, registry),
        authenticator=authenticator,
        images=ImageService(
            http=http,
            ledger=ledger,
            guards=RouteGuards(breakers=breakers, health=health, controls=controls),
            admission=admission,
        ),
        limits=RequestLimits(
            max_body_bytes=config.limits.max_body_bytes,
            max_image_bytes=config.limits.max_image_bytes,
            max_images=config.limits.max_images,
        ),
        idempotency=IdempotentRunner(
            idempotency_store, window_s=settings.idempotency_window_s, lease_s=settings.idempotency_lease_s
        ),
        controls=controls,
    )
    routing = RoutingAdmin(SqlRoutingState(engine), gateway.routes, facts=gateway.facts, today=gateway.today)
    smoke = SmokeTester(
        routes=gateway.routes,
        registry=registry,
        facts=gateway.facts,
        http=http,
        record_entry=ledger.record,
        record_check=routing.record_check,
        today=today if today is not None else utc_today,
    )
    master_key = None if settings.master_key is None else settings.master_key.get_secret_value()
    return Runtime(
        engine=engine,
        http=http,
        ledger=ledger,
        gateway=gateway,
        key_admin=KeyAdmin(keys),
        master_key=master_key or None,
        catalog=catalog,
        feedback=FeedbackService(SqlFeedbackStore(engine), wait_for_ledger=ledger.wait_idle),
        reports=SqlReportStore(engine),
        public_pricing=settings.public_pricing,
        public_route_health=settings.public_route_health,
        edge=EdgeLimits(
            image_body_bytes=config.limits.max_body_bytes,
            max_inflight_requests=settings.max_inflight_requests,
            max_inflight_body_bytes=settings.max_inflight_body_bytes,
        ),
        health=health,
        controls=controls,
        routing=routing,
        smoke=smoke,
        controls_refresh_s=settings.controls_refresh_s,
        smoke_interval_s=settings.smoke_interval_s,
    )


def redis_client_for(url: str) -> aioredis.Redis:
    """A client whose pool makes callers wait for a free connection (the default pool raises past
    100 at once, which a burst of admitted requests reaches)."""
    return aioredis.Redis(
        connection_pool=aioredis.BlockingConnectionPool.from_url(url, max_connections=200, timeout=10)
    )


def build_admission(settings: Settings, engine: Engine, redis_client: aioredis.Redis | None) -> AdmissionGate:
    """Admission over Redis when configured (shared by replicas), else over the database."""
    store: AdmissionStore = (
        SqlAdmissionStore(engine)
        if redis_client is None
        else RedisAdmissionStore(redis_client, ledger_seeder(engine), prefix=settings.admission_redis_prefix)
    )
    return AdmissionGate(Admission(store, timezone=settings.limits_timezone, lease_s=settings.admission_lease_s))


def operator_catalog_files(settings: Settings) -> list[Path]:
    """Price files ``imagegate catalog update`` installed, in load order (by name)."""
    directory = settings.catalog_dir()
    return sorted(directory.glob("*.json")) if directory.is_dir() else []


def load_operator_catalog(settings: Settings, config: GatewayConfig) -> Catalog:
    """The catalog as this deployment prices: shipped rows, then the data directory's price
    files, then the config's ``catalog:`` overrides (each over the one before)."""
    return load_catalog(overrides=config.catalog, extra_files=operator_catalog_files(settings))


def utc_today() -> date:
    """Today's date in UTC (lifecycle dates are UTC days)."""
    return datetime.now(UTC).date()


def _flush_last_used(authenticator: KeyAuthenticator, keys: SqlKeyStore) -> None:
    taken = authenticator.take_last_used()
    if taken:
        keys.touch_keys(taken)


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


async def _start_routing_tasks(runtime: Runtime) -> list[asyncio.Task[None]]:
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
                refresh_controls(runtime.routing, runtime.controls, runtime.controls_refresh_s),
                name="imagegate-controls",
            )
        )
    if runtime.smoke is not None and runtime.smoke_interval_s:
        tasks.append(
            asyncio.create_task(smoke_forever(runtime.smoke, runtime.smoke_interval_s), name="imagegate-smoke")
        )
    return tasks


def create_app(runtime: Runtime, *, dispose_engine: bool = True) -> Starlette:
    """The ASGI app over a built runtime; its lifespan starts and stops the runtime's parts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runtime.gateway.images.admission is not None:
            runtime.gateway.images.admission.bind(asyncio.get_running_loop())
        runtime.ledger.start()
        tasks = await _start_routing_tasks(runtime)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if runtime.gateway.images.admission is not None:
                await runtime.gateway.images.admission.drain()  # settlements still in flight land first
            await runtime.http.aclose()
            if runtime.redis is not None:
                await runtime.redis.aclose()
            runtime.ledger.close()
            if dispose_engine:
                runtime.engine.dispose()

    middleware = [Middleware(RequestIdMiddleware)]
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
        routes=[Route("/healthz", healthz, methods=["GET"]), *all_routes()],
        lifespan=lifespan,
        middleware=middleware,
        exception_handlers={404: _no_route, 405: _no_route},
    )
    app.state.gateway = runtime.gateway
    app.state.master_key = runtime.master_key
    app.state.key_admin = runtime.key_admin
    app.state.runtime = runtime
    app.state.routing = runtime.routing
    app.state.catalog = runtime.catalog
    app.state.feedback = runtime.feedback
    app.state.reports = runtime.reports
    app.state.public_pricing = runtime.public_pricing
    app.state.public_route_health = runtime.public_route_health
    app.state.today = utc_today
    return app
