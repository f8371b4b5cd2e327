"""``JobService`` driven directly (no engine): the submit-and-poll resume hook, and a job whose key
was revoked while it waited."""

from __future__ import annotations

import base64
import io
import time
from datetime import timedelta
from typing import Any

import anyio
from PIL import Image

from imagegate.accounting.keys import hash_key
from imagegate.accounting.ledger import utc_now
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import GeneratedImage, ImageResult, Usage
from imagegate.pricing.engine import Charge
from imagegate.service.images import Served
from imagegate.service.jobs import JobService
from imagegate.store.jobs import SqlJobStore
from imagegate.store.keys import SqlKeyStore
from tests.jobs.conftest import sandbox_submissions


def direct_service(gateway, image_store, **hooks: Any) -> tuple[JobService, SqlJobStore]:
    """A ``JobService`` over the gateway's pipeline with no engine: jobs wait until ``run`` is called."""
    store = SqlJobStore(gateway.engine)
    jobs = JobService(
        store=store,
        gateway=gateway.runtime.gateway,
        images=image_store,
        describe_error=lambda e: {"code": e.code},
        usage_view=lambda usage: None,
        **hooks,
    )
    return jobs, store


def test_a_recorded_provider_task_is_resumed_by_the_hook_not_resubmitted(
    jobs_gateway, jobs_key, image_store, sandbox_url
):
    _, secret = jobs_key
    principal = anyio.run(jobs_gateway.runtime.gateway.authenticate, secret)
    png = io.BytesIO()
    Image.new("RGB", (32, 32), "green").save(png, format="PNG")
    seen: list[dict] = []

    async def resume(plan, task) -> Served:
        seen.append(task)
        result = ImageResult(
            image_count=1,
            usage=Usage(),
            images=[GeneratedImage(b64_json=base64.b64encode(png.getvalue()).decode(), mime_type="image/png")],
        )
        return Served(
            result=result,
            route=plan.routes[0],
            charge=Charge(micros=40_000, estimated=False, breakdown={}, unit="image"),
            attempt=1,
        )

    jobs, store = direct_service(jobs_gateway, image_store, resume=resume)
    request = ImageRequest(operation="generate", model="gpt-image-2", prompt="polled", dialect="openai-images")

    async def scenario() -> None:
        job, _ = await jobs.submit(principal, request, key_digest=hash_key(secret))
        # A first runner claims it, the provider accepts a task, then the runner dies (its lease lapses).
        claimed = store.claim(
            job.id,
            owner="dead-runner",
            request_id="req_dead",
            lease_until=utc_now() - timedelta(seconds=1),
            now=utc_now() - timedelta(seconds=2),
        )
        assert claimed is not None
        assert store.record_task(
            job.id, owner="dead-runner", task={"id": "task-7", "polling_url": "https://host/poll/7"}
        )
        assert not await jobs.record_submission(job.id, {"id": "other"})  # not this runner's job
        since = time.time()
        await jobs.run(job.id)
        finished = store.get(job.id)
        assert finished is not None and finished.status == "completed" and finished.runs == 2
        assert finished.provider_task == {"id": "task-7", "polling_url": "https://host/poll/7"}
        assert finished.cost_micros == 40_000 and finished.result is not None
        assert sandbox_submissions(sandbox_url, since) == []
        view = await jobs.view(finished)
        assert view["result"]["data"][0]["url"].startswith(image_store.base_url)

    anyio.run(scenario)
    assert seen == [{"id": "task-7", "polling_url": "https://host/poll/7"}]


def test_a_job_whose_key_was_revoked_while_it_waited_fails_without_a_provider_call(
    jobs_gateway, jobs_key, image_store, sandbox_url
):
    name, secret = jobs_key
    principal = anyio.run(jobs_gateway.runtime.gateway.authenticate, secret)
    jobs, store = direct_service(jobs_gateway, image_store)
    request = ImageRequest(operation="generate", model="gpt-image-2", prompt="never sent", dialect="openai-images")

    async def scenario() -> None:
        job, created = await jobs.submit(principal, request, key_digest=hash_key(secret))
        assert created and job.status == "queued"  # no engine: it waits
        assert SqlKeyStore(jobs_gateway.engine).revoke_key(name, utc_now())
        since = time.time()
        await jobs.run(job.id)
        failed = store.get(job.id)
        assert failed is not None and failed.status == "failed" and failed.error == {"code": "invalid_api_key"}
        assert sandbox_submissions(sandbox_url, since) == []

    anyio.run(scenario)
