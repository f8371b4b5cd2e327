"""``SqlReportStore``: the accounting ``ReportStore`` port, one ``GROUP BY`` over the ledger.

The ledger (one row per attempt) is left-joined to the current verdicts aggregated per request
(``store.feedback.current_verdicts``, one row per request), so the join never multiplies ledger
rows and every sum stays exact. Verdicts count on the request's successful attempt only, which
carries its delivered images. Plain SQL aggregates, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from imagegate.accounting.reports import DIMENSIONS, ReportDimension, ReportGroup
from imagegate.store.database import Bind, connect
from imagegate.store.feedback import current_verdicts
from imagegate.store.ledger_tables import ledger

_GROUP_COLUMNS = {
    "model": ledger.c.model,
    "route": ledger.c.route,
    "key": ledger.c.key_name,
    "team": ledger.c.team,
}


class SqlReportStore:
    """Spend and acceptance by model, route, key or team."""

    def __init__(self, bind: Bind) -> None:
        self._bind = bind

    def aggregate(
        self,
        by: ReportDimension,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        tag: tuple[str, str] | None = None,
    ) -> tuple[list[ReportGroup], ReportGroup]:
        """Groups ordered by spend (highest first, then name), and the total over them all."""
        if by not in DIMENSIONS:
            raise ValueError(f"cannot group by {by!r}: choose one of {', '.join(DIMENSIONS)}")
        column = _GROUP_COLUMNS[by]
        verdicts = current_verdicts()
        ok = ledger.c.status == "ok"
        measures = [
            sa.func.count(sa.distinct(ledger.c.request_id)).label("requests"),
            sa.func.count().label("attempts"),
            sa.func.sum(sa.case((ok, 0), else_=1)).label("failed_attempts"),
            sa.func.sum(sa.case((ok, ledger.c.images), else_=0)).label("images"),
            sa.func.sum(sa.case((ok, sa.func.coalesce(verdicts.c.accepted, 0)), else_=0)).label("accepted"),
            sa.func.sum(sa.case((ok, sa.func.coalesce(verdicts.c.rejected, 0)), else_=0)).label("rejected"),
            sa.func.sum(ledger.c.cost_micros).label("spend_micros"),
            sa.func.sum(sa.case((ledger.c.cost_estimated, ledger.c.cost_micros), else_=0)).label("estimated_micros"),
            sa.func.sum(sa.case((ledger.c.error_code == MODERATION_CODE, 1), else_=0)).label("moderated_attempts"),
        ]
        source = ledger.outerjoin(verdicts, verdicts.c.request_id == ledger.c.request_id)
        conditions = []
        if since is not None:
            conditions.append(ledger.c.created_at >= since)
        if until is not None:
            conditions.append(ledger.c.created_at < until)
        if tag is not None:
            conditions.append(ledger.c.tags[tag[0]].as_string() == tag[1])
        grouped = (
            sa.select(column.label("grp"), *measures)
            .select_from(source)
            .where(*conditions)
            .group_by(column)
            .order_by(sa.desc("spend_micros"), column)
        )
        total = sa.select(*measures).select_from(source).where(*conditions)
        with connect(self._bind) as conn:
            groups = [_group(row._mapping["grp"], row._mapping) for row in conn.execute(grouped)]
            total_row = conn.execute(total).one()
        return groups, _group(None, total_row._mapping)


# The error code both moderation forms are recorded under (providers map theirs onto it).
MODERATION_CODE = "moderation_blocked"


def _group(name: Any, row: Any) -> ReportGroup:
    # PostgreSQL sums bigints into numeric (Decimal) and sums over no rows into NULL.
    def count(field: str) -> int:
        value = row[field]
        return 0 if value is None else int(value)

    return ReportGroup(
        group=None if name is None else str(name),
        requests=count("requests"),
        attempts=count("attempts"),
        failed_attempts=count("failed_attempts"),
        images=count("images"),
        accepted=count("accepted"),
        rejected=count("rejected"),
        spend_micros=count("spend_micros"),
        estimated_micros=count("estimated_micros"),
        moderated_attempts=count("moderated_attempts"),
    )
