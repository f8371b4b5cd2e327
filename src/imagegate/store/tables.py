"""The schema as SQLAlchemy Core tables; ``migrations/versions`` must build exactly this.

A test compares these definitions with the migrated database on both backends, so a column added
here without a migration (or the reverse) fails the suite.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

# Deterministic constraint names, so later migrations (and SQLite batch mode, which recreates
# tables) can refer to constraints by name on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware datetime, stored as UTC and always returned as aware UTC.

    PostgreSQL stores ``timestamptz`` and psycopg returns it in the session time zone; SQLite has
    no zone at all. Normalising both to UTC means equal instants compare and sort equal
    everywhere. Naive datetimes are rejected: guessing their zone silently corrupts the ledger.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite stores text; a fixed-format UTC string sorts and compares chronologically.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json() -> sa.types.TypeEngine[Any]:
    # JSONB on PostgreSQL (indexable, compact); ``none_as_null`` so Python None is SQL NULL,
    # which is how "no model restriction" is stored.
    jsonb = postgresql.JSONB(none_as_null=True)
    return sa.JSON(none_as_null=True).with_variant(jsonb, "postgresql")


# SQLite only auto-assigns ids to a column declared exactly INTEGER PRIMARY KEY.
BigIntegerPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("models", _json(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("name"),
    sa.CheckConstraint("length(key_hash) = 64", name="key_hash_length"),
    sa.Index("ix_api_keys_key_hash", "key_hash", unique=True),
)

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
    sa.Column("usage", _json(), nullable=False),
    sa.Column("cost_micros", sa.BigInteger, nullable=False),
    sa.Column("cost_estimated", sa.Boolean, nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("provider_request_id", sa.Text, nullable=True),
    sa.Column("stream", sa.Boolean, nullable=False),
    sa.Column("client_disconnected", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_ledger_request_id", "request_id"),
    sa.Index("ix_ledger_created_at", "created_at"),
    sa.Index("ix_ledger_key_name_created_at", "key_name", "created_at"),
    sa.Index("ix_ledger_model_created_at", "model", "created_at"),
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
    sa.Column("entry", _json(), nullable=False),
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
    sa.Column("before", _json(), nullable=False),
    sa.Column("after", _json(), nullable=False),
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
    sa.Column("usage", _json(), nullable=True),
    sa.Column("cost_micros", sa.BigInteger, nullable=True),
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
    sa.Column("lines", _json(), nullable=False),
    sa.Column("settled", sa.Boolean, nullable=False),
    sa.Column("succeeded", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    sa.Column("cost_micros", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_batches_state", "state"),
)
