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
from datetime import date
from typing import Any

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from imagegate.accounting.admission import Admission
from imagegate.accounting.auth import KeyAuthenticator
from imagegate.accounting.ledger import CrashSafety, LedgerWriter
from imagegate.api.edge import EdgeLimits, EdgeMiddleware, InflightBudget
from imagegate.api.passthrough import BrokenBodyLogFilter
from imagegate.api.request_ids import RequestIdMiddleware
from imagegate.api.routes import all_routes, carries_images, dialect_error_response
from imagegate.config.file import GatewayConfig
from imagegate.config.settings import Settings
from imagegate.providers.http import HttpExecutor
from imagegate.providers.registry import AdapterRegistry, builtin_registry
from imagegate.route_config import build_route_table, facts_from_catalog, replacements_from_catalog
from imagegate.routing.breaker import BreakerConfig, LocalBreakerStore
from imagegate.routing.control_store import ChangeFeed
from imagegate.routing.controls import ControlsHolder
from imagegate.routing.health import RouteHealth
from imagegate.runtime import Runtime, console_deps, start_background_tasks
from imagegate.service.admission import AdmissionGate
from imagegate.service.batches import BatchService
from imagegate.service.compare_runs import CompareRuns
from imagegate.service.event_port import EventSink
from imagegate.service.feedback import FeedbackService
from imagegate.service.gateway import Gateway, RequestLimits
from imagegate.service.idempotency import IdempotencyLimits, IdempotentRunner, LocalIdempotencyStore
from imagegate.service.images import ImageService
from imagegate.service.job_costs import RunCosts
from imagegate.service.keys import KeyAdmin
from imagegate.service.readiness import Check, Readiness
from imagegate.service.route_control import RoutingAdmin
from imagegate.service.route_guards import RouteGuards
from imagegate.service.smoke import SmokeTester
from imagegate.service.spend import SpendReport
from imagegate.service.storage_port import ImageStore
from imagegate.service.teams import TeamAdmin
from imagegate.service.usage_alerts import UsageAlerts
from imagegate.storage.build import build_storage
from imagegate.store.attempt_spool import FileAttemptSpool
from imagegate.store.batches import SqlBatchStore
from imagegate.store.compare import SqlCompareStore
from imagegate.store.database import make_engine
from imagegate.store.feedback import SqlFeedbackStore
from imagegate.store.insights import SqlLedgerInsights
from imagegate.store.jobs import SqlJobStore
from imagegate.store.keys import SqlKeyStore
from imagegate.store.ledger import SqlLedgerStore
from imagegate.store.migrate import upgrade_database
from imagegate.store.pending_attempts import SqlPendingAttempts
from imagegate.store.readiness import database_check, redis_check
from imagegate.store.redis_breaker import RedisBreakerStore
from imagegate.store.redis_idempotency import RedisIdempotencyStore
from imagegate.store.reports import SqlReportStore
from imagegate.store.routing_state import SqlRoutingState
from imagegate.store.sql_admission import ledger_seeder
from imagegate.store.teams import SqlTeamStore
from imagegate.store.usage_alerts import SqlAlertMarks
from imagegate.telemetry.route_state import RouteStateReader
from imagegate.telemetry.store_state import StoreStateReader
from imagegate.telemetry.wiring import build_telemetry
from imagegate.web.routes import console_routes
from imagegate.web.session import signing_secret
from imagegate.wiring import (
    build_admission_store,
    build_jobs,
    build_webhooks,
    load_operator_catalog,
    redis_client_for,
    utc_today,
)

log = logging.getLogger("imagegate")


