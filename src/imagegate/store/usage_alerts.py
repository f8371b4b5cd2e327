"""``SqlAlertMarks``: the usage-alert ``AlertMarks`` port: claim a crossing once, on any replica."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite

from imagegate.store.database import Bind, begin
from imagegate.store.governance_tables import usage_alerts


class SqlAlertMarks:
    """Crossings in the ``usage_alerts`` table; ``bind`` as for the other stores."""

    def __init__(self, bind: Bind) -> None:
        self._bind = bind

    def claim(self, holder: str, metric: str, period: str, threshold: int, at: datetime) -> bool:
        """Record the crossing; True only for the one caller whose row went in (first on any replica)."""
        values = {"holder": holder, "metric": metric, "period": period, "threshold": threshold, "crossed_at": at}
        with begin(self._bind) as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            # RETURNING rather than rowcount: psycopg reports no rowcount for a skipped conflict.
            stmt = insert(usage_alerts).values(**values).on_conflict_do_nothing().returning(usage_alerts.c.threshold)
            return conn.execute(stmt).first() is not None
