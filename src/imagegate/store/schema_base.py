"""What every table module builds on: the one ``MetaData`` and the column types both backends share.

Every table registers on ``metadata`` (whose naming convention gives constraints the same names on
SQLite and PostgreSQL); ``store.schema`` imports every table module, so its ``metadata`` is the whole
schema. The column types behave alike on both backends: aware UTC datetimes, JSON (JSONB on
PostgreSQL) and auto-assigned big-integer ids.
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


def json_column() -> sa.types.TypeEngine[Any]:
    # JSONB on PostgreSQL (indexable, compact); ``none_as_null`` so Python None is SQL NULL,
    # which is how "no model restriction" is stored.
    jsonb = postgresql.JSONB(none_as_null=True)
    return sa.JSON(none_as_null=True).with_variant(jsonb, "postgresql")


# SQLite only auto-assigns ids to a column declared exactly INTEGER PRIMARY KEY.
BigIntegerPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
