"""Live routing control: route and alias overrides, their change log, and route checks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Frozen snapshot like 0001: types are spelled out rather than imported from the store's table modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    jsonb = postgresql.JSONB(none_as_null=True)
    return sa.JSON(none_as_null=True).with_variant(jsonb, "postgresql")


def _when() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``route_controls``, ``alias_policies``, ``routing_changes`` and ``route_status``."""
    op.create_table(
        "route_controls",
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("route", name="pk_route_controls"),
        sa.CheckConstraint("weight >= 0", name="ck_route_controls_weight_not_negative"),
    )
    op.create_table(
        "alias_policies",
        sa.Column("alias", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("alias", name="pk_alias_policies"),
    )
    op.create_table(
        "routing_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("alias", sa.Text(), nullable=False),
        sa.Column("route", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("before", _json(), nullable=False),
        sa.Column("after", _json(), nullable=False),
        sa.Column("reverts", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_routing_changes"),
        sa.CheckConstraint("action IN ('disable', 'enable', 'reweight', 'policy', 'rollback')",
                           name="ck_routing_changes_action_known"),
    )
    op.create_index("ix_routing_changes_alias_id", "routing_changes", ["alias", "id"])
    op.create_table(
        "route_status",
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("last_checked_at", _when(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("provider_request_id", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("usage", _json(), nullable=True),
        sa.Column("cost_micros", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("route", name="pk_route_status"),
    )


def downgrade() -> None:
    """Drop the routing tables (overrides, their log and route checks)."""
    op.drop_table("route_status")
    op.drop_index("ix_routing_changes_alias_id", table_name="routing_changes")
    op.drop_table("routing_changes")
    op.drop_table("alias_policies")
    op.drop_table("route_controls")
