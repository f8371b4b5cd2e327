"""Translation between dialects, end to end: each client's official SDK, a model of another dialect.

OpenAI SDK -> Gemini models; google-genai SDK -> GPT Image models; Imagen ``:predict`` -> the Gemini
model that replaced Imagen 4. Tables: docs/translation.md.
"""

from __future__ import annotations

import base64
import io

import httpx
import openai
import pytest
from google.genai import errors as genai_errors
from google.genai import types
from openai import OpenAI
from PIL import Image

from imagegate.domain.money import usd_string
from tests.sandbox.helpers import encoded_image
from tests.support.google import gemini_charge


@pytest.fixture
def oai(google_gateway, google_key) -> OpenAI:
    return OpenAI(base_url=google_gateway.url + "/v1", api_key=google_key, max_retries=0)


def _decoded(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


# -- OpenAI dialect -> Gemini models ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "produced"),
    [
        ("nano-banana-2", "1536x1024", "1264x848"),
        ("nano-banana-2", "1024x1536", "848x1264"),
        ("nano-banana-2", "2048x1152", "2752x1536"),
        ("gemini-2.5-flash-image", "1536x1024", "1248x832"),
        ("nano-banana-pro", "1024x1024", "1024x1024"),
    ],
)
def test_size_becomes_the_nearest_ratio_and_tier_and_the_header_says_what_was_made(
    oai, google_gateway, model, size, produced
):
    raw = oai.images.with_raw_response.generate(model=model, prompt="a harbour", size=size)
    response = raw.parse()
    [item] = response.data
    assert f"{_decoded(item.b64_json).width}x{_decoded(item.b64_json).height}" == produced
    assert raw.headers["x-imagegate-size"] == produced and response.size == produced
    assert response.output_format == "jpeg"
    [row] = google_gateway.ledger(raw.headers["x-request-id"])
    assert (row.dialect, row.provider, row.status) == ("openai-images", "gemini", "ok")
    assert row.cost_micros == gemini_charge(row.provider_model, row.usage)
    # usage in OpenAI's shape, from Gemini's counters (thinking counted as text output)
    assert response.usage.output_tokens_details.image_tokens == row.usage["candidatesTokensDetails"][0]["tokenCount"]


def test_n_fans_out_to_parallel_calls_each_in_the_ledger(oai, google_gateway):
    raw = oai.images.with_raw_response.generate(model="nano-banana-pro", prompt="three foxes", n=3)
    assert len(raw.parse().data) == 3
    rows = google_gateway.ledger(raw.headers["x-request-id"])
    assert sorted(row.attempt for row in rows) == [1, 2, 3] and {row.images for row in rows} == {1}
    assert raw.headers["x-imagegate-cost-usd"] == usd_string(sum(row.cost_micros for row in rows))
    assert raw.parse().usage.output_tokens_details.image_tokens == 3 * 1120


def test_a_failing_part_fails_the_request_never_fewer_images(oai, google_gateway, sandbox_control):
    sandbox_control.post("/_sandbox/faults", json={"fault": "moderation=output", "model": "gemini-3-pro-image"})
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="nano-banana-pro", prompt="two foxes", n=2)
    assert info.value.body["code"] == "moderation_blocked"
    rows = google_gateway.ledger(info.value.response.headers["x-request-id"])
    assert sorted(row.status for row in rows) == ["error", "ok"]


