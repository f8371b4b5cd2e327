"""The official google-genai SDK against the gateway, the sandbox as the Gemini API."""

from __future__ import annotations

import io

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from openai import OpenAI
from PIL import Image

from imagegate.domain.money import usd_string
from tests.sandbox.helpers import encoded_image
from tests.support.google import gemini_charge


def _images(response: types.GenerateContentResponse) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(part.inline_data.data))
        for part in response.parts or []
        if part.inline_data is not None and not part.thought
    ]


def _request_id(response: types.GenerateContentResponse) -> str:
    return response.sdk_http_response.headers["x-request-id"]


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_generate_content_through_the_gateway_is_priced_from_usage_metadata(google_gateway, google_key, api_version):
    client = genai.Client(
        api_key=google_key, http_options=types.HttpOptions(base_url=google_gateway.url, api_version=api_version)
    )
    response = client.models.generate_content(
        model="nano-banana-2",
        contents="a lighthouse at dusk",
        config=types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio="16:9", image_size="2K")),
    )
    [image] = _images(response)
    assert image.size == (2752, 1536)
    headers = response.sdk_http_response.headers
    [row] = google_gateway.ledger(headers["x-request-id"])
    assert (row.status, row.model, row.provider, row.provider_model, row.dialect, row.images) == (
        "ok",
        "nano-banana-2",
        "gemini",
        "gemini-3.1-flash-image",
        "gemini",
        1,
    )
    # Google's own units: the ledger's usage is usageMetadata exactly as Google sent it.
    usage = response.usage_metadata
    assert row.usage["candidatesTokensDetails"] == [{"modality": "IMAGE", "tokenCount": 1680}]
    assert row.usage["totalTokenCount"] == usage.total_token_count
    assert row.provider_request_id == response.response_id
    # Cost from the catalog's gemini-3.1-flash-image row: $0.50/1M text in, $60/1M image out, $3/1M text+thinking.
    text_out = usage.candidates_token_count - 1680 + usage.thoughts_token_count
    assert row.cost_micros == round(usage.prompt_token_count * 0.5 + 1680 * 60 + text_out * 3)
    assert row.cost_micros == gemini_charge("gemini-3.1-flash-image", row.usage)
    assert not row.cost_estimated and headers["x-imagegate-cost-usd"] == usd_string(row.cost_micros)
    client.close()


def test_stream_passes_googles_chunks_through_and_records_usage(genai_client, google_gateway):
    chunks = list(genai_client.models.generate_content_stream(model="nano-banana-pro", contents="a fox"))
    images = [part for chunk in chunks for part in chunk.parts or [] if part.inline_data is not None]
    assert len(images) == 1 and chunks[-1].usage_metadata.candidates_tokens_details[0].token_count == 1120
    [row] = google_gateway.ledger(chunks[0].sdk_http_response.headers["x-request-id"])
    assert row.stream and row.status == "ok" and row.images == 1
    assert row.usage == chunks[-1].usage_metadata.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert row.cost_micros == gemini_charge("gemini-3-pro-image", row.usage) > 0


def test_reference_images_from_the_sdk_make_an_edit(genai_client, google_gateway):
    reference = types.Part.from_bytes(data=encoded_image(800, 600), mime_type="image/png")
    response = genai_client.models.generate_content(model="nano-banana-pro", contents=[reference, "make it blue"])
    [image] = _images(response)
    assert image.size == (1200, 896)  # the edit follows the 4:3 reference
    [row] = google_gateway.ledger(_request_id(response))
    assert row.operation == "edit"
    assert {"modality": "IMAGE", "tokenCount": 560} in row.usage["promptTokensDetails"]


def test_candidate_count_fans_out_into_parallel_calls(genai_client, google_gateway):
    response = genai_client.models.generate_content(
        model="gemini-2.5-flash-image", contents="two foxes", config=types.GenerateContentConfig(candidate_count=2)
    )
    assert [candidate.index for candidate in response.candidates] == [0, 1]
    assert all(len(_images(types.GenerateContentResponse(candidates=[c]))) == 1 for c in response.candidates)
    rows = google_gateway.ledger(_request_id(response))
    assert sorted(row.attempt for row in rows) == [1, 2] and all(row.status == "ok" for row in rows)
    assert response.sdk_http_response.headers["x-imagegate-cost-usd"] == usd_string(sum(r.cost_micros for r in rows))
    assert response.usage_metadata.candidates_tokens_details[0].token_count == 2 * 1290


