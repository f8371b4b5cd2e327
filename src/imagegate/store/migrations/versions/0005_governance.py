"""Governance: teams, key roles/limits/tags/rotation, ledger team and tags, admission state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Frozen snapshot like 0001: types are spelled out rather than imported from the store's table modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    jsonb = postgresql.JSONB(none_as_null=True)
    return sa.JSON(none_as_null=True).with_variant(jsonb, "postgresql")


def _when() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``teams``, ``admission_spend``, ``admission_holds``; extend ``api_keys`` and ``ledger``."""
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("limits", _json(), nullable=False),
        sa.Column("alert_thresholds", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        sa.UniqueConstraint("name", name="uq_teams_name"),
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("role", sa.Text(), nullable=False, server_default="client"))
        batch.add_column(sa.Column("limits", _json(), nullable=True))
        batch.add_column(sa.Column("tags", _json(), nullable=True))
        batch.add_column(sa.Column("allowed_dialects", _json(), nullable=True))
        batch.add_column(sa.Column("alert_thresholds", _json(), nullable=True))
        batch.add_column(sa.Column("previous_key_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("previous_valid_until", _when(), nullable=True))
        batch.create_foreign_key(
            "fk_api_keys_team_id_teams", "teams", ["team_id"], ["id"], ondelete="RESTRICT"
        )
        batch.create_check_constraint("ck_api_keys_role_known", "role IN ('client', 'admin-read', 'admin')")
        batch.create_index("ix_api_keys_previous_key_hash", ["previous_key_hash"])
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("team", sa.Text(), nullable=True))
        batch.add_column(sa.Column("tags", _json(), nullable=True))
        batch.create_index("ix_ledger_team_created_at", ["team", "created_at"])
    op.create_table(
        "admission_spend",
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("holder", "bucket", name="pk_admission_spend"),
    )
    op.create_table(
        "admission_holds",
        sa.Column("reservation_id", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("reservation_id", "holder", "bucket", name="pk_admission_holds"),
    )
    op.create_index(
        "ix_admission_holds_holder_bucket_expires_at", "admission_holds", ["holder", "bucket", "expires_at"]
    )


def downgrade() -> None:
    """Drop the governance tables and columns (limits, teams and admission state are lost)."""
    op.drop_table("admission_holds")
    op.drop_table("admission_spend")
    with op.batch_alter_table("ledger") as batch:
        batch.drop_index("ix_ledger_team_created_at")
        batch.drop_column("tags")
        batch.drop_column("team")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_previous_key_hash")
        batch.drop_constraint("ck_api_keys_role_known", type_="check")
        batch.drop_constraint("fk_api_keys_team_id_teams", type_="foreignkey")
        for column in (
            "previous_valid_until",
            "previous_key_hash",
            "alert_thresholds",
            "allowed_dialects",
            "tags",
            "limits",
            "role",
            "team_id",
        ):
            batch.drop_column(column)
    op.drop_table("teams")
