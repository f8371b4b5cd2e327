"""Builders the composition root (``app.py``) uses: stores chosen by settings, the job engine, the
webhook service, the operator's catalog. Each is a plain function of settings and collaborators,
so ``app.build_runtime`` stays a readable list of what the gateway is made of.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy import Engine

from imagegate.accounting.admission import AdmissionStore
from imagegate.api.openai.errors import error_status_and_body
from imagegate.api.openai.render import usage_object
from imagegate.catalog import Catalog, load_catalog
from imagegate.config.file import GatewayConfig
from imagegate.config.settings import Settings
from imagegate.domain.image_store import ImageStore
from imagegate.providers.outbound import parse_cidrs
from imagegate.service.gateway import Gateway
from imagegate.service.job_costs import RunCosts
from imagegate.service.job_pool import LocalJobPool
from imagegate.service.jobs import JobEngine, JobService, JobSettings
from imagegate.service.webhook_sender import WebhookSender
from imagegate.service.webhooks import DEFAULT_SCHEDULE_S, WebhookService, WebhookSettings
from imagegate.store.jobs import SqlJobStore
from imagegate.store.redis_admission import RedisAdmissionStore
from imagegate.store.sql_admission import SqlAdmissionStore, ledger_seeder
from imagegate.store.webhooks import SqlWebhookStore


def build_webhooks(settings: Settings, config: GatewayConfig, engine: Engine) -> WebhookService:
    """Signed webhook deliveries (jobs' events, usage alerts), stored in the database."""
    return WebhookService(
        SqlWebhookStore(engine),
        signing_key=settings.webhook_key(),
        sender=WebhookSender(allow=parse_cidrs(config.webhooks.allow_cidrs)),
        settings=WebhookSettings(
            schedule_s=tuple(settings.webhook_retry_schedule_s or DEFAULT_SCHEDULE_S), poll_s=settings.webhook_poll_s
        ),
    )


def build_jobs(
    settings: Settings,
    engine: Engine,
    gateway: Gateway,
    image_store: ImageStore | None,
    webhooks: WebhookService,
    run_costs: RunCosts,
) -> tuple[JobService | None, JobEngine | None]:
    """The job service and its engine; none without an image store (job results live there)."""
    if image_store is None:
        return None, None
    jobs = JobService(
        store=SqlJobStore(engine),
        gateway=gateway,
        images=image_store,
        describe_error=lambda error: error_status_and_body(error)[1]["error"],
        usage_view=usage_object,
        events=webhooks,
        run_costs=run_costs,
        webhook_check=webhooks.owns,
        settings=JobSettings(
            lease_s=settings.jobs_lease_s, retention_s=settings.jobs_retention_s, max_runs=settings.jobs_max_runs
        ),
    )
    jobs.engine = job_engine = build_job_engine(settings, engine)
    return jobs, job_engine


def build_job_engine(settings: Settings, engine: Engine) -> JobEngine:
    """procrastinate on PostgreSQL (replicas and workers share the queue), else the in-process pool."""
    kind = settings.jobs_engine
    if kind == "local" or (kind == "auto" and engine.dialect.name != "postgresql"):
        return LocalJobPool(
            concurrency=settings.jobs_concurrency,
            resume_interval_s=settings.jobs_resume_interval_s,
            drain_s=settings.shutdown_grace_s,
        )
    from imagegate.store.procrastinate_engine import ProcrastinateEngine, ensure_schema  # large; SQLite never needs it

    ensure_schema(engine)
    return ProcrastinateEngine(
        engine,
        concurrency=settings.jobs_concurrency,
        run_jobs=settings.jobs_run_in_gateway,
        resume_interval_s=settings.jobs_resume_interval_s,
        drain_s=settings.shutdown_grace_s,
    )


def redis_client_for(url: str) -> aioredis.Redis:
    """A client whose pool makes callers wait for a free connection (the default pool raises past
    100 at once, which a burst of admitted requests reaches)."""
    return aioredis.Redis(
        connection_pool=aioredis.BlockingConnectionPool.from_url(url, max_connections=200, timeout=10)
    )


def build_admission_store(settings: Settings, engine: Engine, redis_client: aioredis.Redis | None) -> AdmissionStore:
    """Admission state over Redis when configured (shared by replicas), else over the database."""
    if redis_client is None:
        return SqlAdmissionStore(engine)
    return RedisAdmissionStore(redis_client, ledger_seeder(engine), prefix=settings.admission_redis_prefix)


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
