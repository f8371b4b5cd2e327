"""Image jobs end to end: the openai SDK's raw client and plain HTTP against a real gateway, the
sandbox as OpenAI and Gemini, results stored through the image-store port and fetched by URL."""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from imagegate.store.jobs import SqlJobStore
from tests.jobs.conftest import jobs_config, sandbox_submissions
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway
from tests.support.metrics import samples, value

JOB_FIELDS = {
    "id",
    "object",
    "status",
    "model",
    "created_at",
    "completed_at",
    "expires_at",
    "error",
    "usage",
    "cost",
    "result",
}


def _client(gateway: GatewayHandle, secret: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=secret, base_url=gateway.url + "/v1", max_retries=0)


def submit(client: openai.OpenAI, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    """``POST /v1/images/jobs`` through the SDK's raw request method."""
    job: dict[str, Any] = client.post("/images/jobs", body=body, cast_to=object, options={"headers": headers})
    return job


def submit_over(kind: str, gateway: GatewayHandle, secret: str, body: dict[str, Any]) -> dict[str, Any]:
    """Submit a job through the openai SDK's raw client (``sdk``) or plain HTTP (``http``)."""
    if kind == "sdk":
        return submit(_client(gateway, secret), body)
    created = httpx.post(f"{gateway.url}/v1/images/jobs", json=body, headers={"authorization": f"Bearer {secret}"})
    assert created.status_code == 202, created.text
    job: dict[str, Any] = created.json()
    return job


def poll(gateway: GatewayHandle, secret: str, job_id: str, until: set[str] | None = None) -> dict[str, Any]:
    """GET the job until it is in one of ``until`` (a final status by default)."""
    until = until or {"completed", "failed", "cancelled"}
    deadline = time.monotonic() + 60  # a guard against a stuck job, generous for a loaded machine
    while True:
        job = httpx.get(f"{gateway.url}/v1/images/jobs/{job_id}", headers={"authorization": f"Bearer {secret}"}).json()
        if job["status"] in until:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def fetch_image(url: str) -> Image.Image:
    """Download a result URL and open it."""
    response = httpx.get(url)
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


def test_an_openai_route_job_completes_with_the_ledger_and_cost_of_the_synchronous_path(jobs_gateway, jobs_key):
    name, secret = jobs_key
    client = _client(jobs_gateway, secret)
    body = {"model": "gpt-image-2", "prompt": "a lighthouse at dusk", "size": "1024x1536", "quality": "low"}
    queued = submit(client, body)
    assert set(queued) >= JOB_FIELDS and queued["object"] == "image.job"
    assert queued["status"] in ("queued", "in_progress", "completed") and queued["expires_at"] > queued["created_at"]
    done = poll(jobs_gateway, secret, queued["id"])
    assert done["status"] == "completed", done
    [image] = done["result"]["data"]
    assert set(image) == {"url"} and "b64_json" not in str(done)
    picture = fetch_image(image["url"])
    assert (picture.format, picture.size) == ("PNG", (1024, 1536))

    synchronous = client.images.with_raw_response.generate(**body)
    sync_request = synchronous.headers["x-request-id"]
    [job_row] = jobs_gateway.ledger(done["request_id"])
    [sync_row] = jobs_gateway.ledger(sync_request)
    same = ("model", "provider", "provider_model", "route", "operation", "dialect", "status", "images", "usage")
    assert {f: getattr(job_row, f) for f in same} == {f: getattr(sync_row, f) for f in same}
    assert job_row.cost_micros == sync_row.cost_micros == done["cost"]["micros"] > 0
    assert job_row.key_name == name and done["cost"]["usd"] == synchronous.headers["x-imagegate-cost-usd"]
    assert done["usage"] == synchronous.parse().usage.model_dump()
    assert client.get(f"/images/jobs/{done['id']}", cast_to=object) == done  # the README's polling call


def test_a_gemini_route_job_over_plain_http(jobs_gateway, jobs_key):
    _, secret = jobs_key
    headers = {"authorization": f"Bearer {secret}"}
    body = {"model": "nano-banana-2", "prompt": "a red bicycle", "metadata": {"order": "42"}}
    created = httpx.post(f"{jobs_gateway.url}/v1/images/jobs", json=body, headers=headers)
    assert created.status_code == 202, created.text
    done = poll(jobs_gateway, secret, created.json()["id"])
    assert done["status"] == "completed" and done["metadata"] == {"order": "42"}, done
    [row] = jobs_gateway.ledger(done["request_id"])
    assert row.provider == "gemini" and row.cost_micros == done["cost"]["micros"]
    picture = fetch_image(done["result"]["data"][0]["url"])
    assert picture.format in ("PNG", "JPEG") and picture.size[0] > 0


@pytest.mark.parametrize(("model", "kind"), [("gpt-image-2", "http"), ("nano-banana-2", "sdk")])
def test_the_other_client_on_the_openai_and_gemini_routes(jobs_gateway, jobs_key, model, kind):
    _, secret = jobs_key
    body = {"model": model, "prompt": f"a kite ({kind})", "size": "1024x1024"}
    done = poll(jobs_gateway, secret, submit_over(kind, jobs_gateway, secret, body)["id"])
    assert done["status"] == "completed", done["error"]
    [row] = jobs_gateway.ledger(done["request_id"])
    assert row.model == model and row.cost_micros == done["cost"]["micros"]
    picture = fetch_image(done["result"]["data"][0]["url"])
    # The format the result names (Gemini answers JPEG, GPT Image PNG by default).
    assert picture.size == (1024, 1024) and picture.format == done["result"]["output_format"].upper()


def test_an_edit_job_takes_multipart_and_keeps_no_bytes_in_the_database(jobs_gateway, jobs_key):
    _, secret = jobs_key
    source = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(source, format="PNG")
    created = httpx.post(
        f"{jobs_gateway.url}/v1/images/jobs",
        data={"model": "gpt-image-2", "prompt": "make it red", "operation": "edit", "quality": "low"},
        files={"image[]": ("in.png", source.getvalue(), "image/png")},
        headers={"authorization": f"Bearer {secret}"},
    )
    assert created.status_code == 202, created.text
    assert created.json()["operation"] == "edit"
    done = poll(jobs_gateway, secret, created.json()["id"])
    assert done["status"] == "completed", done
    [row] = jobs_gateway.ledger(done["request_id"])
    assert row.operation == "edit"
    with jobs_gateway.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT request, result FROM image_jobs WHERE id = ?", (done["id"],)).one()
    assert len(str(stored)) < 4000 and "iVBOR" not in str(stored)


def test_a_moderation_block_fails_the_job_with_the_synchronous_code(jobs_gateway, jobs_key):
    _, secret = jobs_key
    client = _client(jobs_gateway, secret)
    job = submit(client, {"model": "gpt-image-2", "prompt": "[sandbox:moderation=output] x"})
    failed = poll(jobs_gateway, secret, job["id"])
    assert failed["status"] == "failed" and failed["result"] is None
    assert failed["error"]["code"] == "moderation_blocked" and failed["completed_at"] is not None
    # A failed job's cost is what its attempts cost, as the ledger has them.
    assert failed["cost"]["micros"] == sum(row.cost_micros for row in jobs_gateway.ledger(failed["request_id"]))
    with pytest.raises(openai.BadRequestError) as sync_error:
        client.images.generate(model="gpt-image-2", prompt="[sandbox:moderation=output] x")
    assert sync_error.value.code == failed["error"]["code"]


def test_job_counts_by_status_are_gauges_read_from_the_store(jobs_gateway, jobs_key):
    _, secret = jobs_key
    client = _client(jobs_gateway, secret)
    before = samples(httpx.get(jobs_gateway.url + "/metrics").text)
    done = poll(
        jobs_gateway, secret, submit(client, {"model": "gpt-image-2", "prompt": "a kite", "quality": "low"})["id"]
    )
    blocked = poll(
        jobs_gateway, secret, submit(client, {"model": "gpt-image-2", "prompt": "[sandbox:moderation=output] x"})["id"]
    )
    assert (done["status"], blocked["status"]) == ("completed", "failed")
    after = samples(httpx.get(jobs_gateway.url + "/metrics").text)
    stored = SqlJobStore(jobs_gateway.engine).count_by_status()
    assert set(stored) == {"queued", "in_progress", "completed", "failed", "cancelled"}
    assert {status: value(after, "imagegate_jobs", status=status) for status in stored} == stored
    assert value(after, "imagegate_jobs", status="completed") - value(before, "imagegate_jobs", status="completed") == 1
    assert value(after, "imagegate_jobs", status="failed") - value(before, "imagegate_jobs", status="failed") == 1


def test_cancelling_a_running_job(jobs_gateway, jobs_key, sandbox_control):
    _, secret = jobs_key
    headers = {"authorization": f"Bearer {secret}"}
    job = submit(_client(jobs_gateway, secret), {"model": "gpt-image-2", "prompt": "[sandbox:slow=5] slow one"})
    running = poll(jobs_gateway, secret, job["id"], until={"in_progress"})
    cancelled = httpx.post(f"{jobs_gateway.url}/v1/images/jobs/{job['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # The abandoned provider call is still in the ledger, with its outcome.
    deadline = time.monotonic() + 5
    while not jobs_gateway.ledger(running["request_id"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert poll(jobs_gateway, secret, job["id"])["status"] == "cancelled"
    again = httpx.post(f"{jobs_gateway.url}/v1/images/jobs/{job['id']}/cancel", headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_idempotency_key_gives_one_job_one_submission_one_charge(jobs_gateway, jobs_key, sandbox_url):
    name, secret = jobs_key
    client = _client(jobs_gateway, secret)
    prompt = f"idempotent {uuid.uuid4().hex}"
    body = {"model": "gpt-image-2", "prompt": prompt, "quality": "low"}
    first = submit(client, body, **{"Idempotency-Key": "order-7"})
    second = submit(client, body, **{"Idempotency-Key": "order-7"})
    assert first["id"] == second["id"]
    done = poll(jobs_gateway, secret, first["id"])
    assert done["status"] == "completed"
    rows = [row for row in jobs_gateway.ledger() if row.key_name == name]
    assert len(rows) == 1
    with pytest.raises(openai.BadRequestError) as reused:
        submit(client, {**body, "prompt": "another"}, **{"Idempotency-Key": "order-7"})
    assert reused.value.code == "idempotency_key_reused"


def test_listing_is_per_key_and_paginated(jobs_gateway, jobs_key):
    _, secret = jobs_key
    headers = {"authorization": f"Bearer {secret}"}
    client = _client(jobs_gateway, secret)
    ids = [submit(client, {"model": "gpt-image-2", "prompt": f"p{i}", "quality": "low"})["id"] for i in range(3)]
    page = httpx.get(f"{jobs_gateway.url}/v1/images/jobs?limit=2", headers=headers).json()
    assert page["has_more"] is True and [job["id"] for job in page["data"]] == ids[::-1][:2]
    rest = httpx.get(f"{jobs_gateway.url}/v1/images/jobs?limit=2&after={page['last_id']}", headers=headers).json()
    assert [job["id"] for job in rest["data"]] == ids[:1] and rest["has_more"] is False
    other = jobs_gateway.create_key(f"other-{uuid.uuid4().hex[:8]}")
    assert (
        httpx.get(f"{jobs_gateway.url}/v1/images/jobs", headers={"authorization": f"Bearer {other}"}).json()["data"]
        == []
    )
    missing = httpx.get(f"{jobs_gateway.url}/v1/images/jobs/{ids[0]}", headers={"authorization": f"Bearer {other}"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    for job_id in ids:
        poll(jobs_gateway, secret, job_id)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "gpt-image-2", "prompt": "x", "stream": True}, "stream"),
        ({"model": "gpt-image-2", "prompt": "x", "response_format": "b64_json"}, "response_format"),
        ({"model": "no-such-model", "prompt": "x"}, "model"),
        ({"model": "gpt-image-2", "prompt": "x", "metadata": {"a": 1}}, "metadata"),
        ({"model": "gpt-image-2", "prompt": "x", "webhook": "we_unknown"}, "webhook"),
        ({"model": "gpt-image-2", "prompt": "x", "operation": "edit"}, "operation"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter_and_creates_no_job(jobs_gateway, jobs_key, body, param):
    _, secret = jobs_key
    headers = {"authorization": f"Bearer {secret}"}
    answer = httpx.post(f"{jobs_gateway.url}/v1/images/jobs", json=body, headers=headers)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == param, answer.text
    assert httpx.get(f"{jobs_gateway.url}/v1/images/jobs", headers=headers).json()["data"] == []


def test_a_clean_shutdown_lets_a_running_job_finish_and_leaves_queued_ones_queued(sandbox_url, image_store, tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    since = time.time()
    with running_gateway(engine, jobs_config(sandbox_url), image_store=image_store, jobs_concurrency=1) as gateway:
        secret = gateway.create_key("drain")
        client = _client(gateway, secret)
        running = submit(client, {"model": "gpt-image-2", "prompt": "[sandbox:slow=1] finishing", "quality": "low"})
        waiting = submit(client, {"model": "gpt-image-2", "prompt": "left for later", "quality": "low"})
        poll(gateway, secret, running["id"], until={"in_progress"})
    store = SqlJobStore(engine)
    finished, still_queued = store.get(running["id"]), store.get(waiting["id"])
    assert finished is not None and finished.status == "completed" and finished.runs == 1
    assert still_queued is not None and still_queued.status == "queued" and still_queued.runs == 0
    assert len([r for r in sandbox_submissions(sandbox_url, since) if r["faults"]]) == 1
    engine.dispose()
