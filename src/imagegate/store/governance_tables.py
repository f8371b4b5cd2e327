"""Governance tables (docs/governance.md): teams and API keys, admission's settled spend and live
holds, and the usage alerts already sent.

``api_keys`` is what the ledger, feedback, compare, job and webhook tables refer to by foreign key.
"""

from __future__ import annotations

import sqlalchemy as sa

from imagegate.store.schema_base import UTCDateTime, json_column, metadata

# Governance (docs/governance.md): a team owns keys; both carry optional limits (domain.limits
# ``Limits.to_dict()``) and usage-alert thresholds (percent of budget, e.g. [50, 80, 100]).
teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("limits", json_column(), nullable=False),
    sa.Column("alert_thresholds", json_column(), nullable=True),
    sa.UniqueConstraint("name"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("models", json_column(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    # RESTRICT: a team with keys cannot be deleted (its keys' limits and reports depend on it).
    sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=True),
    sa.Column("role", sa.Text, nullable=False, server_default="client"),
    sa.Column("limits", json_column(), nullable=True),
    sa.Column("tags", json_column(), nullable=True),
    # NULL: every dialect (openai, gemini, imagen) may be used with this key.
    sa.Column("allowed_dialects", json_column(), nullable=True),
    sa.Column("alert_thresholds", json_column(), nullable=True),
    # Rotation grace: the replaced secret's hash stays valid until ``previous_valid_until``.
    sa.Column("previous_key_hash", sa.String(64), nullable=True),
    sa.Column("previous_valid_until", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("name"),
    sa.CheckConstraint("length(key_hash) = 64", name="key_hash_length"),
    sa.CheckConstraint("role IN ('client', 'admin-read', 'admin')", name="role_known"),
    sa.Index("ix_api_keys_key_hash", "key_hash", unique=True),
    sa.Index("ix_api_keys_previous_key_hash", "previous_key_hash"),
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
