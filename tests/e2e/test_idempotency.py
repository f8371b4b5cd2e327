"""``Idempotency-Key`` through the real gateway: one provider call and one charge per key."""

from __future__ import annotations

import asyncio
import uuid

import httpx


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
