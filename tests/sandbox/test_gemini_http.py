"""The sandbox as the Gemini API, over real HTTP, with httpx and the official google-genai SDK."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image

from tests.sandbox.helpers import encoded_image

GOOGLE = {"x-goog-api-key": "AIza-sandbox"}


@pytest.fixture(scope="module")
def gclient(sandbox_url: str) -> Iterator[genai.Client]:
    """google-genai pointed at the sandbox (3.x calls /v1/...)."""
    sdk = genai.Client(api_key="AIza-sandbox", http_options=types.HttpOptions(base_url=sandbox_url))
    yield sdk
    sdk.close()


def post(client: httpx.Client, model: str, body: dict, *, method: str = "generateContent", **kwargs) -> httpx.Response:
    return client.post(f"/v1beta/models/{model}:{method}", json=body, headers=GOOGLE, **kwargs)


def prompt(text: str, **config) -> dict:
    body: dict = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if config:
        body["generationConfig"] = config
    return body


def _image_part(response: types.GenerateContentResponse) -> Image.Image:
    [blob] = [part.inline_data for part in response.parts if part.inline_data is not None and not part.thought]
    return Image.open(io.BytesIO(blob.data))


@pytest.mark.parametrize(
    ("model", "ratio", "size", "pixels", "tokens"),
    [
        ("gemini-3.1-flash-image", "16:9", "2K", (2752, 1536), 1680),
        ("gemini-3.1-flash-image", "1:8", "1K", (352, 2928), 1120),
        ("gemini-3.1-flash-image", "21:9", "512", (784, 336), 747),
        ("gemini-3-pro-image", "4:5", "4K", (3712, 4608), 2000),
        ("gemini-3-pro-image-preview", "3:2", "1K", (1264, 848), 1120),
        ("gemini-2.5-flash-image", "16:9", None, (1344, 768), 1290),
    ],
)
def test_images_have_the_exact_size_of_the_ratio_and_tier_and_image_tokens_from_the_table(
    gclient, model, ratio, size, pixels, tokens
):
    response = gclient.models.generate_content(
        model=model,
        contents="a lighthouse",
        config=types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio=ratio, image_size=size)),
    )
    image = _image_part(response)
    assert image.size == pixels and image.format == "JPEG"
    usage = response.usage_metadata
    assert usage.candidates_tokens_details[0].modality == types.MediaModality.IMAGE
    assert usage.candidates_tokens_details[0].token_count == tokens
    # The reply text's tokens are in candidatesTokenCount without a modality, as on the live API.
    assert usage.candidates_token_count > tokens
    assert usage.total_token_count == (
        usage.prompt_token_count + usage.candidates_token_count + (usage.thoughts_token_count or 0)
    )
    assert (
        (usage.thoughts_token_count or 0) > 0
        if model != "gemini-2.5-flash-image"
        else usage.thoughts_token_count is None
    )
    assert response.candidates[0].finish_reason == types.FinishReason.STOP


def test_reference_images_cost_prompt_image_tokens_and_edits_follow_their_shape(client):
    part = {
        "inlineData": {"mimeType": "image/png", "data": base64.urlsafe_b64encode(encoded_image(1200, 900)).decode()}
    }
    body = {"contents": [{"parts": [{"text": "make it blue"}, part, part]}]}
    answer = post(client, "gemini-3-pro-image", body).json()
    details = {d["modality"]: d["tokenCount"] for d in answer["usageMetadata"]["promptTokensDetails"]}
    assert details["IMAGE"] == 2 * 560
    data = answer["candidates"][0]["content"]["parts"][-1]["inlineData"]["data"]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (1200, 896)  # 4:3, nearest to 1200x900


def test_response_modalities_image_only_has_no_text_part(client):
    parts = post(client, "gemini-2.5-flash-image", prompt("x", responseModalities=["IMAGE"])).json()["candidates"][0][
        "content"
    ]["parts"]
    assert [list(part) for part in parts] == [["inlineData", "thoughtSignature"]]


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (
            "gemini-3-pro-image",
            prompt("x", imageConfig={"imageSize": "1k"}),
            "generation_config.image_config.image_size",
        ),
        (
            "gemini-3-pro-image",
            prompt("x", imageConfig={"aspectRatio": "1:8"}),
            "generation_config.image_config.aspect_ratio",
        ),
        (
            "gemini-2.5-flash-image",
            prompt("x", imageConfig={"imageSize": "1K"}),
            "generation_config.image_config.image_size",
        ),
        ("gemini-3-pro-image", prompt("x", candidateCount=2), "generation_config.candidate_count"),
        (
            "gemini-3-pro-image",
            prompt("x", imageConfig={"personGeneration": "ALLOW_ADULT"}),
            "generation_config.image_config.personGeneration",
        ),
        ("gemini-2.5-flash-image", {**prompt("x"), "tools": [{"googleSearch": {}}]}, "tools"),
        ("gemini-3-pro-image", {**prompt("x"), "bogus": 1}, "bogus"),
    ],
)
def test_invalid_arguments_are_400_with_a_field_violation(client, model, body, field):
    response = post(client, model, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["fieldViolations"][0]["field"] == field


def test_google_search_is_a_tool_for_gemini_3(client):
    assert post(client, "gemini-3-pro-image", {**prompt("x"), "tools": [{"googleSearch": {}}]}).status_code == 200


def test_keys_and_unknown_models(client, sandbox_url):
    missing = httpx.post(f"{sandbox_url}/v1beta/models/gemini-3-pro-image:generateContent", json=prompt("x"))
    assert (missing.status_code, missing.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    by_query = httpx.post(f"{sandbox_url}/v1beta/models/gemini-3-pro-image:generateContent?key=k", json=prompt("x"))
    assert by_query.status_code == 200
    unknown = post(client, "gemini-9-image", prompt("x"))
    assert (unknown.status_code, unknown.json()["error"]["status"]) == (404, "NOT_FOUND")


def test_safety_outcomes_are_http_200(client):
    blocked = post(client, "gemini-3-pro-image", prompt("x [sandbox:moderation]")).json()
    assert blocked["promptFeedback"]["blockReason"] == "SAFETY" and "candidates" not in blocked
    withheld = post(client, "gemini-3-pro-image", prompt("x [sandbox:moderation=output]")).json()
    assert withheld["candidates"][0]["finishReason"] == "IMAGE_SAFETY"
    prohibited = post(client, "gemini-3-pro-image", prompt("x [sandbox:prohibited]")).json()
    assert prohibited["candidates"][0]["finishReason"] == "PROHIBITED_CONTENT"
    no_image = post(client, "gemini-3-pro-image", prompt("x [sandbox:no-image]")).json()
    assert no_image["candidates"][0]["finishReason"] == "NO_IMAGE"
    assert all("inlineData" not in part for part in no_image["candidates"][0]["content"]["parts"])


def test_rate_limit_carries_retry_info_and_quota_failure(gclient):
    with pytest.raises(genai_errors.ClientError) as info:
        gclient.models.generate_content(model="gemini-3-pro-image", contents="x [sandbox:429=7]")
    assert (info.value.code, info.value.status) == (429, "RESOURCE_EXHAUSTED")
    kinds = {detail["@type"].rsplit(".", 1)[-1]: detail for detail in info.value.details["error"]["details"]}
    assert kinds["RetryInfo"]["retryDelay"] == "7s"
    assert kinds["QuotaFailure"]["violations"][0]["quotaDimensions"]["model"] == "gemini-3-pro-image"


@pytest.mark.parametrize(
    ("directive", "status", "rpc"),
    [("500", 500, "INTERNAL"), ("503", 503, "UNAVAILABLE"), ("401", 400, "INVALID_ARGUMENT")],
)
def test_server_errors_in_googles_envelope(client, directive, status, rpc):
    response = post(client, "gemini-2.5-flash-image", prompt(f"x [sandbox:{directive}]"))
    assert response.status_code == status and response.json()["error"]["status"] == rpc


def test_streaming_sends_the_image_in_one_chunk_and_usage_last(gclient):
    chunks = list(gclient.models.generate_content_stream(model="gemini-3.1-flash-image", contents="a fox"))
    kinds = [
        [("thought" if part.thought else "image" if part.inline_data else "text") for part in chunk.parts or []]
        for chunk in chunks
    ]
    assert kinds == [["thought"], ["text"], ["image"], ["text"]]
    assert all(chunk.usage_metadata is None for chunk in chunks[:-1])
    assert chunks[-1].usage_metadata.candidates_tokens_details[0].token_count == 1120
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_stream_error_arrives_as_an_error_chunk(gclient):
    with pytest.raises(genai_errors.ServerError) as info:
        list(gclient.models.generate_content_stream(model="gemini-3-pro-image", contents="x [sandbox:stream-error]"))
    assert info.value.code == 500


def test_sse_framing_uses_crlf(client):
    response = post(
        client, "gemini-2.5-flash-image", prompt("x"), method="streamGenerateContent", params={"alt": "sse"}
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("data: {") and response.text.count("\r\n\r\n") == 3


def test_queued_faults_and_the_request_log_cover_google_paths(client):
    client.post("/_sandbox/faults", json={"fault": "503", "model": "gemini-3-pro-image"}).raise_for_status()
    assert post(client, "gemini-3-pro-image", prompt("x")).status_code == 503
    assert post(client, "gemini-3-pro-image", prompt("x")).status_code == 200
    records = client.get("/_sandbox/requests", params={"model": "gemini-3-pro-image"}).json()["requests"]
    assert [record["status"] for record in records] == [503, 200]
    assert records[0]["faults"] == ["503"]
