"""Usage alerts: one row per threshold crossed, per holder, metric and period.

Revision ID: 0008
Revises: 0005 (the governance schema; the integrator re-chains revisions at merge)
Create Date: 2026-12-06

Frozen snapshot like 0001: types are spelled out rather than imported from the store's table modules.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``usage_alerts``."""
    op.create_table(
        "usage_alerts",
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("crossed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("holder", "metric", "period", "threshold", name="pk_usage_alerts"),
    )


def downgrade() -> None:
    """Drop ``usage_alerts`` (alerts already sent may be sent again)."""
    op.drop_table("usage_alerts")
