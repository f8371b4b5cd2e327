"""Acceptance feedback on delivered images.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Frozen snapshot like 0001: types are spelled out rather than imported from the store's table modules.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``image_feedback``."""
    op.create_table(
        "image_feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("image_index", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("key_name", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_image_feedback"),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], ondelete="SET NULL",
                                name="fk_image_feedback_key_id_api_keys"),
        sa.CheckConstraint("image_index >= 0", name="ck_image_feedback_image_index_not_negative"),
    )
    op.create_index("ix_image_feedback_request_id_image_index", "image_feedback",
                    ["request_id", "image_index"])


def downgrade() -> None:
    """Drop ``image_feedback`` (and every verdict in it)."""
    op.drop_table("image_feedback")
