"""The running gateway's parts (``Runtime``), the background tasks that keep them fresh, and what the
console reads from them. ``app.build_runtime`` fills a ``Runtime``; ``app.create_app`` serves it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import Engine

from imagegate.accounting.ledger import LedgerWriter
from imagegate.api.edge import EdgeLimits
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
from imagegate.storage.build import StorageRuntime
from imagegate.store.insights import SqlLedgerInsights
from imagegate.store.ledger import SqlLedgerStore
from imagegate.store.reports import SqlReportStore
from imagegate.telemetry.wiring import Telemetry
from imagegate.web.session import ConsoleSessions, signing_secret
from imagegate.web.state import ConsoleDeps
from imagegate.wiring import (
    utc_today,
)

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
