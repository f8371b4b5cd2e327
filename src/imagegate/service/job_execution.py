"""A job's work at its provider: one run from the stored job to a ``JobOutcome``, and calling off
an orphaned job's accepted task (docs/jobs.md).

``JobService.run`` claims the job and holds its lease; what happens inside that lease is here. The
job's input images are read back from the image store, its ``ImageRequest`` rebuilt, its key
authenticated again (as the key is now) and the request planned and served by the gateway's one
``ImageService``; a submit-and-poll task accepted before a restart is resumed instead of submitted
again. The result's images go to the image store and the outcome carries the served charge, or,
for a failed run, what its attempts cost (``RunCosts``).

Calling off (``JobService.cancel`` of a job whose runner died) rebuilds the same plan to reach the
host that holds the task, so it lives beside the run.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from imagegate.accounting.jobs import JobOutcome, JobRecord
from imagegate.domain.errors import ImagegateError
from imagegate.domain.image_store import ImageStore
from imagegate.domain.result import ImageResult, Usage
from imagegate.service.gateway import Gateway
from imagegate.service.image_storage import store_images
from imagegate.service.images import Served
from imagegate.service.job_codec import request_from_document
from imagegate.service.job_costs import RunCosts
from imagegate.service.plan import Plan
from imagegate.service.submissions import Kept, SubmissionHook, SubmittedParts, kept_from_document

log = logging.getLogger("imagegate.jobs")

ErrorView = Callable[[ImagegateError], dict[str, Any]]
UsageView = Callable[[Usage], dict[str, Any] | None]
ResumeHook = Callable[[Plan, Kept, SubmissionHook], Awaitable[Served]]
"""Carry on a run from a submit-and-poll provider's accepted task (recorded with ``record_submission``):
poll it, then retry or fall back as the run would have (keeping later tasks through the hook);
``ImageService.resume`` unless a test replaces it."""
RecordSubmission = Callable[[str, Kept | None], Awaitable[bool]]
"""Keep (or, with None, forget) the task a provider accepted for a job: ``JobService.record_submission``."""


class JobExecutor:
    """Runs a claimed job through the pipeline, and calls off an orphaned job's task (see the module docstring)."""

    def __init__(
        self,
        *,
        gateway: Gateway,
        images: ImageStore,
        describe_error: ErrorView,
        usage_view: UsageView,
        run_costs: RunCosts,
        resume: ResumeHook,
        record_submission: RecordSubmission,
        clock: Callable[[], datetime],
    ) -> None:
        self._gateway = gateway
        self._images = images
        self._describe_error = describe_error
        self._usage_view = usage_view
        self._run_costs = run_costs
        self._resume = resume
        self._record_submission = record_submission
        self._clock = clock

    async def execute(self, job: JobRecord, request_id: str) -> JobOutcome:
        """Serve ``job`` (or resume its accepted task) as request ``request_id``: what came of it."""
        inputs = [await self._read(key) for key in job.input_keys]
        request = request_from_document(job.request, inputs)
        submission = None if job.provider_task is None else kept_from_document(job.provider_task)
        if submission is not None:
            request_id = submission.request_id  # the accepted attempt's request, continued
        self._run_costs.track(request_id)
        try:
            # The key as it is now: revoked or expired keys' jobs fail, and limits are the current ones.
            principal = await self._gateway.authenticator.authenticate_digest(job.principal["key_hash"])
            plan = self._gateway.plan(request_id, request, principal)
            keeper = SubmissionHook(
                hold_until=job.expires_at, record=functools.partial(self._record_submission, job.id)
            )
            if submission is not None:
                # Accepted before a restart: poll it, and carry on the attempt loop if it failed.
                served = await self._resume(plan, submission, keeper)
            else:
                served = await self._gateway.images.serve(plan, keep_raw_for=None, submissions=keeper)
            images = await self._store_images(job, served.result)
        except ImagegateError as error:
            micros, estimated = self._run_costs.take(request_id)
            return JobOutcome(
                status="failed",
                finished_at=self._clock(),
                error=self._describe_error(error),
                cost_micros=micros,
                cost_estimated=estimated,
                request_id=request_id,
            )
        finally:
            self._run_costs.take(request_id)  # stop tracking (cancelled, or completed)
        result = served.result
        body: dict[str, Any] = {
            "created": result.created if result.created is not None else int(self._clock().timestamp()),
            "images": images,
            "size": result.size,
            "quality": result.quality,
            "background": result.background,
            "output_format": result.output_format,
            "usage": self._usage_view(result.usage),
            "route": served.route.target.name,
        }
        return JobOutcome(
            status="completed",
            finished_at=self._clock(),
            result=body,
            cost_micros=served.charge.micros,
            cost_estimated=served.charge.estimated,
            request_id=request_id,
        )

    async def call_off(self, job: JobRecord) -> None:
        """Cancel an orphaned job's accepted task at its host and record its attempt (at the quote)."""
        kept = kept_from_document(job.provider_task) if job.provider_task is not None else None
        if kept is None:
            return
        try:
            request = request_from_document(job.request, [await self._read(key) for key in job.input_keys])
            principal = await self._gateway.authenticator.authenticate_digest(job.principal["key_hash"])
            plan = self._gateway.plan(kept.request_id, request, principal)
            # A fanned-out job's finished parts are called off too: their hosts refuse, harmlessly,
            # and their attempts are in the ledger already (not written again).
            for submission in kept.parts if isinstance(kept, SubmittedParts) else (kept,):
                if submission is not None:
                    await self._gateway.images.tasks.call_off(plan, submission)
        except ImagegateError as error:
            # The held attempt is still written, as ``unknown`` at the quote, when the job expires.
            log.warning("job %s: its provider task was not called off: %s", job.id, error)

    async def _store_images(self, job: JobRecord, result: ImageResult) -> list[dict[str, Any]]:
        stored = await store_images(
            self._images, result, key_prefix=f"jobs/{job.id}", expires_at=job.expires_at, owner=job.id
        )
        return [
            {
                "key": obj.key,
                "content_type": obj.content_type,
                "bytes": obj.size,
                "revised_prompt": image.revised_prompt,
            }
            for obj, image in zip(stored, result.images, strict=True)
        ]

    async def _read(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in await self._images.open(key)])
