"""Gemini adapter request building: pure, no network."""

from __future__ import annotations

import base64
import io

import orjson
import pytest
from PIL import Image

from imagegate.domain import errors as e
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.providers.base import RouteTarget
from imagegate.providers.gemini import GeminiImageAdapter
from imagegate.providers.gemini.request import sniff_mime
from imagegate.providers.google.endpoints import GoogleAccess

ADAPTER = GeminiImageAdapter(GoogleAccess())
ROUTE = RouteTarget(
    name="r",
    alias="nano",
    provider="gemini",
    model="gemini-3.1-flash-image",
    base_url="https://generativelanguage.googleapis.com/",
    api_key="AIza-route-key",
)
VERTEX = RouteTarget(
    name="v",
    alias="nano",
    provider="gemini",
    model="gemini-3-pro-image",
    base_url="https://aiplatform.googleapis.com",
    api_key="ya29.ready-token",
    options={"vertex_project": "proj-1", "vertex_location": "europe-west4"},
)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


def req(**fields) -> ImageRequest:
    base = {"operation": "generate", "model": "nano", "prompt": "a fox", "dialect": "openai-images"}
    base.update(fields)
    return ImageRequest(**base)


def test_translated_body_puts_text_then_reference_images_and_the_image_config():
    png = _png()
    wire = ADAPTER.to_wire(
        req(
            operation="edit",
            images=[InputImage(png, "a.png", "application/octet-stream")],
            aspect_ratio="16:9",
            resolution="2K",
            seed=0,
        ),
        ROUTE,
    )
    assert wire.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-3.1-flash-image:generateContent"
    assert wire.headers["x-goog-api-key"] == "AIza-route-key"
    assert "authorization" not in wire.headers
    body = orjson.loads(wire.content)
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "a fox"},
                {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}},
            ],
        }
    ]
    # seed=0 is a seed; candidateCount 1 is the default and is not sent.
    assert body["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "seed": 0,
        "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
    }


def test_streaming_uses_stream_generate_content_with_sse():
    wire = ADAPTER.to_wire(req(stream=True), ROUTE)
    assert wire.url.endswith("/models/gemini-3.1-flash-image:streamGenerateContent?alt=sse")
    assert wire.stream is True


def test_native_gemini_body_is_forwarded_with_this_calls_share_of_candidates():
    native = {
        "contents": [{"role": "user", "parts": [{"text": "a fox"}]}, {"role": "model", "parts": [{"text": "ok"}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "generationConfig": {"candidateCount": 3, "temperature": 0.2},
    }
    wire = ADAPTER.to_wire(req(dialect="gemini", native=native, n=1), ROUTE)
    body = orjson.loads(wire.content)
    assert body["contents"] == native["contents"] and body["safetySettings"] == native["safetySettings"]
    assert body["generationConfig"] == {"candidateCount": 1, "temperature": 0.2}
    assert native["generationConfig"]["candidateCount"] == 3  # the client's body is not mutated


def test_vertex_routes_use_the_project_path_and_a_bearer_token():
    wire = ADAPTER.to_wire(req(), VERTEX)
    assert wire.url == (
        "https://aiplatform.googleapis.com/v1beta1/projects/proj-1/locations/europe-west4"
        "/publishers/google/models/gemini-3-pro-image:generateContent"
    )
    assert wire.headers["authorization"] == "Bearer ya29.ready-token"
    assert "x-goog-api-key" not in wire.headers


def test_imagen_person_generation_maps_on_vertex_and_is_refused_on_the_gemini_api():
    imagen = req(dialect="imagen", extra={"parameters.personGeneration": "allow_adult"})
    body = orjson.loads(ADAPTER.to_wire(imagen, VERTEX).content)
    assert body["generationConfig"]["imageConfig"]["personGeneration"] == "ALLOW_ADULT"
    with pytest.raises(e.InvalidRequest) as info:
        ADAPTER.to_wire(imagen, ROUTE)
    assert info.value.param == "parameters.personGeneration"
    assert "Vertex" in info.value.message


def test_imagen_safety_setting_becomes_a_threshold_for_every_category():
    body = orjson.loads(
        ADAPTER.to_wire(req(dialect="imagen", extra={"parameters.safetySetting": "block_only_high"}), ROUTE).content
    )
    assert {item["threshold"] for item in body["safetySettings"]} == {"BLOCK_ONLY_HIGH"}
    assert len(body["safetySettings"]) == 4
    with pytest.raises(e.InvalidRequest) as info:
        ADAPTER.to_wire(req(dialect="imagen", extra={"parameters.safetySetting": "strict"}), ROUTE)
    assert info.value.param == "parameters.safetySetting"


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("quality", "high", "one quality level"),
        ("background", "transparent", "opaque"),
        ("output_format", "webp", "chooses the image format"),
        ("partial_images", 2, "finished images"),
    ],
)
def test_fields_gemini_cannot_express_are_refused_with_the_reason(field, value, why):
    with pytest.raises(e.InvalidRequest) as info:
        ADAPTER.validate(req(**{field: value}), ADAPTER.default_capabilities)
    assert info.value.param == field
    assert why in info.value.message


def test_mime_is_sniffed_from_the_bytes_not_the_upload_label():
    assert sniff_mime(InputImage(b"\xff\xd8\xff\xe0rest", None, "application/octet-stream")) == "image/jpeg"
    assert sniff_mime(InputImage(b"RIFF\x00\x00\x00\x00WEBPVP8 ", None, None)) == "image/webp"
    assert sniff_mime(InputImage(b"????", None, "image/heic")) == "image/heic"


def test_route_options_are_checked_up_front():
    bad = RouteTarget(
        name="bad",
        alias="a",
        provider="gemini",
        model="m",
        base_url="https://x",
        api_key="k",
        options={"vertex_projekt": "typo"},
    )
    with pytest.raises(e.InvalidRequest, match="unknown option"):
        GeminiImageAdapter().validate_route(bad)
