"""Parsing the Gemini and Imagen dialects, Google-shaped errors, lifecycle headers. Pure."""

from __future__ import annotations

import base64
import io
from datetime import date

import pytest
from PIL import Image

from imagegate.api.google.errors import error_status_and_body
from imagegate.api.google.gemini_parse import _camel_keys, to_request
from imagegate.api.google.gemini_render import blocked_body, usage_metadata
from imagegate.api.google.imagen_parse import to_request as imagen_request
from imagegate.api.served_headers import lifecycle_headers
from imagegate.catalog.model import Lifecycle
from imagegate.domain import errors as e
from imagegate.domain.result import Usage
from imagegate.service.gateway import RequestLimits

LIMITS = RequestLimits()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (5, 5, 5)).save(buffer, "PNG")
    return buffer.getvalue()


def parse(body: dict, *, stream: bool = False):
    return to_request(_camel_keys(body), "nano", stream=stream, limits=LIMITS)


def test_the_sdk_form_url_safe_base64_and_snake_case_mime_type_is_read():
    png = _png()
    request = parse(
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {
                            "inline_data": {
                                "data": base64.urlsafe_b64encode(png).decode().rstrip("="),
                                "mime_type": "image/png",
                            }
                        },
                        {"text": "make it blue"},
                    ],
                }
            ],
            "generation_config": {
                "image_config": {"aspect_ratio": "4:3", "image_size": "2K"},
                "candidate_count": 2,
                "seed": 0,
            },
        }
    )
    assert request.operation == "edit" and request.images[0].data == png
    assert (request.prompt, request.aspect_ratio, request.resolution, request.n, request.seed) == (
        "make it blue",
        "4:3",
        "2K",
        2,
        0,
    )
    assert request.extra == {} and request.native is not None
    assert request.native["contents"][0]["parts"][0]["inlineData"]["mimeType"] == "image/png"
    assert request.param_name("resolution") == "generationConfig.imageConfig.imageSize"


def test_fields_without_a_canonical_meaning_are_kept_by_their_own_names():
    request = parse(
        {
            "contents": [
                {"parts": [{"text": "a"}]},
                {"role": "model", "parts": [{"text": "b"}]},
                {"role": "user", "parts": [{"text": "c"}, {"fileData": {"fileUri": "gs://x"}}]},
            ],
            "safetySettings": [],
            "tools": [{"googleSearch": {}}],
            "systemInstruction": {"parts": [{"text": "s"}]},
            "generationConfig": {
                "temperature": 0.5,
                "responseModalities": ["TEXT"],
                "imageConfig": {"personGeneration": "ALLOW_ADULT"},
            },
        }
    )
    assert request.prompt == "c"  # the last user turn
    assert set(request.extra) == {
        "contents",
        "contents.parts.fileData",
        "safetySettings",
        "tools",
        "systemInstruction",
        "generationConfig.temperature",
        "generationConfig.responseModalities",
        "generationConfig.imageConfig.personGeneration",
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"contents": []}, "contents"),
        ({"contents": [{"parts": [{"text": "x"}]}], "bogus": 1}, "bogus"),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "%%%"}}]}]},
            "contents.parts.inline_data.data",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": "2"}},
            "generationConfig.candidateCount",
        ),
    ],
)
def test_bad_gemini_bodies_are_400s_naming_the_field(body, param):
    with pytest.raises(e.InvalidRequest) as info:
        parse(body)
    assert info.value.param == param


