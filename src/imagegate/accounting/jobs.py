"""The job-state port: image jobs as rows (docs/jobs.md); ``store/jobs.py`` implements it.

Synchronous like the other accounting ports: the job service reaches it through
``anyio.to_thread`` so a slow database never blocks the event loop. Every state change is a
conditional update, so two processes can never both run, finish or cancel the same job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

JobStatus = Literal["queued", "in_progress", "completed", "failed", "cancelled"]
JOB_STATUSES: tuple[JobStatus, ...] = ("queued", "in_progress", "completed", "failed", "cancelled")
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job. ``request`` is the parsed request without image bytes (inputs are stored objects,
    ``input_keys``); ``result`` holds stored objects' keys and metadata, never base64."""

    id: str
    key_id: int | None
    key_name: str | None
    team_id: int | None
    principal: dict[str, Any]
    status: JobStatus
    model: str
    operation: str
    request: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    input_keys: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    webhook_id: str | None = None
    idempotency_key: str | None = None
    fingerprint: str | None = None
    request_id: str | None = None
    runs: int = 0
    owner: str | None = None
    lease_until: datetime | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cost_micros: int | None = None
    cost_estimated: bool | None = None
    completed_at: datetime | None = None
    # What a submit-and-poll provider gave back when it accepted the job (task id, polling URL):
    # a later run resumes by polling it instead of submitting again.
    provider_task: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a run ended: the final status and what goes with it."""

    status: Literal["completed", "failed"]
    finished_at: datetime
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cost_micros: int | None = None
    cost_estimated: bool | None = None
    # The ledger's request id of the run, when it is not the one the claim gave (a resumed task's).
    request_id: str | None = None


class JobStore(Protocol):
    """Job rows; every transition is conditional on the row's current state."""

    def create(self, job: JobRecord) -> tuple[JobRecord, bool]:
        """Insert ``job``; with an idempotency key already used by its key, the existing job and False."""
        ...

    def get(self, job_id: str) -> JobRecord | None:
        """One job by id."""
        ...

    def list_for_key(self, key_id: int, *, after: str | None, limit: int) -> list[JobRecord]:
        """The key's jobs, newest first, starting after the job ``after`` (a cursor)."""
        ...

    def claim(
        self, job_id: str, *, owner: str, request_id: str, lease_until: datetime, now: datetime
    ) -> JobRecord | None:
        """Start a run: queued, or in progress with a lapsed lease (its runner died) → in progress for ``owner``."""
        ...

    def renew(self, job_id: str, *, owner: str, lease_until: datetime) -> bool:
        """Extend a running job's lease; False when ``owner`` no longer runs it (cancelled, taken over)."""
        ...

    def record_task(self, job_id: str, *, owner: str, task: dict[str, Any] | None) -> bool:
        """Keep the provider's accepted task on the running job (None: none any more); False when
        ``owner`` no longer runs it."""
        ...

    def finish(self, job_id: str, *, owner: str, outcome: JobOutcome) -> JobRecord | None:
        """Record a run's outcome if ``owner`` still runs the job; None otherwise (it was cancelled)."""
        ...

    def cancel(self, job_id: str, *, now: datetime) -> JobRecord | None:
        """Queued or in progress → cancelled; None when the job had already finished."""
        ...

    def due(self, *, now: datetime, queued_before: datetime, limit: int) -> list[str]:
        """Jobs to (re)start: queued since before ``queued_before``, or in progress with a lapsed lease."""
        ...

    def count_by_status(self) -> dict[str, int]:
        """How many jobs are stored in each status (every status present, zero included)."""
        ...

    def expired(self, *, now: datetime, limit: int) -> list[JobRecord]:
        """Up to ``limit`` finished jobs whose ``expires_at`` passed by ``now``, oldest expiry first."""
        ...

    def delete(self, job_ids: list[str], *, now: datetime) -> int:
        """Delete those of ``job_ids`` that are finished and expired by ``now``; how many went."""
        ...
