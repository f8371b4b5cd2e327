"""Routing tables (docs/routing.md): live overrides of routes and alias policies, the append-only
log of those changes (its highest id is the version replicas compare) and each route's latest
smoke-test verdict.
"""

from __future__ import annotations

import sqlalchemy as sa

from imagegate.store.schema_base import BigIntegerPK, UTCDateTime, json_column, metadata

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
    sa.Column("before", json_column(), nullable=False),
    sa.Column("after", json_column(), nullable=False),
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
    sa.Column("usage", json_column(), nullable=True),
    sa.Column("cost_micros", sa.BigInteger, nullable=True),
)