def test_edit_images_become_inline_reference_parts(oai, google_gateway, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    raw = oai.images.with_raw_response.edit(
        model="nano-banana-pro",
        prompt="add a hat",
        image=[("a.png", encoded_image(1024, 768), "image/png"), ("b.png", encoded_image(512, 512), "image/png")],
    )
    response = raw.parse()
    assert response.usage.input_tokens_details.image_tokens == 2 * 560
    assert raw.headers["x-imagegate-size"] == "1200x896"  # follows the first image's 4:3
    [row] = google_gateway.ledger(raw.headers["x-request-id"])
    assert row.operation == "edit"
    [call] = sandbox_control.get("/_sandbox/requests").json()["requests"]
    assert call["path"] == "/v1beta/models/gemini-3-pro-image:generateContent"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"quality": "high"}, "quality"),
        ({"background": "transparent"}, "background"),
        ({"output_format": "webp"}, "output_format"),
        ({"n": 11}, "n"),
        ({"size": "big"}, "size"),
    ],
)
def test_what_gemini_cannot_honour_is_a_400_naming_the_parameter(oai, sandbox_control, kwargs, param):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="nano-banana-2", prompt="x", **kwargs)
    assert info.value.body["param"] == param
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 0


def test_quality_auto_and_an_opaque_background_ask_for_nothing_and_are_accepted(oai):
    response = oai.images.generate(model="nano-banana-2", prompt="x", quality="auto", background="opaque")
    assert len(response.data) == 1


def test_a_stream_from_a_model_that_cannot_stream_openai_events_is_emulated(oai, google_gateway):
    events = list(oai.images.generate(model="nano-banana-2", prompt="a fox", stream=True, size="1024x1024"))
    assert [event.type for event in events] == ["image_generation.completed"]
    assert _decoded(events[0].b64_json).size == (1024, 1024) and events[0].usage.output_tokens > 0
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="nano-banana-2", prompt="a fox", stream=True, partial_images=2)
    assert info.value.body["param"] == "partial_images"


# -- Gemini dialect -> GPT Image models -------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "ratio", "tier", "produced"),
    [
        ("gpt-image-2", "16:9", "1K", (1376, 768)),
        ("gpt-image-2", "3:4", "2K", (1792, 2400)),
        ("gpt-image-1.5", "16:9", None, (1536, 1024)),
        ("gpt-image-1.5", None, None, (1024, 1024)),
    ],
)
def test_image_config_becomes_the_nearest_size_and_no_text_part_is_invented(
    genai_client, google_gateway, model, ratio, tier, produced
):
    config = types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio=ratio, image_size=tier))
    response = genai_client.models.generate_content(model=model, contents="a harbour", config=config)
    [part] = response.candidates[0].content.parts
    assert part.text is None and Image.open(io.BytesIO(part.inline_data.data)).size == produced
    assert response.sdk_http_response.headers["x-imagegate-size"] == f"{produced[0]}x{produced[1]}"
    assert response.usage_metadata.candidates_tokens_details[0].modality == types.MediaModality.IMAGE
    [row] = google_gateway.ledger(response.sdk_http_response.headers["x-request-id"])
    assert (row.dialect, row.provider, row.provider_model) == ("gemini", "openai", model)


def test_reference_parts_become_an_openai_edit(genai_client, google_gateway, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    response = genai_client.models.generate_content(
        model="gpt-image-2",
        contents=[types.Part.from_bytes(data=encoded_image(1024, 1024), mime_type="image/png"), "make it night"],
    )
    assert len(response.candidates) == 1 and response.usage_metadata.prompt_token_count > 0
    [call] = sandbox_control.get("/_sandbox/requests").json()["requests"]
    assert call["path"] == "/v1/images/edits"
    [row] = google_gateway.ledger(response.sdk_http_response.headers["x-request-id"])
    assert row.operation == "edit"


@pytest.mark.parametrize(
    ("config", "param"),
    [
        (
            types.GenerateContentConfig(
                safety_settings=[types.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_NONE")]
            ),
            "safetySettings",
        ),
        (types.GenerateContentConfig(temperature=0.3), "generationConfig.temperature"),
        (
            types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio="16:9", image_size="4K")),
            "generationConfig.imageConfig.imageSize",
        ),
    ],
)
def test_gemini_fields_gpt_image_cannot_honour_are_400s_naming_them(genai_client, config, param):
    with pytest.raises(genai_errors.ClientError) as info:
        genai_client.models.generate_content(model="gpt-image-2", contents="x", config=config)
    assert info.value.code == 400
    assert info.value.details["error"]["details"][0]["metadata"]["param"] == param


