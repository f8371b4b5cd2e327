"""Compare runs and their cells.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

Frozen snapshot like 0001: types are spelled out rather than imported from the store's table modules.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    """Create ``compare_runs`` and ``compare_cells``."""
    op.create_table(
        "compare_runs",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("key_name", sa.Text(), nullable=False),
        sa.Column("prompts", _json(), nullable=False),
        sa.Column("models", _json(), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name="fk_compare_runs_key_id_api_keys", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name="pk_compare_runs"),
    )
    op.create_index("ix_compare_runs_key_id_created_at", "compare_runs", ["key_id", "created_at"])
    op.create_table(
        "compare_cells",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("cell_id", sa.Text(), nullable=False),
        sa.Column("prompt_index", sa.Integer(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("repetition", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("images_requested", sa.Integer(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("image_urls", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["compare_runs.run_id"], name="fk_compare_cells_run_id_compare_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "cell_id", name="pk_compare_cells"),
    )
    op.create_index("ix_compare_cells_request_id", "compare_cells", ["request_id"])


def downgrade() -> None:
    """Drop the compare tables."""
    op.drop_table("compare_cells")
    op.drop_table("compare_runs")
