"""Image jobs: an index on ``expires_at`` for the retention sweeper's bounded rounds.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index ``image_jobs.expires_at``."""
    op.create_index("ix_image_jobs_expires_at", "image_jobs", ["expires_at"])


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_image_jobs_expires_at", table_name="image_jobs")