def build_runtime(
    settings: Settings,
    config: GatewayConfig,
    *,
    engine: Engine | None = None,
    registry: AdapterRegistry | None = None,
    http: HttpExecutor | None = None,
    today: Callable[[], date] | None = None,
    tracer_provider: Any = None,
    events: EventSink | None = None,
    image_store: ImageStore | None = None,
) -> Runtime:
    """Every collaborator of the gateway, wired; nothing started yet.

    ``today`` is the clock model lifecycle decisions use (default: the UTC date);
    ``tracer_provider`` an OpenTelemetry SDK provider to trace into (tests), instead of the
    OTLP exporter ``IMAGEGATE_TRACES=otlp`` sets up; ``events`` delivers usage alerts (default:
    the webhook service); ``image_store`` is where job results live (default: the configured
    image storage; without any, the job endpoints answer 404).
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
    teams = SqlTeamStore(engine)
    authenticator = KeyAuthenticator(
        keys, cache_ttl_s=settings.auth_cache_ttl_s, negative_entries=settings.auth_negative_cache_entries
    )
    redis_client = None if settings.redis_url is None else redis_client_for(settings.redis_url)
    admission_store = build_admission_store(settings, engine, redis_client)
    admission = AdmissionGate(
        Admission(admission_store, timezone=settings.limits_timezone, lease_s=settings.admission_lease_s)
    )
    crash_safety = None
    if settings.ledger_crash_safe:
        crash_safety = CrashSafety(
            SqlPendingAttempts(engine),
            FileAttemptSpool(settings.data_dir / "spool"),
            lease_s=settings.ledger_pending_lease_s,
            sweep_interval_s=settings.ledger_sweep_interval_s,
            promote_after_s=settings.promote_after_s(),
            on_resolved=admission.swept,
        )
    ledger = LedgerWriter(
        SqlLedgerStore(engine),
        crash_safety=crash_safety,
        side_work=lambda: _flush_last_used(authenticator, keys),
    )
    http = http if http is not None else HttpExecutor(max_body_bytes=settings.max_provider_body_bytes)
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
    guards = RouteGuards(breakers=breakers, health=health, controls=controls)
    route_table = build_route_table(config)
    telemetry = build_telemetry(
        route_table,
        metrics_mode=settings.metrics,
        traces=settings.traces,
        registry=registry,
        tracer_provider=tracer_provider,
    )
    storage = build_storage(settings, config.storage, engine=engine, redis=redis_client)
    webhooks = build_webhooks(settings, config, engine)
    if image_store is None and storage is not None:
        image_store = storage.storage.store
    alerts = UsageAlerts(
        keys=keys,
        teams=teams,
        marks=SqlAlertMarks(engine),
        ledger_sum=ledger_seeder(engine),
        sink=events if events is not None else webhooks,
        timezone=settings.limits_timezone,
    )
    run_costs = RunCosts()
    gateway = Gateway(
        routes=route_table,
        registry=registry,
        facts=facts_from_catalog(catalog),
        today=today if today is not None else utc_today,
        replacements=replacements_from_catalog(catalog, registry),
        authenticator=authenticator,
        images=ImageService(
            http=http,
            ledger=ledger,
            guards=guards,
            observers=(*telemetry.observers(), alerts.observe, run_costs.observe),
            admission=admission,
            passthrough=settings.passthrough,
            passthrough_min_bytes=settings.passthrough_min_bytes,
        ),
        limits=RequestLimits(
            max_body_bytes=config.limits.max_body_bytes,
            max_image_bytes=config.limits.max_image_bytes,
            max_images=config.limits.max_images,
            input_image_hosts=tuple(config.limits.input_image_hosts),
        ),
        idempotency=IdempotentRunner(
            idempotency_store, window_s=settings.idempotency_window_s, lease_s=settings.idempotency_lease_s
        ),
        controls=controls,
        image_store=None if storage is None else storage.storage.store,
    )
    routing = RoutingAdmin(SqlRoutingState(engine), gateway.routes, facts=gateway.facts, today=gateway.today)
    telemetry.route_state = RouteStateReader(route_table, guards, routing)
    checks: dict[str, Check] = {"database": database_check(engine)}
    if redis_client is not None:
        checks["redis"] = redis_check(redis_client)
    smoke = SmokeTester(
        routes=gateway.routes,
        registry=registry,
        facts=gateway.facts,
        http=http,
        record_entry=telemetry.recorded_by(ledger.record),  # smoke checks are billed: counted too
        record_check=routing.record_check,
        today=today if today is not None else utc_today,
    )
    master_key = None if settings.master_key is None else settings.master_key.get_secret_value()
    jobs, job_engine = build_jobs(settings, engine, gateway, image_store, webhooks, run_costs)
    if jobs is not None and storage is not None:
        storage.sweeper.add_round("image jobs", jobs.sweep_expired)  # rows expire with their images
    batches = BatchService(
        planner=gateway.plan,
        http=http,
        store=SqlBatchStore(engine),
        record_entry=telemetry.recorded_by(ledger.record),  # batch requests are billed: counted too
    )
    spend = SpendReport(
        keys=keys,
        teams=teams,
        ledger_sum=ledger_seeder(engine),
        admission=admission_store,
        timezone=settings.limits_timezone,
    )
    # Budgets and job counts for /metrics, read from the shared database when scraped.
    job_counts = None if jobs is None else SqlJobStore(engine).count_by_status
    telemetry.store_state = StoreStateReader(spend, job_counts)
    return Runtime(
        engine=engine,
        http=http,
        ledger=ledger,
        gateway=gateway,
        redis=redis_client,
        key_admin=KeyAdmin(keys, teams),
        team_admin=TeamAdmin(teams),
        master_key=master_key or None,
        catalog=catalog,
        feedback=FeedbackService(SqlFeedbackStore(engine), wait_for_ledger=ledger.wait_idle),
        reports=SqlReportStore(engine),
        compare_runs=CompareRuns(SqlCompareStore(engine)),
        ledger_scan=SqlLedgerStore(engine),
        spend=spend,
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
        controls_feed=_controls_feed(engine),
        controls_fallback_refresh_s=settings.controls_fallback_refresh_s,
        smoke_interval_s=settings.smoke_interval_s,
        telemetry=telemetry,
        readiness=Readiness(checks, timeout_s=settings.readiness_timeout_s),
        storage=storage,
        breakers=breakers,
        insights=SqlLedgerInsights(engine),
        console_secret=signing_secret(
            None if settings.console_secret is None else settings.console_secret.get_secret_value(), master_key or None
        ),
        console_session_ttl_s=settings.console_session_ttl_s,
        alerts=alerts,
        alerts_interval_s=settings.usage_alerts_interval_s,
        jobs=jobs,
        job_engine=job_engine,
        webhooks=webhooks,
        batches=batches,
        batch_poll_interval_s=settings.batch_poll_interval_s,
    )


def _controls_feed(engine: Engine) -> ChangeFeed | None:
    """PostgreSQL pushes routing changes; other databases are polled (``controls_refresh_s``)."""
    if engine.dialect.name != "postgresql":
        return None
    # Imported here: psycopg costs an SQLite gateway ~30 MiB of RSS it would never use.
    from imagegate.store.routing_notify import PgChangeFeed

    return PgChangeFeed(engine.url)


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


def create_app(runtime: Runtime, *, dispose_engine: bool = True) -> Starlette:
    """The ASGI app over a built runtime; its lifespan starts and stops the runtime's parts."""

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