def test_a_blocked_prompt_is_googles_200_answer_and_billed_input_is_recorded(genai_client, google_gateway):
    response = genai_client.models.generate_content(model="nano-banana-pro", contents="x [sandbox:moderation]")
    assert response.prompt_feedback.block_reason == types.BlockedReason.SAFETY and not response.candidates
    [row] = google_gateway.ledger(_request_id(response))
    assert (row.status, row.error_code, row.images) == ("error", "moderation_blocked", 0)
    assert row.usage["promptTokenCount"] > 0 and row.cost_micros > 0


@pytest.mark.parametrize(
    ("directive", "reason", "code"),
    [
        ("moderation=output", types.FinishReason.IMAGE_SAFETY, "moderation_blocked"),
        ("prohibited", types.FinishReason.PROHIBITED_CONTENT, "moderation_blocked"),
        ("no-image", types.FinishReason.NO_IMAGE, "no_image_generated"),
    ],
)
def test_withheld_images_keep_their_finish_reason(genai_client, google_gateway, directive, reason, code):
    response = genai_client.models.generate_content(model="nano-banana-2", contents=f"x [sandbox:{directive}]")
    assert response.candidates[0].finish_reason == reason and not _images(response)
    [row] = google_gateway.ledger(_request_id(response))
    assert row.error_code == code


def test_rate_limit_reaches_the_sdk_with_googles_retry_info(genai_client, google_gateway):
    with pytest.raises(genai_errors.ClientError) as info:
        genai_client.models.generate_content(model="nano-banana-2", contents="x [sandbox:429=0.2]")
    assert (info.value.code, info.value.status) == (429, "RESOURCE_EXHAUSTED")
    details = info.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.2s"} in details
    assert info.value.response.headers["retry-after"] == "1"
    # The gateway retried the route after Google's own delay before giving up; both tries are billed rows.
    rows = google_gateway.ledger(info.value.response.headers["x-request-id"])
    assert [(row.attempt, row.error_code, row.http_status) for row in rows] == [
        (1, "rate_limited", 429),
        (2, "rate_limited", 429),
    ]


@pytest.mark.parametrize(
    ("directive", "code", "status"),
    [("quota", 429, "RESOURCE_EXHAUSTED"), ("503", 503, "UNAVAILABLE"), ("500", 503, "UNAVAILABLE")],
)
def test_provider_failures_in_googles_shape(genai_client, directive, code, status):
    with pytest.raises(genai_errors.APIError) as info:
        genai_client.models.generate_content(model="nano-banana-pro", contents=f"x [sandbox:{directive}]")
    assert (info.value.code, info.value.status) == (code, status)


def test_bad_input_is_a_400_naming_the_field_and_reaches_no_provider(genai_client, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(genai_errors.ClientError) as info:
        genai_client.models.generate_content(
            model="nano-banana-pro",
            contents="x",
            config=types.GenerateContentConfig(image_config=types.ImageConfig(image_size="1k")),
        )
    assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")
    assert info.value.details["error"]["details"][0]["metadata"]["param"] == "generationConfig.imageConfig.imageSize"
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 0


def test_unknown_model_and_bad_key(google_gateway, genai_client):
    with pytest.raises(genai_errors.ClientError) as info:
        genai_client.models.generate_content(model="no-such-model", contents="x")
    assert (info.value.code, info.value.status) == (404, "NOT_FOUND")
    stranger = genai.Client(api_key="ig_not-a-key", http_options=types.HttpOptions(base_url=google_gateway.url))
    with pytest.raises(genai_errors.ClientError) as info:
        stranger.models.generate_content(model="nano-banana-2", contents="x")
    assert (info.value.code, info.value.details["error"]["details"][0]["reason"]) == (400, "API_KEY_INVALID")
    stranger.close()


def test_models_list_speaks_each_dialect_by_its_auth(google_gateway, google_key, genai_client):
    names = [model.name for model in genai_client.models.list()]
    assert "models/nano-banana-2" in names and "models/imagen-4" in names
    assert genai_client.models.get(model="nano-banana-pro").name == "models/nano-banana-pro"
    openai_ids = [model.id for model in OpenAI(base_url=google_gateway.url + "/v1", api_key=google_key).models.list()]
    assert "nano-banana-2" in openai_ids
