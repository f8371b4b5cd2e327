"""``Idempotency-Key`` through the real gateway: one provider call and one charge per key."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from openai import OpenAI

from tests.pricing.support import png

PNG = png(1024, 1024)


async def test_concurrent_duplicates_make_one_provider_call(gateway, sandbox_control):
    key = gateway.create_key(f"idem-{uuid.uuid4().hex[:8]}")
    sandbox_control.delete("/_sandbox/requests")
    headers = {"authorization": f"Bearer {key}", "idempotency-key": uuid.uuid4().hex}
    body = {"model": "gpt-image-2", "prompt": "[sandbox:slow=0.3] idempotent", "size": "1024x1024", "quality": "low"}
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(
            *[client.post(gateway.url + "/v1/images/generations", json=body, headers=headers) for _ in range(4)]
        )
        assert [response.status_code for response in responses] == [200] * 4
        assert len({response.content for response in responses}) == 1
        assert len({response.headers["x-request-id"] for response in responses}) == 1
        assert sum(response.headers.get("idempotent-replayed") == "true" for response in responses) == 3
        later = await client.post(gateway.url + "/v1/images/generations", json=body, headers=headers)
        assert later.content == responses[0].content and later.headers["idempotent-replayed"] == "true"
        assert later.headers["x-imagegate-cost-usd"] == responses[0].headers["x-imagegate-cost-usd"]
        different = await client.post(
            gateway.url + "/v1/images/generations", json={**body, "prompt": "other"}, headers=headers
        )
        assert different.status_code == 400 and different.json()["error"]["param"] == "Idempotency-Key"
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1
    assert len(gateway.ledger(responses[0].headers["x-request-id"])) == 1


def test_keys_of_other_callers_do_not_collide_and_streams_refuse_the_header(gateway):
    shared = uuid.uuid4().hex
    for name in ("idem-a", "idem-b"):
        key = gateway.create_key(f"{name}-{shared[:6]}")
        response = httpx.post(
            gateway.url + "/v1/images/generations",
            timeout=30,
            headers={"authorization": f"Bearer {key}", "idempotency-key": shared},
            json={"model": "gpt-image-2", "prompt": name},
        )
        assert response.status_code == 200 and "idempotent-replayed" not in response.headers
    streamed = httpx.post(
        gateway.url + "/v1/images/generations",
        timeout=30,
        headers={"authorization": f"Bearer {key}", "idempotency-key": uuid.uuid4().hex},
        json={"model": "gpt-image-2", "prompt": "x", "stream": True},
    )
    assert streamed.status_code == 400 and streamed.json()["error"]["param"] == "Idempotency-Key"


async def test_twenty_duplicates_of_a_failing_request_share_the_first_requests_outcome(gateway, sandbox_control):
    key = gateway.create_key(f"idem-fail-{uuid.uuid4().hex[:8]}")
    sandbox_control.delete("/_sandbox/requests")
    headers = {"authorization": f"Bearer {key}", "idempotency-key": uuid.uuid4().hex}
    body = {"model": "gpt-image-2", "prompt": "[sandbox:slow=0.4] [sandbox:500] fails", "quality": "low"}
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(
            *[client.post(gateway.url + "/v1/images/generations", json=body, headers=headers) for _ in range(20)]
        )
    assert {response.status_code for response in responses} == {502}
    assert len({response.content for response in responses}) == 1
    request_ids = {response.headers["x-request-id"] for response in responses}
    assert len(request_ids) == 1
    assert sum(response.headers.get("idempotent-replayed") == "true" for response in responses) == 19
    provider_calls = sandbox_control.get("/_sandbox/requests").json()["count"]
    # Exactly the first request's attempts (the gateway's own retries), every one in the ledger.
    assert provider_calls == len(gateway.ledger(request_ids.pop())) >= 1


def test_an_edit_retried_by_the_openai_sdk_is_replayed(gateway, sandbox_control):
    key = gateway.create_key(f"idem-edit-{uuid.uuid4().hex[:8]}")
    sandbox_control.delete("/_sandbox/requests")
    # The first attempt outlives the SDK's timeout; the SDK retries with a new multipart boundary.
    client = OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=1, timeout=1.0)
    result = client.images.edit(
        model="gpt-image-2",
        image=("in.png", PNG, "image/png"),
        prompt="[sandbox:slow=1.5] add a hat",
        extra_headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert result.data is not None and result.data[0].b64_json
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1


def test_reordered_json_is_the_same_request(gateway, sandbox_control):
    key = gateway.create_key(f"idem-json-{uuid.uuid4().hex[:8]}")
    sandbox_control.delete("/_sandbox/requests")
    headers = {
        "authorization": f"Bearer {key}",
        "idempotency-key": uuid.uuid4().hex,
        "content-type": "application/json",
    }
    bodies = [
        b'{"model": "gpt-image-2", "prompt": "a fox", "size": "1024x1024", "quality": "low"}',
        b'{"quality":"low","size":"1024x1024","prompt":"a fox","model":"gpt-image-2"}',
    ]
    first, second = (
        httpx.post(gateway.url + "/v1/images/generations", content=body, headers=headers, timeout=30) for body in bodies
    )
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content == first.content and second.headers["idempotent-replayed"] == "true"
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1


def _gemini(prompt: str) -> dict[str, object]:
    return {"contents": [{"parts": [{"text": prompt}]}], "generationConfig": {"responseModalities": ["IMAGE"]}}


def _imagen(prompt: str) -> dict[str, object]:
    return {"instances": [{"prompt": prompt}], "parameters": {"sampleCount": 1}}


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1beta/models/nano-banana-2:generateContent", _gemini), ("/v1beta/models/imagen-4:predict", _imagen)],
    ids=["gemini", "imagen"],
)
def test_google_dialects_honour_the_key(google_gateway, sandbox_control, path, body):
    key = google_gateway.create_key(f"idem-google-{uuid.uuid4().hex[:8]}")
    sandbox_control.delete("/_sandbox/requests")
    headers = {"x-goog-api-key": key, "idempotency-key": uuid.uuid4().hex}
    first = httpx.post(google_gateway.url + path, json=body("a heron"), headers=headers, timeout=30)
    second = httpx.post(google_gateway.url + path, json=body("a heron"), headers=headers, timeout=30)
    assert (first.status_code, second.status_code) == (200, 200), first.text
    assert second.content == first.content and second.headers["idempotent-replayed"] == "true"
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1
    other = httpx.post(google_gateway.url + path, json=body("a crane"), headers=headers, timeout=30)
    assert other.status_code == 400 and other.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "Idempotency-Key" in other.json()["error"]["message"]
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1
