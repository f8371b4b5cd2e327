"""``JobService`` driven directly (no engine): the submit-and-poll resume hook, a job whose key
was revoked while it waited, and expired jobs swept with their images."""

from __future__ import annotations

import base64
import functools
import io
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import sqlalchemy as sa
from PIL import Image

from imagegate.accounting.keys import hash_key
from imagegate.accounting.ledger import utc_now
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import GeneratedImage, ImageResult, Usage
from imagegate.pricing.engine import Charge
from imagegate.service.images import Served
from imagegate.service.jobs import JobService
from imagegate.service.retention import LocalSweepLock, Sweeper
from imagegate.service.submissions import Submission
from imagegate.store.jobs import SqlJobStore
from imagegate.store.keys import SqlKeyStore
from imagegate.store.tables import api_keys
from tests.jobs.conftest import sandbox_submissions
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.disk_store import serving_disk_store


def direct_service(gateway, image_store, jobs_db: Path, **hooks: Any) -> tuple[JobService, SqlJobStore]:
    """A ``JobService`` over the gateway's pipeline with no engine: jobs wait until ``run`` is called.

    Its jobs live in a database of their own (``jobs_db``), which the gateway's own job runner does
    not watch: nobody else resumes them behind the test's back. The gateway's keys are copied
    there (job rows refer to them)."""
    engine = migrated_sqlite_engine(jobs_db)
    with gateway.engine.connect() as source, engine.begin() as target:
        target.execute(sa.insert(api_keys), [dict(row._mapping) for row in source.execute(sa.select(api_keys))])
    store = SqlJobStore(engine)
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
    jobs_gateway, jobs_key, image_store, sandbox_url, tmp_path
):
    _, secret = jobs_key
    principal = anyio.run(jobs_gateway.runtime.gateway.authenticate, secret)
    png = io.BytesIO()
    Image.new("RGB", (32, 32), "green").save(png, format="PNG")
    seen: list[tuple[str, Submission]] = []

    async def resume(plan, submission) -> Served:
        seen.append((plan.request_id, submission))
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

    jobs, store = direct_service(jobs_gateway, image_store, tmp_path / "jobs.db", resume=resume)
    request = ImageRequest(operation="generate", model="gpt-image-2", prompt="polled", dialect="openai-images")
    accepted = Submission(
        request_id="req_dead", attempt=1, route="openai", task={"id": "task-7", "poll_url": "https://host/poll/7"}
    )

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
        assert store.record_task(job.id, owner="dead-runner", task=accepted.document())
        assert not await jobs.record_submission(job.id, accepted)  # not this runner's job
        since = time.time()
        await jobs.run(job.id)
        finished = store.get(job.id)
        assert finished is not None and finished.status == "completed" and finished.runs == 2
        assert finished.provider_task == accepted.document()
        assert finished.cost_micros == 40_000 and finished.result is not None
        assert finished.request_id == "req_dead"  # the accepted attempt's request, continued
        assert sandbox_submissions(sandbox_url, since) == []
        view = await jobs.view(finished)
        assert view["result"]["data"][0]["url"].startswith(image_store.base_url)

    anyio.run(scenario)
    assert seen == [("req_dead", accepted)]


def test_a_job_whose_key_was_revoked_while_it_waited_fails_without_a_provider_call(
    jobs_gateway, jobs_key, image_store, sandbox_url, tmp_path
):
    name, secret = jobs_key
    principal = anyio.run(jobs_gateway.runtime.gateway.authenticate, secret)
    jobs, store = direct_service(jobs_gateway, image_store, tmp_path / "jobs.db")
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


def test_the_retention_sweeper_deletes_expired_jobs_and_their_images_a_bounded_batch_a_round(
    jobs_gateway, jobs_key, tmp_path
):
    _, secret = jobs_key
    principal = anyio.run(jobs_gateway.runtime.gateway.authenticate, secret)
    request = ImageRequest(operation="generate", model="gpt-image-2", prompt="kept a day", dialect="openai-images")
    with serving_disk_store(tmp_path / "images") as images:
        jobs, store = direct_service(jobs_gateway, images, tmp_path / "jobs.db")
        later = utc_now() + timedelta(seconds=jobs.settings.retention_s + 60)
        sweeper = Sweeper(images, LocalSweepLock(), interval_s=60, clock=lambda: later)
        sweeper.add_round("image jobs", functools.partial(jobs.sweep_expired, limit=2))

        async def scenario() -> None:
            finished = []
            for _ in range(3):
                job, _ = await jobs.submit(principal, request, key_digest=hash_key(secret))
                await jobs.run(job.id)
                finished.append(store.get(job.id))
            waiting, _ = await jobs.submit(principal, request, key_digest=hash_key(secret))
            assert await jobs.sweep_expired(utc_now()) == 0  # nothing expired yet
            assert await jobs.sweep_expired(later, limit=2) == 2  # a bounded batch, oldest first
            assert [store.get(job.id) is None for job in finished] == [True, True, False]
            [third] = [image["key"] for image in finished[2].result["images"]]
            assert images.keys() == [third]  # the deleted jobs' images went with them
            assert await sweeper.sweep_once() is not None  # the replica's retention round
            assert store.get(finished[2].id) is None and images.keys() == []
            kept = store.get(waiting.id)
            assert kept is not None and kept.status == "queued"  # not finished: left until it ends

        anyio.run(scenario)
