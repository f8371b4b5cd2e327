"""Process settings from the environment (``IMAGEGATE_*``)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/imagegate`` (``~/.local/share/imagegate``)."""
    base = os.environ.get("XDG_DATA_HOME")
    root = Path(base) if base else Path.home() / ".local" / "share"
    return root / "imagegate"


class Settings(BaseSettings):
    """Environment settings; the YAML file holds models and routes."""

    model_config = SettingsConfigDict(env_prefix="IMAGEGATE_", extra="ignore")

    database_url: str | None = None
    master_key: SecretStr | None = None
    data_dir: Path = default_data_dir()
    config: Path | None = None
    redis_url: str | None = None
    log_level: str = "info"
    auto_migrate: bool = True
    auth_cache_ttl_s: float = 5.0
    idempotency_window_s: float = 24 * 3600
    # Idempotency bounds (docs/reliability.md): a claim's lease (renewed while its request runs),
    # the largest response kept for replay, and the total of kept responses per store.
    idempotency_lease_s: float = 30.0
    idempotency_max_entry_bytes: int = 16 * 1024 * 1024
    idempotency_max_total_bytes: int = 128 * 1024 * 1024
    idempotency_max_entries: int = 100_000
    # Crash-safe attempt recording (docs/reliability.md): each attempt is noted in a local spool
    # (``<data_dir>/spool``) before its provider call and stored as pending in the database once it
    # has run ``ledger_pending_promote_s``; one whose process stopped renewing it for
    # ``ledger_pending_lease_s`` is written to the ledger as ``unknown`` (at the quote, estimated)
    # by a sweeper on any replica. Unset, the delay is 1 s, and 0 with Redis: shared admission
    # rebuilds its counters from the ledger and the pending records after a Redis loss, so every
    # running attempt needs its record (written in the background either way).
    ledger_crash_safe: bool = True
    ledger_pending_lease_s: float = 60.0
    ledger_sweep_interval_s: float = 30.0
    ledger_pending_promote_s: float | None = Field(default=None, ge=0)
    # GET /api/pricing answers without a key unless this is false (prices are not secrets).
    public_pricing: bool = True
    # How often each replica polls the database for routing changes (docs/routing.md). On
    # PostgreSQL a change is pushed (LISTEN/NOTIFY) and the poll runs every
    # controls_fallback_refresh_s instead, in case a notification was lost.
    controls_refresh_s: float = 2.0
    controls_fallback_refresh_s: float = Field(default=60.0, gt=0)
    # Run smoke checks of every route this often, in this server; None or 0: never (the default,
    # as each check is a real, billed request).
    smoke_interval_s: float | None = None
    # Poll unsettled provider batches this often, in this server (docs/batch.md); None or 0: only
    # when someone asks (``imagegate batch status``, ``GET /v1/imagegate/batches/{id}``).
    batch_poll_interval_s: float | None = 60.0

    # The HTTP edge (docs/reliability.md, "Limits and memory"). Image calls served at once, and the
    # request bytes they may hold together; past either: 503 + Retry-After.
    max_inflight_requests: int = Field(default=256, gt=0)
    max_inflight_body_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    # Provider bodies (docs/performance.md, "Provider bodies streamed through"). Whether a 2xx body
    # in the client's own dialect streams through as it arrives (false: every body is read whole and
    # its cost goes in the x-imagegate-cost-usd header), the declared size up to which it is still
    # read whole, and the largest body ever read whole (past it the attempt fails as
    # upstream_bad_response; 256 MiB holds ten photo-like 4K PNGs in base64).
    passthrough: bool = True
    passthrough_min_bytes: int = Field(default=256 * 1024, ge=0)
    max_provider_body_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    # On SIGTERM, requests in flight may finish for this long (routes time out at 300 s by default);
    # what still runs then is answered 503 in its dialect.
    shutdown_grace_s: float = Field(default=300.0, ge=0)
    # Unknown keys remembered as unknown (each for auth_cache_ttl_s), least recently used evicted.
    auth_negative_cache_entries: int = Field(default=10_000, gt=0)
    # Whether GET /api/pricing shows live route health (status, last check) to callers without a key.
    public_route_health: bool = False
    # The browser console (docs/console.md): the key that signs its session cookies (default: derived
    # from the master key, so every replica and worker accepts the same sessions), and how long a
    # sign-in lasts, enforced by the server whatever the browser keeps.
    console_secret: SecretStr | None = None
    console_session_ttl_s: float = Field(default=8 * 3600, gt=0)

    # Observability (docs/observability.md). GET /metrics: open (what scrapers expect), key (the master
    # key or an admin-read key as bearer), off (404). Traces: off, or otlp (the `otel` extra; the
    # exporter reads the standard OTEL_EXPORTER_OTLP_* variables). Logs: text or json (one object a line).
    metrics: Literal["open", "key", "off"] = "open"
    traces: Literal["off", "otlp"] = "off"
    log_format: Literal["text", "json"] = "text"
    # /readyz: how long each dependency (database, Redis) may take to answer before it counts as down.
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    # Image storage for URL responses (docs/storage.md): files under the data directory (served by
    # the gateway at signed links), S3-compatible object storage, or none (URL responses refused).
    storage: Literal["local", "s3", "none"] = "local"
    # local: where the files go (default: ``{data_dir}/images``) and the secret links are signed
    # with (default: generated once into ``{data_dir}/storage-secret``).
    storage_dir: Path | None = None
    storage_secret: SecretStr | None = None
    # The gateway's address as clients reach it, for local links (default: the address each
    # request came to).
    public_url: str | None = None
    # How often each replica tries to sweep images past their retention (one replica per round).
    storage_sweep_interval_s: float = Field(default=300.0, gt=0)
    # s3: the bucket, and how to reach it (endpoint for R2/GCS/MinIO; credentials default to
    # botocore's chain: AWS_* variables, instance roles).
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_path_style: bool = False
    s3_prefix: str = ""
    # s3: the endpoint clients fetch links from, when not the one the gateway uses (default: the same).
    s3_public_endpoint_url: str | None = None

    # Admission (docs/governance.md): the time zone budget and quota periods (day, week, month)
    # follow, and how long a reservation holds before it lapses (a crashed replica's holds come
    # back after this; it must exceed the longest request, streams included).
    limits_timezone: str = "UTC"
    admission_lease_s: float = Field(default=900.0, gt=0)
    # Prefix of the admission keys in Redis (several gateways sharing one Redis keep apart by it).
    admission_redis_prefix: str = "imagegate:"
    # How often each replica checks the keys and teams that spent for usage-alert thresholds reached.
    usage_alerts_interval_s: float = Field(default=5.0, gt=0)

    # Image jobs (docs/jobs.md). ``jobs_engine``: ``auto`` is procrastinate on PostgreSQL and the
    # in-process pool on SQLite. A run renews its lease every third of ``jobs_lease_s``; a job whose
    # lease lapsed (its process died) is resumed, at most ``jobs_max_runs`` runs in all. Jobs and
    # their stored results are kept ``jobs_retention_s``.
    jobs_engine: Literal["auto", "local", "procrastinate"] = "auto"
    jobs_concurrency: int = Field(default=4, gt=0)
    jobs_lease_s: float = Field(default=60.0, gt=0)
    jobs_retention_s: float = Field(default=24 * 3600.0, gt=0)
    jobs_max_runs: int = Field(default=3, gt=0)
    jobs_resume_interval_s: float = Field(default=15.0, gt=0)
    # With procrastinate, whether ``serve`` also runs jobs (else only ``imagegate worker`` does).
    jobs_run_in_gateway: bool = True
    # Webhooks: the key endpoint secrets are derived from (every replica needs the same one; by
    # default the master key, else a key file in the data directory), and the retry schedule.
    webhook_signing_key: SecretStr | None = None
    webhook_retry_schedule_s: list[float] | None = None
    webhook_poll_s: float = Field(default=15.0, gt=0)

    def webhook_key(self) -> bytes:
        """The key endpoint secrets derive from: configured, else the master key, else a file in the data directory."""
        for secret in (self.webhook_signing_key, self.master_key):
            if secret is not None and secret.get_secret_value() != "":
                return secret.get_secret_value().encode()
        path = self.data_dir / "webhook-signing.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting together write it once; the loser reads the winner's key.
            with contextlib.suppress(FileExistsError):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as file:
                    file.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    def catalog_dir(self) -> Path:
        """Where ``imagegate catalog update`` puts newer price files (loaded over the shipped ones)."""
        return self.data_dir / "catalog"

    def images_dir(self) -> Path:
        """Where the local image store keeps its files."""
        return self.storage_dir if self.storage_dir is not None else self.data_dir / "images"

    def promote_after_s(self) -> float:
        """When a running attempt gets its pending record: as set, else 1 s, or at once with Redis."""
        if self.ledger_pending_promote_s is not None:
            return self.ledger_pending_promote_s
        return 1.0 if self.redis_url is None else 0.0

    def resolved_database_url(self) -> str:
        """The configured URL, or an SQLite file in the data directory."""
        if self.database_url is not None and self.database_url != "":
            return self.database_url
        return f"sqlite:///{self.data_dir / 'imagegate.db'}"
