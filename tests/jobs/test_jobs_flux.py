"""FLUX jobs end to end (submit-and-poll hosts): the openai SDK's raw client and plain HTTP against a
real gateway, BFL and fal in the sandbox; the image fetched by URL, the ledger and cost of the
synchronous path, a moderated task, and a cancel that reaches the host."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from imagegate.store.jobs import SqlJobStore
from tests.jobs.test_jobs_e2e import _client, fetch_image, poll, submit, submit_over
from tests.support.flux import tasks, wait_for


@pytest.mark.parametrize("kind", ["sdk", "http"])
def test_a_flux_job_completes_with_the_image_by_url(jobs_gateway, jobs_key, sandbox_url, kind):
    _, secret = jobs_key
    body = {"model": "flux-2-pro", "prompt": f"a harbour ({kind})", "size": "1024x768", "output_format": "png"}
    done = poll(jobs_gateway, secret, submit_over(kind, jobs_gateway, secret, body)["id"])
    assert done["status"] == "completed", done["error"]
    [image] = done["result"]["data"]
    assert set(image) == {"url"}
    picture = fetch_image(image["url"])
    assert (picture.format, picture.size) == ("PNG", (1024, 768))
    [row] = jobs_gateway.ledger(done["request_id"])
    assert (row.provider, row.status, row.cost_micros) == ("bfl", "ok", done["cost"]["micros"])
    assert tasks(sandbox_url, "bfl")[row.provider_request_id]["downloads"] == 1  # one task, fetched once


def test_a_flux_job_costs_what_the_synchronous_call_costs(jobs_gateway, jobs_key):
    _, secret = jobs_key
    client = _client(jobs_gateway, secret)
    body = {"model": "flux-2-pro", "prompt": "a mountain hut", "size": "1536x1024"}
    done = poll(jobs_gateway, secret, submit(client, body)["id"])
    assert done["status"] == "completed", done["error"]
    synchronous = client.images.with_raw_response.generate(**body)
    [job_row] = jobs_gateway.ledger(done["request_id"])
    [sync_row] = jobs_gateway.ledger(synchronous.headers["x-request-id"])
    same = ("model", "provider", "provider_model", "route", "operation", "status", "images", "usage")
    assert {f: getattr(job_row, f) for f in same} == {f: getattr(sync_row, f) for f in same}
    assert job_row.cost_micros == sync_row.cost_micros == done["cost"]["micros"] > 0
    assert done["cost"]["usd"] == synchronous.headers["x-imagegate-cost-usd"]


def test_a_moderated_flux_task_fails_the_job_with_the_synchronous_code(jobs_gateway, jobs_key):
    _, secret = jobs_key
    job = submit(_client(jobs_gateway, secret), {"model": "flux-2-pro", "prompt": "[sandbox:moderation] x"})
    failed = poll(jobs_gateway, secret, job["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "moderation_blocked", failed["error"]
    assert failed["cost"]["micros"] == sum(row.cost_micros for row in jobs_gateway.ledger(failed["request_id"]))


def test_cancelling_a_flux_job_cancels_its_task_at_the_host(jobs_gateway, jobs_key, sandbox_url):
    _, secret = jobs_key
    job = submit(_client(jobs_gateway, secret), {"model": "fal-flux-2-pro", "prompt": "[sandbox:never-finish] x"})
    running = poll(jobs_gateway, secret, job["id"], until={"in_progress"})

    def kept_task() -> dict[str, Any] | None:
        stored = SqlJobStore(jobs_gateway.engine).get(job["id"])
        return None if stored is None else stored.provider_task

    kept = wait_for(kept_task, 20)  # accepted by fal, and kept on the job before the first poll
    cancelled = httpx.post(
        f"{jobs_gateway.url}/v1/images/jobs/{job['id']}/cancel", headers={"authorization": f"Bearer {secret}"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    task_id = kept["task"]["id"]
    assert wait_for(lambda: tasks(sandbox_url, "fal")[task_id]["cancelled"], 10)
    # The abandoned attempt is in the ledger once, at its quote (the host may have billed it).
    rows = wait_for(lambda: jobs_gateway.ledger(running["request_id"]), 10)
    [row] = rows
    assert (row.error_code, row.cost_estimated) == ("cancelled", True) and row.cost_micros > 0


def test_a_failed_task_followed_by_a_fallback_leaves_no_task_to_resume(jobs_gateway, jobs_key, sandbox_control):
    _, secret = jobs_key
    fault = {"fault": "task-error", "model": "flux-2-pro", "path": "/v1/flux-2-pro", "count": 1}
    assert sandbox_control.post("/_sandbox/faults", json=fault).status_code == 201
    job = submit(_client(jobs_gateway, secret), {"model": "flux-then-gpt", "prompt": "a boat", "size": "1024x1024"})
    done = poll(jobs_gateway, secret, job["id"])
    assert done["status"] == "completed", done["error"]
    first, second = jobs_gateway.ledger(done["request_id"])
    assert (first.provider, first.status, second.provider, second.status) == ("bfl", "error", "openai", "ok")
    stored = SqlJobStore(jobs_gateway.engine).get(job["id"])
    # The BFL task was kept while it ran; the fallback's attempt dropped it: a crash now reruns the job.
    assert stored is not None and stored.provider_task is None
