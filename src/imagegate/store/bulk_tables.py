"""Bulk-run tables: provider batches (docs/batch.md) and compare runs with their cells (docs/compare.md),
many requests grouped and tracked until every part is final.
"""

from __future__ import annotations

import sqlalchemy as sa

from imagegate.store.schema_base import UTCDateTime, json_column, metadata

# Compare runs (docs/compare.md): what ``imagegate compare run`` registered and each finished
# cell. Money is not here: a run's spend is the ledger's rows of its cells' request ids.
compare_runs = sa.Table(
    "compare_runs",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key_name", sa.Text, nullable=False),
    sa.Column("prompts", json_column(), nullable=False),
    sa.Column("models", json_column(), nullable=False),
    sa.Column("cells", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_compare_runs_key_id_created_at", "key_id", "created_at"),
)

compare_cells = sa.Table(
    "compare_cells",
    metadata,
    sa.Column("run_id", sa.Text, sa.ForeignKey("compare_runs.run_id", ondelete="CASCADE"), nullable=False),
    sa.Column("cell_id", sa.Text, nullable=False),
    sa.Column("prompt_index", sa.Integer, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("repetition", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("images_requested", sa.Integer, nullable=False),
    sa.Column("images", sa.Integer, nullable=False),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=True),
    sa.Column("error_code", sa.Text, nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("image_urls", json_column(), nullable=False),
    sa.PrimaryKeyConstraint("run_id", "cell_id", name="pk_compare_cells"),
    sa.Index("ix_compare_cells_request_id", "request_id"),
)

# Provider batches (docs/batch.md): tracked here until final, so any process can poll them.
batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("route", sa.Text, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("provider_batch_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("provider_state", sa.Text, nullable=False),
    sa.Column("key_id", sa.Integer, nullable=True),
    sa.Column("key_name", sa.Text, nullable=True),
    sa.Column("lines", json_column(), nullable=False),
    sa.Column("settled", sa.Boolean, nullable=False),
    sa.Column("succeeded", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    sa.Column("cost_micros", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_batches_state", "state"),
)