def test_imagen_defaults_to_four_images_and_keeps_unmapped_parameters_by_name():
    request = imagen_request(
        {
            "instances": [{"prompt": "a fox"}],
            "parameters": {
                "aspectRatio": "16:9",
                "sample_image_size": "2K",
                "personGeneration": "allow_adult",
                "includeRaiReason": True,
                "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 80},
                "negativePrompt": "rain",
            },
        },
        "imagen",
    )
    assert (request.n, request.aspect_ratio, request.resolution) == (4, "16:9", "2K")
    assert (request.output_format, request.output_compression) == ("jpeg", 80)
    assert request.extra == {"parameters.personGeneration": "allow_adult", "parameters.negativePrompt": "rain"}
    assert request.param_name("n") == "parameters.sampleCount"
    assert imagen_request({"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 1}}, "m").n == 1
    with pytest.raises(e.InvalidRequest) as info:
        imagen_request({"instances": [{"prompt": "x"}], "parameters": {"sampleCount": True}}, "m")
    assert info.value.param == "parameters.sampleCount"


@pytest.mark.parametrize(
    ("error", "status", "rpc"),
    [
        (e.InvalidRequest("bad", param="x"), 400, "INVALID_ARGUMENT"),
        (e.ModelNotFound("no"), 404, "NOT_FOUND"),
        (e.ModelRetired("gone", model="m", replacement="r"), 404, "NOT_FOUND"),
        (e.AuthenticationFailed("who"), 400, "INVALID_ARGUMENT"),
        (e.PermissionDenied("no"), 403, "PERMISSION_DENIED"),
        (e.RateLimited("slow", retry_after=2.5), 429, "RESOURCE_EXHAUSTED"),
        (e.UpstreamTimeout("t"), 504, "DEADLINE_EXCEEDED"),
        (e.UpstreamUnavailable("u"), 503, "UNAVAILABLE"),
        (e.ProviderAuthentication("key sk-1234"), 502, "UNAVAILABLE"),
    ],
)
def test_errors_in_googles_shape(error, status, rpc):
    code, body = error_status_and_body(error)
    assert code == status and body["error"]["code"] == status and body["error"]["status"] == rpc
    if isinstance(error, e.RateLimited):
        assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"} in body["error"]["details"]
    if isinstance(error, e.AuthenticationFailed):
        assert body["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    if isinstance(error, e.ModelRetired):
        assert body["error"]["details"][0]["metadata"]["replacement"] == "r"
    assert "sk-1234" not in body["error"]["message"]


def test_a_block_from_another_provider_becomes_googles_200_answer():
    blocked = e.ModerationBlocked("no", provider_code="moderation_blocked", details={"stage": "input"})
    assert b'"blockReason":"SAFETY"' in blocked_body(blocked, model="nano", response_id="r")
    withheld = e.ModerationBlocked("no", details={"stage": "output"}, usage=Usage(input_text_tokens=3))
    body = blocked_body(withheld, model="nano", response_id="r")
    assert b'"finishReason":"IMAGE_SAFETY"' in body and b'"promptTokenCount":3' in body
    raw = b'{"promptFeedback":{"blockReason":"OTHER"}}'
    assert (
        blocked_body(
            e.ModerationBlocked("x", details={"raw_body": raw, "raw_dialect": "gemini"}), model="nano", response_id="r"
        )
        is raw
    )


def test_usage_metadata_from_counters():
    meta = usage_metadata(
        Usage(
            input_text_tokens=10,
            input_image_tokens=560,
            output_image_tokens=1120,
            output_text_tokens=40,
            thinking_tokens=90,
        )
    )
    assert (
        meta["promptTokenCount"],
        meta["candidatesTokenCount"],
        meta["thoughtsTokenCount"],
        meta["totalTokenCount"],
    ) == (570, 1160, 90, 1820)
    assert usage_metadata(Usage()) is None


def test_lifecycle_headers():
    headers = lifecycle_headers(
        Lifecycle(shutdown_on=date(2026, 8, 17), replacement="gemini-2.5-flash-image"), models_path="/v1beta/models/"
    )
    assert headers == {
        "deprecation": "@1786924800",
        "sunset": "Mon, 17 Aug 2026 00:00:00 GMT",
        "link": '</v1beta/models/gemini-2.5-flash-image>; rel="successor-version"',
    }
    deprecated_first = lifecycle_headers(
        Lifecycle(deprecated_on=date(2026, 1, 1), shutdown_on=date(2027, 1, 1)), models_path="/v1/models/"
    )
    assert deprecated_first["deprecation"] == "@1767225600" and "link" not in deprecated_first
    assert lifecycle_headers(Lifecycle(), models_path="/") == {} and lifecycle_headers(None, models_path="/") == {}
