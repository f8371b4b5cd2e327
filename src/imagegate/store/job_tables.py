"""Job tables (docs/jobs.md): image jobs, and the webhook endpoints, deliveries and delivery attempts
that tell clients about them.
"""

from __future__ import annotations

import sqlalchemy as sa

from imagegate.store.schema_base import BigIntegerPK, UTCDateTime, json_column, metadata

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
    sa.Column("principal", json_column(), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("request", json_column(), nullable=False),
    sa.Column("input_keys", json_column(), nullable=False),
    sa.Column("metadata", json_column(), nullable=True),
    sa.Column("webhook_id", sa.Text, nullable=True),
    sa.Column("idempotency_key", sa.Text, nullable=True),
    sa.Column("fingerprint", sa.Text, nullable=True),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("runs", sa.Integer, nullable=False),
    sa.Column("provider_task", json_column(), nullable=True),
    sa.Column("owner", sa.Text, nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("result", json_column(), nullable=True),
    sa.Column("error", json_column(), nullable=True),
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
    sa.Column("events", json_column(), nullable=True),
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
