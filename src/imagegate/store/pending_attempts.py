"""``SqlPendingAttempts``: the accounting ``PendingAttemptStore`` port on SQLAlchemy Core.

A pending row is written before a provider call and deleted in the same transaction that appends
the attempt's ledger row, so the ledger itself stays append-only. The sweeper claims due rows
with ``DELETE ... RETURNING`` (one replica gets each row, on SQLite and PostgreSQL alike) and
appends them as ``unknown`` attempts in that transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from imagegate.accounting.ports import LedgerEntry, PendingAttempt
from imagegate.store.database import Bind, begin
from imagegate.store.ledger import insert_entries
from imagegate.store.ledger_tables import ledger, pending_attempts

_FIELDS = tuple(f.name for f in fields(LedgerEntry))
_KEY = sa.and_(
    pending_attempts.c.request_id == sa.bindparam("b_request_id"),
    pending_attempts.c.attempt == sa.bindparam("b_attempt"),
)


class SqlPendingAttempts:
    """Pending attempts in the ``pending_attempts`` table (see the module docstring)."""

    def __init__(self, bind: Bind) -> None:
        self._bind = bind

    def begin_attempts(self, pending: Sequence[PendingAttempt]) -> None:
        """Record attempts as started, in one transaction."""
        if not pending:
            return
        with begin(self._bind) as conn:
            conn.execute(sa.insert(pending_attempts), _rows(pending))

    def complete_attempts(self, entries: Sequence[LedgerEntry], begun: Sequence[tuple[str, int]]) -> None:
        """Append ``entries`` to the ledger and drop the ``begun`` pending rows, in one transaction."""
        with begin(self._bind) as conn:
            insert_entries(conn, entries)
            if begun:
                conn.execute(sa.delete(pending_attempts).where(_KEY), _keys(begun))

    def renew_attempts(self, keys: Sequence[tuple[str, int]], resolve_after: datetime) -> None:
        """Push back the resolution of attempts still running in this process."""
        if not keys:
            return
        stmt = sa.update(pending_attempts).where(_KEY).values(resolve_after=resolve_after)
        with begin(self._bind) as conn:
            conn.execute(stmt, _keys(keys))

    def resolve_stale_attempts(self, now: datetime) -> list[LedgerEntry]:
        """Move every pending row due by ``now`` into the ledger (as written at begin: ``unknown``)."""
        stmt = sa.delete(pending_attempts).where(pending_attempts.c.resolve_after <= now)
        with begin(self._bind) as conn:
            entries = [decode_entry(row.entry) for row in conn.execute(stmt.returning(pending_attempts.c.entry))]
            insert_entries(conn, entries)
        return entries

    def adopt_attempts(self, pending: Sequence[PendingAttempt]) -> int:
        """Store recovered attempts not already in the ledger or pending, in one transaction."""
        if not pending:
            return 0
        request_ids = sorted({item.entry.request_id for item in pending})
        with begin(self._bind) as conn:
            known: set[tuple[str, int]] = set()
            for table in (ledger, pending_attempts):
                for start in range(0, len(request_ids), 500):
                    chunk = request_ids[start : start + 500]
                    rows = conn.execute(
                        sa.select(table.c.request_id, table.c.attempt).where(table.c.request_id.in_(chunk))
                    )
                    known.update((row.request_id, row.attempt) for row in rows)
            fresh = {item.key: item for item in pending if item.key not in known}
            if fresh:
                conn.execute(sa.insert(pending_attempts), _rows(list(fresh.values())))
        return len(fresh)

    def settle_attempts(self, entries: Sequence[LedgerEntry]) -> list[LedgerEntry]:
        """Append each entry whose attempt has no ledger row yet, dropping its pending row, in one transaction.

        The pending row is deleted first: a sweeper racing for it either got it (and its ledger
        row is then visible here) or waits and finds nothing to write.
        """
        if not entries:
            return []
        with begin(self._bind) as conn:
            conn.execute(sa.delete(pending_attempts).where(_KEY), _keys([(e.request_id, e.attempt) for e in entries]))
            request_ids = sorted({entry.request_id for entry in entries})
            rows = conn.execute(
                sa.select(ledger.c.request_id, ledger.c.attempt).where(ledger.c.request_id.in_(request_ids))
            )
            known = {(row.request_id, row.attempt) for row in rows}
            fresh = [entry for entry in entries if (entry.request_id, entry.attempt) not in known]
            insert_entries(conn, fresh)
        return fresh

    def pending(self) -> list[PendingAttempt]:
        """Every pending attempt (operators and tests), oldest resolution first."""
        stmt = sa.select(pending_attempts.c.entry, pending_attempts.c.resolve_after).order_by(
            pending_attempts.c.resolve_after
        )
        with begin(self._bind) as conn:
            return [PendingAttempt(decode_entry(row.entry), row.resolve_after) for row in conn.execute(stmt)]


def _rows(pending: Sequence[PendingAttempt]) -> list[dict[str, Any]]:
    return [
        {
            "request_id": item.entry.request_id,
            "attempt": item.entry.attempt,
            "resolve_after": item.resolve_after,
            "entry": encode_entry(item.entry),
        }
        for item in pending
    ]


def _keys(keys: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"b_request_id": request_id, "b_attempt": attempt} for request_id, attempt in keys]


def encode_entry(entry: LedgerEntry) -> dict[str, Any]:
    """A ledger row as JSON-ready values (a pending record's ``entry``, a spool line)."""
    row = {name: getattr(entry, name) for name in _FIELDS}
    row["created_at"] = entry.created_at.isoformat()
    return row


def decode_entry(row: dict[str, Any]) -> LedgerEntry:
    """The ledger row ``encode_entry`` wrote (fields added since are left at their defaults)."""
    known = {name: row[name] for name in _FIELDS if name in row}
    known["created_at"] = datetime.fromisoformat(row["created_at"])
    return LedgerEntry(**known)
