"""The schema as SQLAlchemy Core tables; ``migrations/versions`` must build exactly this.

A test compares these definitions with the migrated database on both backends, so a column added
here without a migration (or the reverse) fails the suite.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

# Deterministic constraint names, so later migrations (and SQLite batch mode, which recreates
# tables) can refer to constraints by name on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware datetime, stored as UTC and always returned as aware UTC.

    PostgreSQL stores ``timestamptz`` and psycopg returns it in the session time zone; SQLite has
    no zone at all. Normalising both to UTC means equal instants compare and sort equal
    everywhere. Naive datetimes are rejected: guessing their zone silently corrupts the ledger.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite stores text; a fixed-format UTC string sorts and compares chronologically.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json() -> sa.types.TypeEngine[Any]:
    # JSONB on PostgreSQL (indexable, compact); ``none_as_null`` so Python None is SQL NULL,
    # which is how "no model restriction" is stored.
    jsonb = postgresql.JSONB(none_as_null=True)
    return sa.JSON(none_as_null=True).with_variant(jsonb, "postgresql")


# SQLite only auto-assigns ids to a column declared exactly INTEGER PRIMARY KEY.
BigIntegerPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Governance (docs/governance.md): a team owns keys; both carry optional limits (domain.limits
# ``Limits.to_dict()``) and usage-alert thresholds (percent of budget, e.g. [50, 80, 100]).
teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("limits", _json(), nullable=False),
    sa.Column("alert_thresholds", _json(), nullable=True),
    sa.UniqueConstraint("name"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("models", _json(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    # RESTRICT: a team with keys cannot be deleted (its keys' limits and reports depend on it).
    sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=True),
    sa.Column("role", sa.Text, nullable=False, server_default="client"),
    sa.Column("limits", _json(), nullable=True),
    sa.Column("tags", _json(), nullable=True),
    # NULL: every dialect (openai, gemini, imagen) may be used with this key.
    sa.Column("allowed_dialects", _json(), nullable=True),
    sa.Column("alert_thresholds", _json(), nullable=True),
    # Rotation grace: the replaced secret's hash stays valid until ``previous_valid_until``.
    sa.Column("previous_key_hash", sa.String(64), nullable=True),
    sa.Column("previous_valid_until", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("name"),
    sa.CheckConstraint("length(key_hash) = 64", name="key_hash_length"),
    sa.CheckConstraint("role IN ('client', 'admin-read', 'admin')", name="role_known"),
    sa.Index("ix_api_keys_key_hash", "key_hash", unique=True),
    sa.Index("ix_api_keys_previous_key_hash", "previous_key_hash"),
)

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", BigIntegerPK, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    # SET NULL: keys are revoked rather than deleted, but if one ever is, its billing history
    # must survive (key_name keeps it attributable).
    sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True),
    sa.Column("key_name", sa.Text, nullable=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("provider_model", sa.Text, nullable=False),
    sa.Column("route", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("dialect", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error_code", sa.Text, nullable=True),
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("images", sa.Integer, nullable=False),
    sa.Column("usage", _json(), nullable=False),
    sa.Column("cost_micros", sa.BigInteger, nullable=False),
    sa.Column("cost_estimated", sa.Boolean, nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("provider_request_id", sa.Text, nullable=True),
    sa.Column("stream", sa.Boolean, nullable=False),
    sa.Column("client_disconnected", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("team", sa.Text, nullable=True),
    sa.Column("tags", _json(), nullable=True),
    sa.Index("ix_ledger_request_id", "request_id"),
    sa.Index("ix_ledger_created_at", "created_at"),
    sa.Index("ix_ledger_key_name_created_at", "key_name", "created_at"),
    sa.Index("ix_ledger_model_created_at", "model", "created_at"),
    sa.Index("ix_ledger_team_created_at", "team", "created_at"),
)

# Attempts in flight (docs/reliability.md, "Crash-safe attempt recording"): written before the
# provider call, deleted in the transaction that appends the attempt's ledger row. A row whose
# ``resolve_after`` passed (its owner stopped renewing it: crashed) is moved to the ledger as an
# ``unknown`` attempt by the sweeper. ``entry`` is that ledger row, as JSON (never base64).
pending_attempts = sa.Table(
    "pending_attempts",
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("resolve_after", UTCDateTime(), nullable=False),
    sa.Column("entry", _json(), nullable=False),
    sa.Index("ix_pending_attempts_resolve_after", "resolve_after"),
)

# Acceptance verdicts, append-only like the ledger: the row with the highest id for a
# (request_id, image_index) is the verdict that counts, earlier rows are its history.
# No foreign key to the ledger: request_id is not unique there (one row per attempt).
image_feedback = sa.Table(
    "image_feedback",
    metadata,
    sa.Column("id", BigIntegerPK, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("image_index", sa.Integer, nullable=False),
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True),
    sa.Column("key_name", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("image_index >= 0", name="image_index_not_negative"),
    sa.Index("ix_image_feedback_request_id_image_index", "request_id", "image_index"),
)

# Live routing control (docs/routing.md). Overrides of the config file's route ``enabled`` and
# ``weight`` and alias ``policy``: NULL means "the config's value applies", so a row can be
# cleared field by field and a rollback can restore "no override" exactly.
route_controls = sa.Table(
    "route_controls",
    metadata,
    sa.Column("route", sa.Text, primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=True),
    sa.Column("weight", sa.Float, nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.CheckConstraint("weight >= 0", name="weight_not_negative"),
)

alias_policies = sa.Table(
    "alias_policies",
    metadata,
    sa.Column("alias", sa.Text, primary_key=True),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
)

# Append-only, like the ledger. The highest id is the version every replica compares to decide
# whether to reload its snapshot; ``reverts`` links a rollback to the change it undid.
routing_changes = sa.Table(
    "routing_changes",
    metadata,
    sa.Column("id", BigIntegerPK, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("alias", sa.Text, nullable=False),
    sa.Column("route", sa.Text, nullable=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("before", _json(), nullable=False),
    sa.Column("after", _json(), nullable=False),
    sa.Column("reverts", sa.BigInteger, nullable=True),
    sa.CheckConstraint("action IN ('disable', 'enable', 'reweight', 'policy', 'rollback')", name="action_known"),
    sa.Index("ix_routing_changes_alias_id", "alias", "id"),
)

# The latest smoke-test verdict per route (one row each, replaced on every check).
route_status = sa.Table(
    "route_status",
    metadata,
    sa.Column("route", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("last_checked_at", UTCDateTime(), nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=True),
    sa.Column("error_code", sa.Text, nullable=True),
    sa.Column("provider_request_id", sa.Text, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("usage", _json(), nullable=True),
    sa.Column("cost_micros", sa.BigInteger, nullable=True),
)

# Compare runs (docs/compare.md): what ``imagegate compare run`` registered and each finished
# cell. Money is not here: a run's spend is the ledger's rows of its cells' request ids.
compare_runs = sa.Table(
    "compare_runs",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key_name", sa.Text, nullable=False),
    sa.Column("prompts", _json(), nullable=False),
    sa.Column("models", _json(), nullable=False),
    sa.Column("cells", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_compare_runs_key_id_created_at", "key_id", "created_at"),
)

compare_cells = sa.Table(
    "compare_cells",
    metadata,
    sa.Column("run_id", sa.Text, sa.ForeignKey("compare_runs.run_id", ondelete="CASCADE"), nullable=False),
    sa.Column("cell_id", sa.Text, nullable=False),
    sa.Column("prompt_index", sa.Integer, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("repetition", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("images_requested", sa.Integer, nullable=False),
    sa.Column("images", sa.Integer, nullable=False),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=True),
    sa.Column("error_code", sa.Text, nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("image_urls", _json(), nullable=False),
    sa.PrimaryKeyConstraint("run_id", "cell_id", name="pk_compare_cells"),
    sa.Index("ix_compare_cells_request_id", "request_id"),
)

# Admission (docs/governance.md, "Admission"): what each holder (``key:<id>``, ``team:<id>``) has
# settled per bucket (``usd:<period>``, ``img:<period>``), and the holds live reservations keep.
# A hold past ``expires_at`` counts for nothing: a crashed process's reservations lapse (a lease);
# rate buckets (``rpm``, ``ipm``) are holds that lapse after a minute and are never released early.
admission_spend = sa.Table(
    "admission_spend",
    metadata,
    sa.Column("holder", sa.Text, primary_key=True),
    sa.Column("bucket", sa.Text, primary_key=True),
    sa.Column("spent", sa.BigInteger, nullable=False),
)

admission_holds = sa.Table(
    "admission_holds",
    metadata,
    sa.Column("reservation_id", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, primary_key=True),
    sa.Column("bucket", sa.Text, primary_key=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_admission_holds_holder_bucket_expires_at", "holder", "bucket", "expires_at"),
)

# Usage alerts (docs/governance.md, "Usage alerts"): a threshold crossed by a holder (``key:<id>``,
# ``team:<id>``) for a metric (``budget``, ``image_quota``) in a period (admission's bucket label,
# e.g. ``usd:m2026-12``). The primary key makes the first replica to insert the row the one that
# sends the alert: exactly once per crossing per period, however many replicas notice it.
usage_alerts = sa.Table(
    "usage_alerts",
    metadata,
    sa.Column("holder", sa.Text, primary_key=True),
    sa.Column("metric", sa.Text, primary_key=True),
    sa.Column("period", sa.Text, primary_key=True),
    sa.Column("threshold", sa.Integer, primary_key=True),
    sa.Column("crossed_at", UTCDateTime(), nullable=False),
)

# Image jobs (docs/jobs.md). ``request`` is the parsed request without image bytes (inputs are in
# the image store under ``input_keys``); ``result`` holds object keys and metadata, never base64.
# ``owner``/``lease_until`` say which process runs an ``in_progress`` job and until when it must
# renew; an expired lease means its runner died and the job may be resumed.
image_jobs = sa.Table(
    "image_jobs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True),
    sa.Column("key_name", sa.Text, nullable=True),
    sa.Column("team_id", sa.Integer, nullable=True),
    sa.Column("principal", _json(), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("request", _json(), nullable=False),
    sa.Column("input_keys", _json(), nullable=False),
    sa.Column("metadata", _json(), nullable=True),
    sa.Column("webhook_id", sa.Text, nullable=True),
    sa.Column("idempotency_key", sa.Text, nullable=True),
    sa.Column("fingerprint", sa.Text, nullable=True),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("runs", sa.Integer, nullable=False),
    sa.Column("provider_task", _json(), nullable=True),
    sa.Column("owner", sa.Text, nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("result", _json(), nullable=True),
    sa.Column("error", _json(), nullable=True),
    sa.Column("cost_micros", sa.BigInteger, nullable=True),
    sa.Column("cost_estimated", sa.Boolean, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'in_progress', 'completed', 'failed', 'cancelled')", name="status_known"),
    sa.UniqueConstraint("key_id", "idempotency_key", name="uq_image_jobs_key_id_idempotency_key"),
    sa.Index("ix_image_jobs_key_id_created_at", "key_id", "created_at"),
    sa.Index("ix_image_jobs_status_lease_until", "status", "lease_until"),
    sa.Index("ix_image_jobs_expires_at", "expires_at"),  # the retention sweeper's rounds (0012)
)

# Webhook endpoints (docs/jobs.md, "Webhooks"). No signing secret is stored: it is derived from
# the gateway's webhook signing key and the endpoint's ``secret_salt`` whenever it is needed.
webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=True),
    sa.Column("team_id", sa.Integer, nullable=True),
    sa.Column("events", _json(), nullable=True),
    sa.Column("secret_salt", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
    sa.Index("ix_webhook_endpoints_key_id", "key_id"),
)

# One message per (event, endpoint); delivered at least once. ``next_attempt_at`` doubles as the
# claim: a sender moves it past its own lease before sending, so only one replica sends an attempt.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("endpoint_id", sa.Text, sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
    sa.Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_endpoint_id_created_at", "endpoint_id", "created_at"),
)

# Every delivery attempt, append-only.
webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", BigIntegerPK, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.Text, sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Index("ix_webhook_attempts_delivery_id", "delivery_id"),
)

# Provider batches (docs/batch.md): tracked here until final, so any process can poll them.
batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("route", sa.Text, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("provider_batch_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("provider_state", sa.Text, nullable=False),
    sa.Column("key_id", sa.Integer, nullable=True),
    sa.Column("key_name", sa.Text, nullable=True),
    sa.Column("lines", _json(), nullable=False),
    sa.Column("settled", sa.Boolean, nullable=False),
    sa.Column("succeeded", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    sa.Column("cost_micros", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_batches_state", "state"),
)
