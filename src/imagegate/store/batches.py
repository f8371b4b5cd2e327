"""``SqlBatchStore``: the accounting ``BatchStore`` port on SQLAlchemy Core (the ``batches`` table)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from imagegate.accounting.batches import BatchLineRecord, BatchRecord
from imagegate.store.bulk_tables import batches
from imagegate.store.database import Bind, begin


class SqlBatchStore:
    """Batch records; settlement is claimed with a conditional update, so exactly one poller settles."""

    def __init__(self, bind: Bind) -> None:
        self._bind = bind

    def create_batch(self, record: BatchRecord) -> None:
        """Insert a new record."""
        row: dict[str, Any] = asdict(record)
        row["lines"] = [asdict(line) for line in record.lines]
        with begin(self._bind) as conn:
            conn.execute(sa.insert(batches), row)

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        """The record, or None."""
        with begin(self._bind) as conn:
            row = conn.execute(sa.select(batches).where(batches.c.id == batch_id)).mappings().first()
        if row is None:
            return None
        values = dict(row)
        values["lines"] = [BatchLineRecord(**line) for line in values["lines"]]
        return BatchRecord(**values)

    def unsettled_batches(self) -> list[str]:
        """Ids of the batches not settled yet, oldest first."""
        query = sa.select(batches.c.id).where(batches.c.settled.is_(False)).order_by(batches.c.created_at)
        with begin(self._bind) as conn:
            return [str(batch_id) for batch_id in conn.execute(query).scalars()]

    def update_state(self, batch_id: str, state: str, provider_state: str, now: datetime) -> None:
        """Store the provider's latest word on the batch."""
        with begin(self._bind) as conn:
            conn.execute(
                sa.update(batches)
                .where(batches.c.id == batch_id)
                .values(state=state, provider_state=provider_state, updated_at=now)
            )

    def claim_settlement(self, batch_id: str, *, succeeded: int, failed: int, cost_micros: int) -> bool:
        """Mark the batch settled with its totals; False when another poller already did."""
        with begin(self._bind) as conn:
            result = conn.execute(
                sa.update(batches)
                .where(batches.c.id == batch_id, batches.c.settled.is_(False))
                .values(settled=True, succeeded=succeeded, failed=failed, cost_micros=cost_micros)
            )
        return result.rowcount == 1
