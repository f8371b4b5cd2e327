"""``SqlAdmissionStore``: admission state in the database, for a deployment without Redis.

Holds and spent counters live in ``admission_holds`` and ``admission_spend``; every ``hold`` and
``settle`` is one transaction, so the state survives a restart and several processes on the same
database share it correctly:

- SQLite: the transaction opens with ``BEGIN IMMEDIATE`` (the file's write lock), so admissions
  from every process on the file run one after another. A second gateway on the same file is
  therefore safe (and slower under load: it queues on the lock, up to the busy timeout).
- PostgreSQL: each bucket's ``admission_spend`` row is locked (``SELECT ... FOR UPDATE``, in
  sorted order so two admissions cannot deadlock) before its holds are summed.

Calls run on a worker thread (``anyio.to_thread``) so the event loop never waits on the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from imagegate.accounting.admission import Hold, Refusal, Seed, Spend
from imagegate.store.database import SQLITE_BEGIN_IMMEDIATE
from imagegate.store.governance_tables import admission_holds, admission_spend
from imagegate.store.ledger_tables import ledger, pending_attempts


class SqlAdmissionStore:
    """The ``AdmissionStore`` port on SQLAlchemy Core (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})
        self._postgres = engine.dialect.name == "postgresql"

    async def hold(self, reservation_id: str, holds: Sequence[Hold], now: datetime) -> Refusal | None:
        """Add every hold if each fits, in one transaction; else the first refusal."""
        return await anyio.to_thread.run_sync(self.hold_now, reservation_id, holds, now)

    async def settle(self, reservation_id: str, release: Sequence[tuple[str, str]], spends: Sequence[Spend]) -> None:
        """Drop the reservation's holds in ``release`` and add ``spends``, in one transaction."""
        await anyio.to_thread.run_sync(self.settle_now, reservation_id, release, spends)

    async def usage(self, holder: str, bucket: str, now: datetime) -> tuple[int, int]:
        """``(spent, held)`` of one bucket now."""
        return await anyio.to_thread.run_sync(self.usage_now, holder, bucket, now)

    # -- the synchronous work --------------------------------------------------------------------

    def hold_now(self, reservation_id: str, holds: Sequence[Hold], now: datetime) -> Refusal | None:
        """``hold`` on the calling thread."""
        with self._writer.begin() as conn:
            spent = self._lock_buckets(conn, holds)
            for hold in holds:
                held = self._held(conn, hold.holder, hold.bucket, now)
                used = spent[hold.holder, hold.bucket] + held
                if used + hold.amount > hold.limit:
                    return Refusal(hold, used, self._next_expiry(conn, hold.holder, hold.bucket, now))
            for hold in holds:
                self._add_hold(conn, reservation_id, hold)
            # Housekeeping: lapsed holds of these buckets count for nothing; drop them.
            buckets = [
                sa.and_(admission_holds.c.holder == hold.holder, admission_holds.c.bucket == hold.bucket)
                for hold in holds
            ]
            conn.execute(sa.delete(admission_holds).where(admission_holds.c.expires_at <= now, sa.or_(*buckets)))
        return None

    def settle_now(self, reservation_id: str, release: Sequence[tuple[str, str]], spends: Sequence[Spend]) -> None:
        """``settle`` on the calling thread."""
        with self._writer.begin() as conn:
            for holder, bucket in release:
                conn.execute(
                    sa.delete(admission_holds).where(
                        admission_holds.c.reservation_id == reservation_id,
                        admission_holds.c.holder == holder,
                        admission_holds.c.bucket == bucket,
                    )
                )
            for spend in spends:
                conn.execute(
                    sa.update(admission_spend)
                    .where(admission_spend.c.holder == spend.holder, admission_spend.c.bucket == spend.bucket)
                    .values(spent=admission_spend.c.spent + spend.amount)
                )

    def usage_now(self, holder: str, bucket: str, now: datetime) -> tuple[int, int]:
        """``usage`` on the calling thread."""
        with self._engine.connect() as conn:
            spent = conn.execute(
                sa.select(admission_spend.c.spent).where(
                    admission_spend.c.holder == holder, admission_spend.c.bucket == bucket
                )
            ).scalar_one_or_none()
            return (0 if spent is None else int(spent)), self._held(conn, holder, bucket, now)

    def _lock_buckets(self, conn: Connection, holds: Sequence[Hold]) -> dict[tuple[str, str], int]:
        """Create missing counters (seeded from the ledger) and lock every bucket's row; their spent."""
        seeds = {(hold.holder, hold.bucket): hold.seed for hold in holds}
        insert: Any = postgresql.insert if self._postgres else sqlite.insert
        spent: dict[tuple[str, str], int] = {}
        for (holder, bucket), seed in sorted(seeds.items(), key=lambda item: item[0]):
            stmt = sa.select(admission_spend.c.spent).where(
                admission_spend.c.holder == holder, admission_spend.c.bucket == bucket
            )
            if self._postgres:
                stmt = stmt.with_for_update()
            value = conn.execute(stmt).scalar_one_or_none()
            if value is None:
                start = 0 if seed is None else ledger_sum(conn, seed)
                conn.execute(
                    insert(admission_spend)
                    .values(holder=holder, bucket=bucket, spent=start)
                    .on_conflict_do_nothing(index_elements=["holder", "bucket"])
                )
                # Another process may have created it first: lock and read whichever row stands.
                value = conn.execute(stmt).scalar_one()
            spent[holder, bucket] = int(value)
        return spent

    @staticmethod
    def _held(conn: Connection, holder: str, bucket: str, now: datetime) -> int:
        total = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(admission_holds.c.amount), 0)).where(
                admission_holds.c.holder == holder,
                admission_holds.c.bucket == bucket,
                admission_holds.c.expires_at > now,
            )
        ).scalar_one()
        return int(total)

    @staticmethod
    def _next_expiry(conn: Connection, holder: str, bucket: str, now: datetime) -> datetime | None:
        expiry: datetime | None = conn.execute(
            sa.select(sa.func.min(admission_holds.c.expires_at)).where(
                admission_holds.c.holder == holder,
                admission_holds.c.bucket == bucket,
                admission_holds.c.expires_at > now,
            )
        ).scalar_one()
        if expiry is None:
            return None
        # Aggregates bypass the column type on SQLite (text comes back); read it through the type.
        processor = admission_holds.c.expires_at.type.result_processor(conn.dialect, None)
        result: datetime | None = expiry if processor is None else processor(expiry)
        return result

    def _add_hold(self, conn: Connection, reservation_id: str, hold: Hold) -> None:
        # One upsert: a new hold, or more on the reservation's existing one (an extension).
        insert: Any = postgresql.insert if self._postgres else sqlite.insert
        stmt = insert(admission_holds).values(
            reservation_id=reservation_id,
            holder=hold.holder,
            bucket=hold.bucket,
            amount=hold.amount,
            expires_at=hold.expires_at,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["reservation_id", "holder", "bucket"],
                set_={"amount": admission_holds.c.amount + stmt.excluded.amount},
            )
        )


def ledger_sum(conn: Connection, seed: Seed) -> int:
    """What the ledger says was spent (micro-dollars or images) in the seed's scope, plus the
    quotes of attempts in flight now (pending rows: they may bill, and their own settlement may
    belong to state that was lost)."""
    column = ledger.c.cost_micros if seed.metric == "cost" else ledger.c.images
    stmt = sa.select(sa.func.coalesce(sa.func.sum(column), 0)).where(ledger.c[seed.column] == seed.value)
    if seed.since is not None:
        stmt = stmt.where(ledger.c.created_at >= seed.since)
    total = int(conn.execute(stmt).scalar_one())
    if seed.metric == "cost":
        # Few rows (attempts in flight on every replica); their JSON is filtered here, the same way
        # on both backends.
        for (entry,) in conn.execute(sa.select(pending_attempts.c.entry)):
            if entry.get(seed.column) == seed.value:
                total += int(entry.get("cost_micros", 0))
    return total


def ledger_seeder(engine: Engine) -> Callable[[Seed], int]:
    """``ledger_sum`` on a connection of its own, for stores that keep counters elsewhere (Redis)."""

    def seed(scope: Seed) -> int:
        with engine.connect() as conn:
            return ledger_sum(conn, scope)

    return seed
