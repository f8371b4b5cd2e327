"""The Batch API envelopes without a network: lines packed, answers unpacked, states mapped."""

from __future__ import annotations

import base64

import orjson
import pytest

from imagegate.domain.errors import ModerationBlocked, RateLimited
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.providers.base import RouteTarget, WireRequest, WireResponse
from imagegate.providers.batch import BatchError, BatchLine
from imagegate.providers.gemini import GeminiImageAdapter
from imagegate.providers.gemini import batch as gemini_batch
from imagegate.providers.openai import OpenAIImagesAdapter
from imagegate.providers.openai import batch as openai_batch

OPENAI = RouteTarget("a/openai/m", "a", "openai", "gpt-image-2", "https://api.openai.com/v1", "sk-x")
GEMINI = RouteTarget("b/gemini/m", "b", "gemini", "gemini-2.5-flash-image", "https://g.example", "AIza-x")
VERTEX = RouteTarget(
    "c/gemini/m", "c", "gemini", "gemini-2.5-flash-image", "https://g.example", "t", options={"vertex_project": "p"}
)


async def test_openai_submit_uploads_one_jsonl_file_then_creates_the_batch():
    sent: list[WireRequest] = []

    async def send(wire: WireRequest) -> WireResponse:
        sent.append(wire)
        return WireResponse(200, {}, b'{"id": "file-1"}' if wire.url.endswith("/files") else b'{"id": "batch_1"}')

    api = OpenAIImagesAdapter().batch_api(OPENAI)
    assert api is not None
    body = b'{"prompt": "a"}'
    line = BatchLine("000001", WireRequest("POST", "https://api.openai.com/v1/images/generations", {}, content=body))
    assert await api.submit([line], OPENAI, send) == "batch_1"
    upload, create = sent
    assert upload.files is not None and upload.form == [("purpose", "batch")]
    assert orjson.loads(upload.files[0][1][1]) == {
        "custom_id": "000001",
        "method": "POST",
        "url": "/v1/images/generations",
        "body": {"prompt": "a"},
    }
    assert create.content is not None and orjson.loads(create.content)["endpoint"] == "/v1/images/generations"
    assert upload.headers["authorization"] == "Bearer sk-x"


def test_openai_output_lines_become_the_lines_own_answers():
    ok = openai_batch._answer(
        b'{"custom_id": "k", "response": {"status_code": 200, "request_id": "req_1", "body": {"data": []}}}'
    )
    assert (ok.key, ok.response.status, ok.response.headers, ok.not_run) == ("k", 200, {"x-request-id": "req_1"}, None)
    refused = openai_batch._answer(
        b'{"custom_id": "m", "response": {"status_code": 400, "body": {"error": {"code": "moderation_blocked",'
        b' "type": "image_generation_user_error", "message": "no"}}}}'
    )
    assert isinstance(OpenAIImagesAdapter().error_from_wire(refused.response), ModerationBlocked)
    expired = openai_batch._answer(b'{"custom_id": "e", "response": null, "error": {"code": "batch_expired"}}')
    assert expired.not_run == "batch_expired"
    with pytest.raises(BatchError):
        openai_batch._answer(b'{"no": "custom_id"}')
    with pytest.raises(BatchError, match="unknown status"):
        openai_batch.OpenAIBatchApi._status({"status": "sleeping"})


def test_gemini_inline_errors_map_through_the_adapter_like_a_plain_answer():
    limited = gemini_batch._answer({"error": {"code": 8, "message": "slow down"}, "metadata": {"key": "k"}})
    assert limited.response.status == 429
    assert isinstance(GeminiImageAdapter().error_from_wire(limited.response), RateLimited)
    done = gemini_batch._answer({"response": {"candidates": []}, "metadata": {"key": "j"}})
    assert (done.key, done.response.status) == ("j", 200)
    state = gemini_batch.GeminiBatchApi._status({"state": "BATCH_STATE_EXPIRED"})
    assert (state.state, state.has_results) == ("expired", False)


def test_vertex_routes_have_no_batch_api():
    adapter = GeminiImageAdapter()
    assert adapter.batch_api(VERTEX) is None
    assert adapter.batch_api(GEMINI) is not None


async def test_an_openai_edit_line_is_the_json_edit_body_on_the_edits_endpoint():
    image, mask = b"\x89PNG\r\n\x1a\nimage", b"\x89PNG\r\n\x1a\nmask"
    request = ImageRequest(
        operation="edit",
        model="alias",
        prompt="add a hat",
        dialect="openai-images",
        quality="low",
        images=[InputImage(image, content_type="image/png"), InputImage(image, content_type=None)],
        mask=InputImage(mask, content_type="image/png"),
    )
    adapter = OpenAIImagesAdapter()
    wire = adapter.batch_wire(request, OPENAI)
    assert wire.url == "https://api.openai.com/v1/images/edits" and wire.files is None and wire.content is not None
    assert wire.headers["content-type"] == "application/json"
    as_url = "data:image/png;base64," + base64.b64encode(image).decode()
    assert orjson.loads(wire.content) == {
        "model": "gpt-image-2",
        "prompt": "add a hat",
        "quality": "low",
        "images": [{"image_url": as_url}, {"image_url": as_url}],
        "mask": {"image_url": "data:image/png;base64," + base64.b64encode(mask).decode()},
    }
    # A single edit stays multipart, as the SDK sends it; a generation's batch line is its ordinary body.
    assert adapter.to_wire(request, OPENAI).files is not None
    generation = ImageRequest(operation="generate", model="alias", prompt="a", dialect="openai-images")
    assert adapter.batch_wire(generation, OPENAI).content == adapter.to_wire(generation, OPENAI).content

    sent: list[WireRequest] = []

    async def send(sent_wire: WireRequest) -> WireResponse:
        sent.append(sent_wire)
        return WireResponse(200, {}, b'{"id": "file-1"}' if sent_wire.url.endswith("/files") else b'{"id": "b"}')

    api = adapter.batch_api(OPENAI)
    assert api is not None
    await api.submit([BatchLine("000001", wire)], OPENAI, send)
    assert sent[1].content is not None and orjson.loads(sent[1].content)["endpoint"] == "/v1/images/edits"
