"""``SqlJobStore``: the accounting ``JobStore`` port on SQLAlchemy Core (table ``image_jobs``).

Transitions are single ``UPDATE ... WHERE <expected state> RETURNING`` statements: on SQLite and
PostgreSQL alike exactly one of two racing processes gets the row back.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from imagegate.accounting.jobs import FINAL_STATUSES, JOB_STATUSES, JobOutcome, JobRecord
from imagegate.store.database import Bind, begin, connect
from imagegate.store.job_tables import image_jobs

_FIELDS = tuple(f.name for f in fields(JobRecord))
_c = image_jobs.c


def _record(row: Any) -> JobRecord:
    mapping = row._mapping
    return JobRecord(**{name: mapping[name] for name in _FIELDS})


class SqlJobStore:
    """Jobs in ``image_jobs`` (see the module docstring)."""

    def __init__(self, bind: Bind) -> None:
        self._bind = bind

    def create(self, job: JobRecord) -> tuple[JobRecord, bool]:
        """Insert ``job``; with an idempotency key already used by its key, the existing job and False."""
        try:
            with begin(self._bind) as conn:
                conn.execute(sa.insert(image_jobs).values(**asdict(job)))
        except IntegrityError:
            if job.idempotency_key is None:
                raise
            with connect(self._bind) as conn:
                row = conn.execute(
                    sa.select(image_jobs).where(_c.key_id == job.key_id, _c.idempotency_key == job.idempotency_key)
                ).one_or_none()
            if row is None:
                raise
            return _record(row), False
        return job, True

    def get(self, job_id: str) -> JobRecord | None:
        """One job by id."""
        with connect(self._bind) as conn:
            row = conn.execute(sa.select(image_jobs).where(_c.id == job_id)).one_or_none()
        return None if row is None else _record(row)

    def list_for_key(self, key_id: int, *, after: str | None, limit: int) -> list[JobRecord]:
        """The key's jobs, newest first, starting after the job ``after`` (a cursor)."""
        query = sa.select(image_jobs).where(_c.key_id == key_id)
        if after is not None:
            cursor = sa.select(_c.created_at, _c.id).where(_c.id == after, _c.key_id == key_id).subquery()
            query = query.where(
                sa.or_(
                    _c.created_at < sa.select(cursor.c.created_at).scalar_subquery(),
                    sa.and_(
                        _c.created_at == sa.select(cursor.c.created_at).scalar_subquery(),
                        _c.id < sa.select(cursor.c.id).scalar_subquery(),
                    ),
                )
            )
        query = query.order_by(_c.created_at.desc(), _c.id.desc()).limit(limit)
        with connect(self._bind) as conn:
            return [_record(row) for row in conn.execute(query)]

    def _update(self, where: Any, values: dict[str, Any]) -> JobRecord | None:
        with begin(self._bind) as conn:
            row = conn.execute(sa.update(image_jobs).where(where).values(**values).returning(image_jobs)).one_or_none()
        return None if row is None else _record(row)

    def claim(
        self, job_id: str, *, owner: str, request_id: str, lease_until: datetime, now: datetime
    ) -> JobRecord | None:
        """Start a run: queued, or in progress with a lapsed lease (its runner died) → in progress for ``owner``."""
        startable = sa.or_(_c.status == "queued", sa.and_(_c.status == "in_progress", _c.lease_until < now))
        values = {
            "status": "in_progress",
            "owner": owner,
            "request_id": request_id,
            "lease_until": lease_until,
            "runs": _c.runs + 1,
            "updated_at": now,
        }
        return self._update(sa.and_(_c.id == job_id, startable), values)

    def renew(self, job_id: str, *, owner: str, lease_until: datetime) -> bool:
        """Extend a running job's lease; False when ``owner`` no longer runs it (cancelled, taken over)."""
        where = sa.and_(_c.id == job_id, _c.owner == owner, _c.status == "in_progress")
        return self._update(where, {"lease_until": lease_until}) is not None

    def record_task(self, job_id: str, *, owner: str, task: dict[str, Any] | None) -> bool:
        """Keep the provider's accepted task on the running job (None: none any more); False when
        ``owner`` no longer runs it."""
        where = sa.and_(_c.id == job_id, _c.owner == owner, _c.status == "in_progress")
        return self._update(where, {"provider_task": task}) is not None

    def finish(self, job_id: str, *, owner: str, outcome: JobOutcome) -> JobRecord | None:
        """Record a run's outcome if ``owner`` still runs the job; None otherwise (it was cancelled)."""
        where = sa.and_(_c.id == job_id, _c.owner == owner, _c.status == "in_progress")
        values: dict[str, Any] = {
            "status": outcome.status,
            "result": outcome.result,
            "error": outcome.error,
            "cost_micros": outcome.cost_micros,
            "cost_estimated": outcome.cost_estimated,
            "completed_at": outcome.finished_at,
            "updated_at": outcome.finished_at,
            "lease_until": None,
        }
        if outcome.request_id is not None:
            values["request_id"] = outcome.request_id
        return self._update(where, values)

    def cancel(self, job_id: str, *, now: datetime) -> JobRecord | None:
        """Queued or in progress → cancelled; None when the job had already finished."""
        where = sa.and_(_c.id == job_id, _c.status.in_(("queued", "in_progress")))
        return self._update(where, {"status": "cancelled", "completed_at": now, "updated_at": now, "lease_until": None})

    def due(self, *, now: datetime, queued_before: datetime, limit: int) -> list[str]:
        """Jobs to (re)start: queued since before ``queued_before``, or in progress with a lapsed lease."""
        query = (
            sa.select(_c.id)
            .where(
                sa.or_(
                    sa.and_(_c.status == "queued", _c.updated_at < queued_before),
                    sa.and_(_c.status == "in_progress", _c.lease_until < now),
                )
            )
            .order_by(_c.created_at)
            .limit(limit)
        )
        with connect(self._bind) as conn:
            return list(conn.execute(query).scalars())

    def count_by_status(self) -> dict[str, int]:
        """How many jobs are stored in each status (every status present, zero included)."""
        query = sa.select(_c.status, sa.func.count()).group_by(_c.status)
        with connect(self._bind) as conn:
            found = {str(status): int(count) for status, count in conn.execute(query).all()}
        return {status: found.get(status, 0) for status in JOB_STATUSES}

    def expired(self, *, now: datetime, limit: int) -> list[JobRecord]:
        """Up to ``limit`` finished jobs whose ``expires_at`` passed by ``now``, oldest expiry first."""
        query = (
            sa.select(image_jobs)
            .where(_c.expires_at <= now, _c.status.in_(sorted(FINAL_STATUSES)))
            .order_by(_c.expires_at)
            .limit(limit)
        )
        with connect(self._bind) as conn:
            return [_record(row) for row in conn.execute(query)]

    def delete(self, job_ids: list[str], *, now: datetime) -> int:
        """Delete those of ``job_ids`` that are finished and expired by ``now``; how many went."""
        if not job_ids:
            return 0
        where = sa.and_(_c.id.in_(job_ids), _c.expires_at <= now, _c.status.in_(sorted(FINAL_STATUSES)))
        with begin(self._bind) as conn:
            return conn.execute(sa.delete(image_jobs).where(where)).rowcount or 0
