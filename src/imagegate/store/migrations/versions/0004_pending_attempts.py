"""Pending attempts: crash-safe attempt recording.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Frozen snapshot like 0001: types are spelled out rather than imported from the store's table modules.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``pending_attempts``."""
    op.create_table(
        "pending_attempts",
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("resolve_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "entry",
            sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("request_id", "attempt", name="pk_pending_attempts"),
    )
    op.create_index("ix_pending_attempts_resolve_after", "pending_attempts", ["resolve_after"])


def downgrade() -> None:
    """Drop ``pending_attempts`` (attempts still pending are lost: resolve them first)."""
    op.drop_table("pending_attempts")