def test_an_openai_moderation_block_is_googles_prompt_feedback(genai_client):
    response = genai_client.models.generate_content(model="gpt-image-2", contents="x [sandbox:moderation]")
    assert response.prompt_feedback.block_reason == types.BlockedReason.SAFETY and not response.candidates


def test_a_gemini_stream_from_gpt_image_is_emulated(genai_client):
    chunks = list(genai_client.models.generate_content_stream(model="gpt-image-1.5", contents="a fox"))
    images = [part for chunk in chunks for part in chunk.parts or [] if part.inline_data is not None]
    assert len(images) == 1 and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.total_token_count > 0


# -- Imagen dialect -> the Gemini model that replaced Imagen 4 --------------------------------------


def predict(gateway, key: str, model: str, parameters: dict | None = None, *, path: str = "/v1beta") -> httpx.Response:
    body: dict = {"instances": [{"prompt": "a lighthouse"}]}
    if parameters is not None:
        body["parameters"] = parameters
    return httpx.post(
        f"{gateway.url}{path}/models/{model}:predict", json=body, headers={"x-goog-api-key": key}, timeout=60
    )


def test_imagen_after_shutdown_is_served_by_its_replacement_and_says_so(google_gateway, google_key):
    response = predict(google_gateway, google_key, "imagen-4", {"aspectRatio": "16:9"})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == 4  # sampleCount absent means 4, as on Imagen
    assert {_decoded(p["bytesBase64Encoded"]).size for p in predictions} == {(1344, 768)}
    headers = response.headers
    assert (headers["x-imagegate-replaced-model"], headers["x-imagegate-served-model"]) == (
        "imagen-4.0-generate-001",
        "gemini-2.5-flash-image",
    )
    assert headers["sunset"] == "Mon, 17 Aug 2026 00:00:00 GMT"
    assert headers["link"] == '</v1beta/models/gemini-2.5-flash-image>; rel="successor-version"'
    rows = google_gateway.ledger(headers["x-request-id"])
    assert len(rows) == 4
    assert {(row.model, row.provider, row.provider_model, row.dialect) for row in rows} == {
        ("imagen-4", "gemini", "gemini-2.5-flash-image", "imagen")
    }
    assert all(row.cost_micros == gemini_charge("gemini-2.5-flash-image", row.usage) for row in rows)


def test_imagen_parameters_the_replacement_cannot_honour_are_400s(google_gateway, google_key):
    response = predict(google_gateway, google_key, "imagen-4", {"personGeneration": "allow_adult"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (
        error["status"] == "INVALID_ARGUMENT"
        and error["details"][0]["metadata"]["param"] == "parameters.personGeneration"
    )
    assert "Vertex" in error["message"]
    negative = predict(google_gateway, google_key, "imagen-4", {"negativePrompt": "rain"}).json()["error"]
    assert negative["details"][0]["metadata"]["param"] == "parameters.negativePrompt"


def test_a_refused_shut_down_model_names_its_replacement_in_every_dialect(google_gateway, google_key, oai):
    response = predict(google_gateway, google_key, "imagen-4-strict", {"sampleCount": 1})
    error = response.json()["error"]
    assert (response.status_code, error["status"]) == (404, "NOT_FOUND")
    assert "gemini-2.5-flash-image" in error["message"] and "2026-08-17" in error["message"]
    with pytest.raises(openai.APIStatusError) as info:
        oai.images.generate(model="imagen-4-strict", prompt="x")
    assert info.value.status_code == 410 and info.value.body["code"] == "model_retired"
    assert "gemini-2.5-flash-image" in info.value.body["message"]
    assert google_gateway.ledger(response.headers["x-request-id"]) == []  # nothing was called
