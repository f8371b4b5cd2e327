"""``SqlLedgerInsights``: the accounting ``LedgerInsights`` port, plain SQL on SQLite and PostgreSQL.

Percentiles are nearest-rank, found with ``ORDER BY ... LIMIT 1 OFFSET k`` (SQLite has no
``percentile_cont``), so both backends give the same number. Time buckets are formatted in SQL
per backend (``strftime`` on SQLite, which stores UTC text; ``to_char`` of the UTC time on
PostgreSQL), so grouping happens in the database, not over every row in Python.
"""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from imagegate.accounting.insights import Bucket, ErrorCount, LedgerSearch, Outcomes, SeriesPoint
from imagegate.accounting.ports import LedgerEntry
from imagegate.store.database import Bind, connect
from imagegate.store.ledger_tables import ledger

_ENTRY_COLUMNS = [ledger.c[f.name] for f in fields(LedgerEntry)]
_SQLITE_FORMATS = {"hour": "%Y-%m-%dT%H:00", "day": "%Y-%m-%d"}
_POSTGRES_FORMATS = {"hour": 'YYYY-MM-DD"T"HH24:00', "day": "YYYY-MM-DD"}


def _window(since: datetime | None, until: datetime | None) -> list[sa.ColumnElement[bool]]:
    conditions = []
    if since is not None:
        conditions.append(ledger.c.created_at >= since)
    if until is not None:
        conditions.append(ledger.c.created_at < until)
    return conditions


def _bucket(conn: Connection, bucket: Bucket) -> sa.ColumnElement[str]:
    if conn.dialect.name == "postgresql":
        utc = sa.func.timezone("UTC", ledger.c.created_at)
        return sa.func.to_char(utc, _POSTGRES_FORMATS[bucket])
    return sa.func.strftime(_SQLITE_FORMATS[bucket], ledger.c.created_at)


def _int(value: Any) -> int:
    # PostgreSQL sums bigints into numeric (Decimal) and sums over no rows into NULL.
    return 0 if value is None else int(value)


class SqlLedgerInsights:
    """Dashboard figures from the ``ledger`` table."""

    def __init__(self, bind: Bind) -> None:
        self._bind = bind

    def outcomes(self, since: datetime | None, until: datetime | None) -> Outcomes:
        """Distinct requests in the window, and those with an ``ok`` attempt."""
        # One row per request first (the request-id index serves the grouping): several times
        # faster on SQLite than two COUNT(DISTINCT ...) over the window.
        has_ok = sa.func.max(sa.case((ledger.c.status == "ok", 1), else_=0)).label("has_ok")
        per_request = (
            sa.select(ledger.c.request_id, has_ok)
            .where(*_window(since, until))
            .group_by(ledger.c.request_id)
            .subquery()
        )
        with connect(self._bind) as conn:
            requests, succeeded = conn.execute(sa.select(sa.func.count(), sa.func.sum(per_request.c.has_ok))).one()
        return Outcomes(requests=_int(requests), succeeded=_int(succeeded))

    def latency_percentiles(
        self, since: datetime | None, until: datetime | None, quantiles: tuple[float, ...]
    ) -> list[int | None]:
        """Nearest-rank percentiles of successful attempts' latency (ms), one per quantile.

        One sort serves every quantile: the successful attempts are numbered by latency (a window
        function) and only the rows at the wanted ranks come back.
        """
        ranked = (
            sa.select(
                ledger.c.latency_ms,
                sa.func.row_number().over(order_by=ledger.c.latency_ms).label("rank"),
                sa.func.count().over().label("n"),
            )
            .where(ledger.c.status == "ok", *_window(since, until))
            .subquery()
        )
        # rank = ceil(q * n), at least 1: the smallest rank with rank >= q * n.
        wanted = [
            sa.and_(ranked.c.rank >= quantile * ranked.c.n, ranked.c.rank - 1 < quantile * ranked.c.n)
            if quantile > 0
            else ranked.c.rank == 1
            for quantile in quantiles
        ]
        stmt = sa.select(ranked.c.rank, ranked.c.n, ranked.c.latency_ms).where(sa.or_(*wanted))
        with connect(self._bind) as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return [None for _ in quantiles]
        count = _int(rows[0][1])
        by_rank = {_int(row[0]): _int(row[2]) for row in rows}
        return [by_rank.get(max(1, math.ceil(quantile * count))) for quantile in quantiles]

    def series(self, since: datetime, until: datetime | None, bucket: Bucket) -> list[SeriesPoint]:
        """Spend, images and attempts per bucket, model, route and team, oldest bucket first."""
        with connect(self._bind) as conn:
            slot = _bucket(conn, bucket).label("slot")
            ok_images = sa.case((ledger.c.status == "ok", ledger.c.images), else_=0)
            stmt = (
                sa.select(
                    slot,
                    ledger.c.model,
                    ledger.c.route,
                    sa.func.sum(ledger.c.cost_micros),
                    sa.func.sum(ok_images),
                    sa.func.count(),
                    ledger.c.team,
                )
                .where(*_window(since, until))
                .group_by(slot, ledger.c.model, ledger.c.route, ledger.c.team)
                .order_by(slot, ledger.c.model, ledger.c.route, ledger.c.team)
            )
            rows = conn.execute(stmt).all()
        return [
            SeriesPoint(
                bucket=str(row[0]),
                model=str(row[1]),
                route=str(row[2]),
                spend_micros=_int(row[3]),
                images=_int(row[4]),
                attempts=_int(row[5]),
                team=None if row[6] is None else str(row[6]),
            )
            for row in rows
        ]

    def top_errors(self, since: datetime | None, until: datetime | None, limit: int) -> list[ErrorCount]:
        """The most frequent error codes of failed attempts, most frequent first."""
        # A row without an error code (an ``unknown`` outcome) is counted under its status.
        code = sa.func.coalesce(ledger.c.error_code, ledger.c.status)
        stmt = (
            sa.select(
                code.label("code"), sa.func.count().label("n"), sa.func.max(ledger.c.created_at)
            )  # keeps UTCDateTime
            .where(ledger.c.status != "ok", *_window(since, until))
            .group_by(code)
            .order_by(sa.desc("n"), code)
            .limit(limit)
        )
        with connect(self._bind) as conn:
            rows = conn.execute(stmt).all()
        return [ErrorCount(error_code=str(row[0]), count=_int(row[1]), last_seen=row[2]) for row in rows]

    def search(self, query: LedgerSearch, limit: int) -> list[LedgerEntry]:
        """Attempts matching every filter, newest first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        conditions = _window(query.since, query.until)
        exact = {
            ledger.c.request_id: query.request_id,
            ledger.c.key_name: query.key_name,
            ledger.c.team: query.team,
            ledger.c.model: query.model,
            ledger.c.route: query.route,
            ledger.c.status: query.status,
            ledger.c.error_code: query.error_code,
        }
        conditions.extend(column == value for column, value in exact.items() if value is not None)
        stmt = (
            sa.select(*_ENTRY_COLUMNS)
            .where(*conditions)
            .order_by(ledger.c.created_at.desc(), ledger.c.id.desc())
            .limit(limit)
        )
        with connect(self._bind) as conn:
            rows = conn.execute(stmt).all()
        return [LedgerEntry(**row._mapping) for row in rows]
