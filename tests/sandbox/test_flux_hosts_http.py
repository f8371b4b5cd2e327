"""The sandbox's FLUX hosts on the wire: BFL, fal, Replicate and Together, as their clients see them."""

from __future__ import annotations

import base64
import io

import httpx
from PIL import Image

from imagegate.sandbox import SandboxConfig, running_sandbox

BFL = {"x-key": "bfl_test"}
FAL = {"authorization": "Key fal_test"}
REPLICATE = {"authorization": "Bearer r8_test"}


def _png(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_bfl_task_goes_pending_to_ready_on_a_separate_expiring_result_host(sandbox_url: str) -> None:
    body = {"prompt": "x", "width": 1024, "height": 2048, "input_image": _png(1024, 1024)}
    submitted = httpx.post(f"{sandbox_url}/v1/flux-2-pro", json=body, headers=BFL).json()
    # Credits from 1024² megapixels (3 + 1 x 1.5 + 1 x 1.5); *_mp in millions of pixels, as BFL reports.
    assert (submitted["cost"], submitted["input_mp"], submitted["output_mp"]) == (6.0, 1.05, 2.1)
    statuses = [httpx.get(submitted["polling_url"], headers=BFL).json() for _ in range(3)]
    assert [s["status"] for s in statuses] == ["Pending", "Pending", "Ready"]
    sample = statuses[-1]["result"]["sample"]
    assert httpx.URL(sample).host == "localhost" != httpx.URL(sandbox_url).host
    with Image.open(io.BytesIO(httpx.get(sample).content)) as image:
        assert image.size == (1024, 2048)
    assert httpx.get(sample.replace("sig=", "sig=0")).status_code == 404


def test_bfl_refuses_what_its_schema_refuses(sandbox_url: str) -> None:
    assert httpx.post(f"{sandbox_url}/v1/flux-2-pro", json={"prompt": "x"}).status_code == 401
    bad = httpx.post(f"{sandbox_url}/v1/flux-2-pro", json={"prompt": "x", "width": 1000, "height": 1024}, headers=BFL)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "width"]
    refs = {f"input_image_{i}": _png(8, 8) for i in range(2, 6)} | {"input_image": _png(8, 8), "prompt": "x"}
    assert httpx.post(f"{sandbox_url}/v1/flux-2-klein-4b", json=refs, headers=BFL).status_code == 422
    unknown = httpx.get(f"{sandbox_url}/v1/get_result", params={"id": "nope"}, headers=BFL).json()
    assert unknown["status"] == "Task not found"


def test_bfl_expired_and_moderated_tasks(sandbox_url: str) -> None:
    expired = httpx.post(
        f"{sandbox_url}/v1/flux-2-pro", json={"prompt": "[sandbox:expired] [sandbox:polls=0]"}, headers=BFL
    )
    ready = httpx.get(expired.json()["polling_url"], headers=BFL).json()
    assert httpx.get(ready["result"]["sample"]).status_code == 403
    moderated = httpx.post(f"{sandbox_url}/v1/flux-2-pro", json={"prompt": "[sandbox:moderation] x"}, headers=BFL)
    assert httpx.get(moderated.json()["polling_url"], headers=BFL).json()["status"] == "Request Moderated"


def test_bfl_answers_429_past_its_active_task_limit() -> None:
    with running_sandbox(SandboxConfig(bfl_max_active_tasks=2)) as url:
        for _ in range(2):
            assert httpx.post(f"{url}/v1/flux-2-pro", json={"prompt": "[sandbox:never-finish]"}, headers=BFL).is_success
        third = httpx.post(f"{url}/v1/flux-2-pro", json={"prompt": "x"}, headers=BFL)
        assert third.status_code == 429 and third.headers["retry-after"] == "1"


