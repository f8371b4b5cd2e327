"""Image jobs: submit now, run later through the same pipeline, collect by URL (docs/jobs.md).

A job is an ``ImageRequest`` kept in the database (``accounting.jobs.JobStore``) with its input
images in the image store. A run claims the job (a lease it renews while it runs), plans and
serves it with the gateway's one ``ImageService`` (same routing, retries, fallback, ledger and
cost as a synchronous call), stores the images through the ``ImageStore`` port and records the
outcome. Which process runs a job is the engine's business (``JobEngine``): an in-process pool
(``service.job_pool``) or a PostgreSQL queue (``store.procrastinate_engine``). This module holds
the job's lifecycle (submit, look up, cancel, claim, finish, sweep); what a run does with the
pipeline inside its lease is ``service.job_execution``.

A run whose process died leaves the job ``in_progress`` with a lapsing lease; ``due()`` hands it
back to the engine, and the next run starts over. A provider call the dead run had made is in the
ledger as an ``unknown`` attempt (crash-safe attempt recording); the new run submits again. After
``max_runs`` interrupted runs the job fails with ``outcome_unknown`` instead of trying forever.

A submit-and-poll host's accepted task is kept on the job (``provider_task``, a
``service.submissions.Submission``) before it is polled, and its attempt's ledger record is held
until the job expires; a later run resumes by polling that task (``ImageService.resume``), never
submitting it again, records that attempt's outcome once, and, if the task failed, carries on
with the retries and fallbacks the interrupted run had left.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import anyio.to_thread

from imagegate.accounting.auth import Principal
from imagegate.accounting.jobs import JobOutcome, JobRecord, JobStore
from imagegate.accounting.ledger import utc_now
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.image_store import ImageStore
from imagegate.domain.request import ImageRequest
from imagegate.service.event_port import EventSink
from imagegate.service.gateway import Gateway
from imagegate.service.idempotency import IdempotencyConflict
from imagegate.service.job_codec import job_object, principal_document, request_document
from imagegate.service.job_costs import RunCosts
from imagegate.service.job_execution import ErrorView, JobExecutor, ResumeHook, UsageView
from imagegate.service.job_lease import leased
from imagegate.service.submissions import Kept

log = logging.getLogger("imagegate.jobs")


class JobEngine(Protocol):
    """Decides where and when a queued job runs (it calls ``JobService.run``)."""

    async def start(self, run: Callable[[str], Awaitable[None]], due: Callable[[], Awaitable[list[str]]]) -> None:
        """Begin running jobs with ``run``, resuming those ``due`` names now and then."""
        ...

    async def stop(self) -> None:
        """Stop running jobs (unfinished ones resume after a restart)."""
        ...

    async def enqueue(self, job_id: str) -> None:
        """Arrange for ``job_id`` to run (again); a job already waiting is not queued twice."""
        ...

    def cancel_local(self, job_id: str) -> None:
        """Stop the job's run if this process is running it (other processes notice at their next renewal)."""
        ...


class JobNotFound(InvalidRequest):
    """No job with that id for this key."""

    code = "not_found"


class JobFinished(InvalidRequest):
    """The job already completed or failed: there is nothing left to cancel."""

    code = "job_finished"


@dataclass(frozen=True, slots=True)
class JobSettings:
    """How jobs run: lease length, how long jobs and results are kept, how often a run may restart."""

    lease_s: float = 60.0
    retention_s: float = 24 * 3600.0
    max_runs: int = 3


WebhookCheck = Callable[[str, Principal], Awaitable[bool]]


