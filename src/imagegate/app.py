"""The composition root: builds every collaborator from settings and config and passes it down.

Nothing else in the package constructs stores, pools or threads; tests build the same app with
their own settings (a throwaway database, the sandbox's URL) through ``create_app``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Engine

from imagegate.accounting.admission import Admission
from imagegate.accounting.auth import KeyAuthenticator
from imagegate.accounting.crash_safety import CrashSafety
from imagegate.accounting.ledger import LedgerWriter
from imagegate.api.edge import EdgeLimits
from imagegate.config.file import GatewayConfig
from imagegate.config.settings import Settings
from imagegate.domain.image_store import ImageStore
from imagegate.providers.http import HttpExecutor
from imagegate.providers.registry import AdapterRegistry, builtin_registry
from imagegate.route_config import build_route_table, facts_from_catalog, replacements_from_catalog
from imagegate.routing.breaker import BreakerConfig, LocalBreakerStore
from imagegate.routing.control_store import ChangeFeed
from imagegate.routing.controls import ControlsHolder
from imagegate.routing.health import RouteHealth
from imagegate.runtime import Runtime, create_app
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
from imagegate.service.teams import TeamAdmin
from imagegate.service.usage_alerts import UsageAlerts
from imagegate.storage_setup import build_storage
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
from imagegate.web.session import signing_secret
from imagegate.wiring import (
    build_admission_store,
    build_jobs,
    build_webhooks,
    load_operator_catalog,
    redis_client_for,
    utc_today,
)

__all__ = ["Runtime", "build_runtime", "create_app"]

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
        key_admin=KeyAdmin(keys, teams, served_models=lambda: [alias.name for alias in gateway.routes.aliases()]),
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
