"""``JobService`` driven directly (no engine): the submit-and-poll resume hook, a job whose key
was revoked while it waited, a cancelled job whose runner died, and expired jobs swept with their images."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import sqlalchemy as sa
from PIL import Image

from imagegate.accounting.jobs import JobOutcome
from imagegate.accounting.keys import hash_key
from imagegate.accounting.ledger import utc_now
from imagegate.app import build_runtime
from imagegate.config.file import parse_config
from imagegate.config.settings import Settings
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import GeneratedImage, ImageResult, Usage
from imagegate.pricing.engine import Charge
from imagegate.providers.accepted_task import AcceptedTask
from imagegate.providers.base import WireResponse
from imagegate.runtime import Runtime
from imagegate.service.images import Served
from imagegate.service.jobs import JobService
from imagegate.service.retention import LocalSweepLock, Sweeper
from imagegate.service.submissions import Submission, SubmissionHook
from imagegate.store.governance_tables import api_keys
from imagegate.store.jobs import SqlJobStore
from imagegate.store.keys import SqlKeyStore
from imagegate.store.ledger import SqlLedgerStore
from imagegate.store.pending_attempts import SqlPendingAttempts
from tests.jobs.conftest import jobs_config, sandbox_submissions
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.disk_store import serving_disk_store
from tests.support.flux import tasks
from tests.support.gateway import GatewayHandle


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

    async def resume(plan, submission, keeper) -> Served:
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
            for index in range(3):
                job, _ = await jobs.submit(principal, request, key_digest=hash_key(secret))
                now = utc_now()
                assert store.claim(job.id, owner="runner", request_id=f"req_{index}", lease_until=now, now=now)
                key = f"jobs/{job.id}/0.png"
                await images.put(key, b"png", content_type="image/png", expires_at=job.expires_at, owner=job.id)
                result = {"images": [{"key": key, "content_type": "image/png", "bytes": 3}]}
                outcome = JobOutcome(status="completed", finished_at=now, result=result)
                finished.append(store.finish(job.id, owner="runner", outcome=outcome))
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


@contextlib.contextmanager
def own_runtime(sandbox_url: str, tmp_path: Path, image_store: Any) -> Iterator[tuple[Runtime, str]]:
    """A runtime of this test's own (unserved, its HTTP client on the test's event loop) and a key."""
    engine = migrated_sqlite_engine(tmp_path / "gateway.db")
    settings = Settings(database_url=str(engine.url), auto_migrate=False, data_dir=tmp_path / "data")
    runtime = build_runtime(
        settings, parse_config(jobs_config(sandbox_url), env={}), engine=engine, image_store=image_store
    )
    secret = GatewayHandle(url="", runtime=runtime, engine=engine).create_key("orphan")
    runtime.ledger.start()
    try:
        yield runtime, secret
    finally:
        runtime.ledger.close()
        engine.dispose()


def test_cancelling_a_job_whose_runner_died_calls_its_task_off_at_the_host(image_store, sandbox_url, tmp_path):
    request = ImageRequest(
        operation="generate", model="fal-flux-2-pro", prompt="[sandbox:never-finish] x", dialect="openai-images"
    )
    with own_runtime(sandbox_url, tmp_path, image_store) as (runtime, secret):
        gateway = runtime.gateway
        assert runtime.jobs is not None
        jobs, store = runtime.jobs, SqlJobStore(runtime.engine)
        jobs.engine = None  # nothing runs the job here: it stays the dead runner's

        async def scenario() -> tuple[str, str]:
            principal = await gateway.authenticate(secret)
            # What a runner that then died did: fal accepted the task, and the job kept it.
            [route] = gateway.plan("req_probe", request, principal).routes
            wire = route.adapter.to_wire(request, route.target)
            async with httpx.AsyncClient() as client:
                answer = await client.post(wire.url, content=wire.content, headers=wire.headers)
            headers = {name.lower(): value for name, value in answer.headers.items()}
            submitted = WireResponse(answer.status_code, headers, answer.content)
            task = route.adapter.accepted_task(submitted, route.target)
            assert task is not None
            kept = Submission("req_orphan", 1, route.target.name, AcceptedTask(task, submitted).document())
            job, _ = await jobs.submit(principal, request, key_digest=hash_key(secret))
            lapsed = utc_now() - timedelta(seconds=1)
            assert store.claim(job.id, owner="dead", request_id="req_orphan", lease_until=lapsed, now=lapsed)
            assert store.record_task(job.id, owner="dead", task=kept.document())
            try:
                cancelled = await jobs.cancel(principal, job.id)
            finally:
                await runtime.http.aclose()  # its connections belong to this event loop
            assert cancelled.status == "cancelled"
            return task.id, route.target.name

        task_id, route_name = anyio.run(scenario)
        assert tasks(sandbox_url, "fal")[task_id]["cancelled"]
        assert runtime.ledger.wait_idle(10)
        [row] = SqlLedgerStore(runtime.engine).query_entries(request_id="req_orphan")
    assert (row.attempt, row.route, row.error_code) == (1, route_name, "cancelled")
    assert row.cost_estimated and row.cost_micros > 0  # the quote: the host may have billed part of it


def test_an_accepted_task_is_held_briefly_until_it_is_kept_then_until_the_job_expires(
    jobs_gateway, jobs_key, sandbox_url
):
    # The pipeline as a job drives it, with a hook that records the task (as a job row would)
    # and a BFL task that never finishes: the test reads the held record at each step.
    _, secret = jobs_key
    gateway = jobs_gateway.runtime.gateway
    pending = SqlPendingAttempts(jobs_gateway.engine)
    expires_at = utc_now() + timedelta(hours=24)
    unkept_hold = timedelta(minutes=5)
    resolve_after: list[datetime] = []

    def held(request_id: str) -> datetime | None:
        found = [p.resolve_after for p in pending.pending() if p.entry.request_id == request_id]
        return None if not found else _aware(found[0])

    async def scenario() -> None:
        principal = await gateway.authenticate(secret)
        request = ImageRequest(
            operation="generate", model="flux-2-pro", prompt="[sandbox:never-finish] a kite", dialect="openai-images"
        )
        plan = gateway.plan("req_held_" + uuid.uuid4().hex[:8], request, principal)

        async def record(kept: object) -> bool:
            if kept is not None:
                first = held(plan.request_id)
                assert first is not None  # held (durably) before the task is kept
                resolve_after.append(first)
            return True

        hook = SubmissionHook(hold_until=expires_at, record=record, unkept_hold=unkept_hold)
        serving = asyncio.ensure_future(gateway.images.serve(plan, keep_raw_for=None, submissions=hook))
        deadline = time.monotonic() + 10
        while (moved := held(plan.request_id)) is None or moved < expires_at - timedelta(seconds=1):
            assert not serving.done() and time.monotonic() < deadline, "the hold was not moved to the job's expiry"
            await asyncio.sleep(0.02)
        resolve_after.append(moved)
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving

    anyio.run(scenario)
    unkept, kept = resolve_after
    # Until kept: the short hold (a process dying now leaves an ``unknown`` row within minutes).
    assert unkept <= utc_now() + unkept_hold and unkept < expires_at - timedelta(hours=23)
    assert abs((kept - expires_at).total_seconds()) < 1  # once kept: until the job expires


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive (they are stored in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
