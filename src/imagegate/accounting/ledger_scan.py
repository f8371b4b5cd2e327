"""Reading the whole ledger in order, in constant memory: the port ``usage export`` streams from.

A report aggregates in SQL; an export hands every row to the caller. With a million rows the
store must never materialise them: ``scan_entries`` yields rows as the database cursor delivers
them (a server-side cursor on PostgreSQL), so memory stays flat however long the range.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from imagegate.accounting.ports import LedgerEntry


@dataclass(frozen=True, slots=True)
class LedgerFilter:
    """Which rows: ``since <= created_at < until``, one team (by name), one key (by name)."""

    since: datetime | None = None
    until: datetime | None = None
    team: str | None = None
    key_name: str | None = None


class LedgerScan(Protocol):
    """Ledger rows in the order they were written, oldest first, streamed."""

    def scan_entries(self, where: LedgerFilter, *, batch_size: int = 1000) -> Generator[LedgerEntry, None, None]:
        """Every entry matching ``where``, oldest first, fetched ``batch_size`` rows at a time.

        The iterator holds a database connection until exhausted or closed: close it when
        stopping early.
        """
        ...
