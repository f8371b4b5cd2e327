"""``SqlLedgerStore``: the accounting ``LedgerStore`` port on SQLAlchemy Core.

Append-only by construction: this class has no way to change or remove a row.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from imagegate.accounting.ledger_scan import LedgerFilter
from imagegate.accounting.ports import LedgerEntry
from imagegate.store.database import Bind, begin, connect
from imagegate.store.ledger_tables import ledger

# Every dataclass field is a column of the same name; computed once rather than per row.
_FIELDS = tuple(f.name for f in fields(LedgerEntry))
_COLUMNS = [ledger.c[name] for name in _FIELDS]


class SqlLedgerStore:
    """The usage ledger in the ``ledger`` table.

    ``bind`` is an ``Engine`` (each call commits on its own) or a ``Connection`` (each call is a
    SAVEPOINT in the caller's transaction).
    """

    def __init__(self, bind: Bind) -> None:
        self._bind = bind

    def append_entries(self, entries: Sequence[LedgerEntry]) -> None:
        """Insert the entries in one transaction (one executemany); all land or none do."""
        if not entries:
            return
        with begin(self._bind) as conn:
            insert_entries(conn, entries)

    def query_entries(
        self,
        *,
        since: datetime | None = None,
        key_name: str | None = None,
        model: str | None = None,
        team: str | None = None,
        request_id: str | None = None,
        limit: int = 100,
    ) -> list[LedgerEntry]:
        """Entries matching every given filter, newest first; ``since`` is inclusive."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        stmt = sa.select(*_COLUMNS)
        if since is not None:
            stmt = stmt.where(ledger.c.created_at >= since)
        if key_name is not None:
            stmt = stmt.where(ledger.c.key_name == key_name)
        if model is not None:
            stmt = stmt.where(ledger.c.model == model)
        if team is not None:
            stmt = stmt.where(ledger.c.team == team)
        if request_id is not None:
            stmt = stmt.where(ledger.c.request_id == request_id)
        # id breaks ties between attempts stamped in the same microsecond, so paging is stable.
        stmt = stmt.order_by(ledger.c.created_at.desc(), ledger.c.id.desc()).limit(limit)
        with connect(self._bind) as conn:
            rows = conn.execute(stmt).all()
        return [LedgerEntry(**row._mapping) for row in rows]

    def scan_entries(self, where: LedgerFilter, *, batch_size: int = 1000) -> Generator[LedgerEntry, None, None]:
        """Entries matching ``where``, oldest first, streamed ``batch_size`` rows at a time.

        ``yield_per`` makes PostgreSQL use a server-side cursor and SQLite step its cursor lazily,
        so only one batch is ever in memory. The connection is held until the iterator ends or
        is closed.
        """
        stmt = sa.select(*_COLUMNS)
        if where.since is not None:
            stmt = stmt.where(ledger.c.created_at >= where.since)
        if where.until is not None:
            stmt = stmt.where(ledger.c.created_at < where.until)
        if where.key_name is not None:
            stmt = stmt.where(ledger.c.key_name == where.key_name)
        if where.team is not None:
            stmt = stmt.where(ledger.c.team == where.team)
        stmt = stmt.order_by(ledger.c.created_at, ledger.c.id)
        with connect(self._bind) as conn:
            result = conn.execution_options(yield_per=batch_size).execute(stmt)
            try:
                for row in result:
                    yield LedgerEntry(**row._mapping)
            finally:
                result.close()


def insert_entries(conn: Connection, entries: Sequence[LedgerEntry]) -> None:
    """Insert the entries (one executemany) in ``conn``'s own transaction, with no SAVEPOINT round
    trips: for the stores whose transaction holds them with other statements (the ledger writer's
    every batch comes through here); an error rolls the whole transaction back."""
    if entries:
        conn.execute(sa.insert(ledger), [_row(entry) for entry in entries])


def _row(entry: LedgerEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _FIELDS}