def test_fal_queue_drops_the_subpath_and_cancels_only_running_requests(sandbox_url: str) -> None:
    submitted = httpx.post(
        f"{sandbox_url}/fal-ai/flux-2/klein/4b", json={"prompt": "[sandbox:never-finish]"}, headers=FAL
    ).json()
    assert submitted["status_url"].endswith(f"/fal-ai/flux-2/requests/{submitted['request_id']}/status")
    assert httpx.get(submitted["status_url"], headers=FAL).json()["status"] == "IN_QUEUE"
    assert httpx.put(submitted["cancel_url"], headers=FAL).status_code == 202
    done = httpx.post(f"{sandbox_url}/fal-ai/flux-2-pro", json={"prompt": "[sandbox:polls=0]"}, headers=FAL).json()
    assert httpx.get(done["status_url"], headers=FAL).json()["status"] == "COMPLETED"
    result = httpx.get(done["response_url"], headers=FAL).json()
    assert result["has_nsfw_concepts"] == [False] and result["images"][0]["width"] == 1024
    assert httpx.put(done["cancel_url"], headers=FAL).json()["status"] == "ALREADY_COMPLETED"
    assert httpx.post(f"{sandbox_url}/fal-ai/flux-2-pro", json={"prompt": "x"}).status_code == 401


def test_replicate_holds_a_create_with_prefer_wait(sandbox_url: str) -> None:
    url = f"{sandbox_url}/v1/models/black-forest-labs/flux-2-pro/predictions"
    held = httpx.post(url, json={"input": {"prompt": "x"}}, headers={**REPLICATE, "prefer": "wait=5"})
    assert held.status_code == 201 and held.json()["status"] == "succeeded"
    assert isinstance(held.json()["output"], str)
    started = httpx.post(url, json={"input": {"prompt": "[sandbox:never-finish]"}}, headers=REPLICATE).json()
    assert started["status"] == "starting"
    cancelled = httpx.post(started["urls"]["cancel"], headers=REPLICATE).json()
    assert cancelled["status"] == "canceled"
    assert (
        httpx.post(url, json={"input": {"prompt": "x"}}, headers={**REPLICATE, "cancel-after": "soon"}).status_code
        == 400
    )


def test_together_serves_base64_under_its_prefix(sandbox_url: str) -> None:
    body = {"model": "black-forest-labs/FLUX.1-schnell", "prompt": "x", "response_format": "base64", "n": 2}
    answer = httpx.post(f"{sandbox_url}/together/v1/images/generations", json=body, headers=REPLICATE).json()
    assert [item["type"] for item in answer["data"]] == ["b64_json", "b64_json"]
    unknown = httpx.post(
        f"{sandbox_url}/together/v1/images/generations", json={**body, "model": "nope"}, headers=REPLICATE
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_available"


def test_together_takes_references_only_where_the_model_does(sandbox_url: str) -> None:
    url = f"{sandbox_url}/together/v1/images/generations"
    data_url = "data:image/png;base64," + _png(64, 64)
    base = {"prompt": "x", "response_format": "base64", "width": 1024, "height": 768}
    kontext = httpx.post(
        url, json={**base, "model": "black-forest-labs/FLUX.1-kontext-pro", "image_url": data_url}, headers=REPLICATE
    )
    assert kontext.status_code == 200 and len(kontext.json()["data"]) == 1
    flux2 = {**base, "model": "black-forest-labs/FLUX.2-pro", "reference_images": [data_url, data_url]}
    assert httpx.post(url, json=flux2, headers=REPLICATE).status_code == 200
    refused = [
        ({"model": "black-forest-labs/FLUX.1-schnell", "image_url": data_url}, "image_url"),
        ({"model": "black-forest-labs/FLUX.1-kontext-pro", "reference_images": [data_url]}, "reference_images"),
        ({"model": "black-forest-labs/FLUX.1-kontext-pro", "image_url": "data:image/png;base64,bm9wZQ=="}, "image_url"),
    ]
    for fields, param in refused:
        answer = httpx.post(url, json={**base, **fields}, headers=REPLICATE)
        assert (answer.status_code, answer.json()["error"]["param"]) == (400, param)