class JobService:
    """Submit, look up, cancel and run jobs (see the module docstring)."""

    def __init__(
        self,
        *,
        store: JobStore,
        gateway: Gateway,
        images: ImageStore,
        describe_error: ErrorView,
        usage_view: UsageView,
        events: EventSink | None = None,
        webhook_check: WebhookCheck | None = None,
        settings: JobSettings | None = None,
        run_costs: RunCosts | None = None,
        resume: ResumeHook | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._images = images
        self._events = events
        self._webhook_check = webhook_check
        self.settings = settings if settings is not None else JobSettings()
        self._clock = clock
        self._executor = JobExecutor(
            gateway=gateway,
            images=images,
            describe_error=describe_error,
            usage_view=usage_view,
            run_costs=run_costs if run_costs is not None else RunCosts(),
            resume=resume if resume is not None else gateway.images.resume,
            record_submission=self.record_submission,
            clock=clock,
        )
        self.owner = f"runner_{uuid.uuid4().hex[:16]}"
        self.engine: JobEngine | None = None

    # -- the client's side ----------------------------------------------------------------------

    async def submit(
        self,
        principal: Principal,
        request: ImageRequest,
        *,
        key_digest: str,
        metadata: dict[str, Any] | None = None,
        webhook_id: str | None = None,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Queue a job; with an ``idempotency_key`` used before, that job (and False) instead."""
        job_id = "imgjob_" + uuid.uuid4().hex
        # Validate and route now: a request no route can serve is refused before anything is stored.
        self._gateway.plan(job_id, request, principal)
        if webhook_id is not None and (
            self._webhook_check is None or not await self._webhook_check(webhook_id, principal)
        ):
            raise InvalidRequest(f"No webhook endpoint '{webhook_id}' for this key.", param="webhook")
        now = self._clock()
        expires_at = now + timedelta(seconds=self.settings.retention_s)
        document, inputs = request_document(request)
        input_keys = [f"jobs/{job_id}/input-{index}" for index in range(len(inputs))]
        for key, image in zip(input_keys, inputs, strict=True):
            content_type = image.content_type or "application/octet-stream"
            await self._images.put(key, image.data, content_type=content_type, expires_at=expires_at, owner=job_id)
        record = JobRecord(
            id=job_id,
            key_id=principal.key_id,
            key_name=principal.key_name,
            team_id=principal.team_id,
            principal=principal_document(principal, key_digest),
            status="queued",
            model=request.model,
            operation=request.operation,
            request=document,
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
            input_keys=input_keys,
            metadata=metadata,
            webhook_id=webhook_id,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )
        stored, created = await anyio.to_thread.run_sync(self._store.create, record)
        if not created:
            for key in input_keys:
                await self._images.delete(key)
            if stored.fingerprint != fingerprint:
                raise IdempotencyConflict(
                    "This Idempotency-Key was already used with a different request.", param="Idempotency-Key"
                )
            return stored, False
        if self.engine is not None:
            await self.engine.enqueue(job_id)
        return stored, True

    async def get(self, principal: Principal, job_id: str) -> JobRecord:
        """The caller's job ``job_id``."""
        job = await anyio.to_thread.run_sync(self._store.get, job_id)
        if job is None or job.key_id != principal.key_id:
            raise JobNotFound(f"No job found with id '{job_id}'.", param="job_id")
        return job

    async def list_jobs(self, principal: Principal, *, after: str | None, limit: int) -> list[JobRecord]:
        """The caller's jobs, newest first, after the cursor ``after``."""
        return await anyio.to_thread.run_sync(
            lambda: self._store.list_for_key(principal.key_id, after=after, limit=limit)
        )

    async def cancel(self, principal: Principal, job_id: str) -> JobRecord:
        """Cancel a queued or running job (a running provider call is abandoned; its attempt stays in the ledger)."""
        job = await self.get(principal, job_id)
        if job.status == "cancelled":
            return job
        cancelled = await anyio.to_thread.run_sync(lambda: self._store.cancel(job_id, now=self._clock()))
        if cancelled is None:
            raise JobFinished(f"Job '{job_id}' has already {job.status}.", param="job_id")
        if self.engine is not None:
            self.engine.cancel_local(job_id)
        if job.provider_task is not None and job.lease_until is not None and job.lease_until <= self._clock():
            await self._executor.call_off(job)  # its runner died: nobody else will stop the provider's task
        await self._emit(cancelled)
        return cancelled

    async def view(self, job: JobRecord) -> dict[str, Any]:
        """The job object, with result URLs signed until the job expires."""
        urls = []
        if job.result is not None:
            for image in job.result["images"]:
                urls.append(await self._images.url(image["key"], expires_at=job.expires_at))
        return job_object(job, urls)

    # -- the engine's side ----------------------------------------------------------------------

    async def due(self, limit: int = 100) -> list[str]:
        """Jobs waiting longer than a lease, and jobs whose runner stopped renewing: to (re)start."""
        now = self._clock()
        queued_before = now - timedelta(seconds=self.settings.lease_s)
        return await anyio.to_thread.run_sync(
            lambda: self._store.due(now=now, queued_before=queued_before, limit=limit)
        )

    async def run(self, job_id: str) -> None:
        """Run ``job_id`` if nobody else does (a no-op for a job taken, finished or cancelled)."""
        request_id = "req_" + uuid.uuid4().hex
        now = self._clock()
        lease_until = now + timedelta(seconds=self.settings.lease_s)
        job = await anyio.to_thread.run_sync(
            lambda: self._store.claim(job_id, owner=self.owner, request_id=request_id, lease_until=lease_until, now=now)
        )
        if job is None:
            return
        if job.runs > self.settings.max_runs:
            error = {
                "code": "outcome_unknown",
                "message": f"The job was interrupted {job.runs - 1} times while its provider call was in flight.",
                "type": "server_error",
                "param": None,
            }
            outcome = JobOutcome(status="failed", finished_at=self._clock(), error=error)
        else:
            lease = leased(self._store, job.id, owner=self.owner, lease_s=self.settings.lease_s, clock=self._clock)
            async with lease as execution:
                execution.task = asyncio.ensure_future(self._executor.execute(job, request_id))
                try:
                    outcome = await execution.task
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if execution.task.cancelled() and (current is None or current.cancelling() == 0):
                        return  # cancelled by another process (the lease was not ours any more)
                    raise
        finished = await anyio.to_thread.run_sync(lambda: self._store.finish(job_id, owner=self.owner, outcome=outcome))
        if finished is None:
            # Cancelled while running: what it produced is not kept.
            await self._delete_results(outcome)
            return
        await self._emit(finished)

    async def sweep_expired(self, now: datetime, limit: int = 500) -> int:
        """Delete up to ``limit`` finished jobs past ``expires_at`` and their stored images; how many.

        Objects first, then rows: a round cut short leaves rows whose objects are gone (deleted
        again next round, harmlessly), never objects nobody references. A job still queued or
        running at its expiry is left until it ends.
        """
        jobs = await anyio.to_thread.run_sync(lambda: self._store.expired(now=now, limit=limit))
        for job in jobs:
            keys = list(job.input_keys)
            if job.result is not None:
                keys.extend(image["key"] for image in job.result["images"])
            for key in keys:
                await self._images.delete(key)
        ids = [job.id for job in jobs]
        return await anyio.to_thread.run_sync(lambda: self._store.delete(ids, now=now))

    async def record_submission(self, job_id: str, submission: Kept | None) -> bool:
        """Keep the task a submit-and-poll provider accepted for this job (before it is polled),
        so a run after a restart polls it (``resume``) instead of submitting again; None: no task
        to resume any more. False when this process no longer runs the job."""
        document = None if submission is None else submission.document()
        kept = await anyio.to_thread.run_sync(lambda: self._store.record_task(job_id, owner=self.owner, task=document))
        if not kept:
            # Cancelled or taken over meanwhile: the lease renewal stops this run shortly.
            log.warning("job %s: not keeping its provider task, this process no longer runs the job", job_id)
        return kept

    async def _delete_results(self, outcome: JobOutcome) -> None:
        if outcome.result is not None:
            for image in outcome.result["images"]:
                await self._images.delete(image["key"])

    async def _emit(self, job: JobRecord) -> None:
        if self._events is None:
            return
        try:
            await self._events.emit(
                f"image.job.{job.status}",
                await self.view(job),
                team_id=job.team_id,
                key_id=job.key_id,
                endpoint_id=job.webhook_id,
            )
        except Exception:
            # The job's state is already recorded; a lost event must not turn it into a failure.
            log.exception("queueing the %s event of job %s failed", job.status, job.id)
