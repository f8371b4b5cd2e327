"""Attempt tables: the append-only ledger (one row per attempt that reached a provider), the
attempts still in flight (crash-safe attempt recording) and the acceptance verdicts on their images.
"""

from __future__ import annotations

import sqlalchemy as sa

from imagegate.store.schema_base import BigIntegerPK, UTCDateTime, json_column, metadata

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
    sa.Column("usage", json_column(), nullable=False),
    sa.Column("cost_micros", sa.BigInteger, nullable=False),
    sa.Column("cost_estimated", sa.Boolean, nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("provider_request_id", sa.Text, nullable=True),
    sa.Column("stream", sa.Boolean, nullable=False),
    sa.Column("client_disconnected", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("team", sa.Text, nullable=True),
    sa.Column("tags", json_column(), nullable=True),
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
    sa.Column("entry", json_column(), nullable=False),
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
