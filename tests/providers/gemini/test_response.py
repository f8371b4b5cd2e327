"""Gemini adapter response parsing: usage, images, safety outcomes, streams. No network."""

from __future__ import annotations

import base64
import io

import orjson
import pytest
from PIL import Image

from imagegate.domain import errors as e
from imagegate.domain.request import ImageRequest
from imagegate.providers.base import RouteTarget, WireResponse
from imagegate.providers.gemini import GeminiImageAdapter
from imagegate.providers.gemini.response import usage_from_gemini

ADAPTER = GeminiImageAdapter()
ROUTE = RouteTarget(
    name="r",
    alias="nano",
    provider="gemini",
    model="gemini-3.1-flash-image",
    base_url="https://generativelanguage.googleapis.com",
    api_key="k",
)
REQUEST = ImageRequest(operation="generate", model="nano", prompt="a fox", dialect="openai-images")


def _jpeg(size=(40, 24)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (9, 9, 9)).save(buffer, "JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


USAGE = {
    "promptTokenCount": 1144,
    "candidatesTokenCount": 1560,
    "totalTokenCount": 2804,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 24}, {"modality": "IMAGE", "tokenCount": 1120}],
    "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
    "thoughtsTokenCount": 100,
}


def body(*parts, finish="STOP", usage=USAGE, **extra) -> bytes:
    return orjson.dumps(
        {
            "candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": finish, "index": 0}],
            "usageMetadata": usage,
            "responseId": "resp-1",
            **extra,
        }
    )


def test_usage_separates_image_text_and_thinking_tokens():
    usage = usage_from_gemini(USAGE, has_image=True)
    assert (usage.input_text_tokens, usage.input_image_tokens) == (24, 1120)
    # 440 candidate tokens carry no modality: text, billed at the text rate.
    assert (usage.output_image_tokens, usage.output_text_tokens, usage.thinking_tokens) == (1120, 440, 100)
    assert usage.raw == USAGE


def test_usage_without_details_goes_to_images_only_when_an_image_came_back():
    bare = {"promptTokenCount": 7, "candidatesTokenCount": 1290, "totalTokenCount": 1297}
    assert usage_from_gemini(bare, has_image=True).output_image_tokens == 1290
    assert usage_from_gemini(bare, has_image=False).output_text_tokens == 1290
    assert usage_from_gemini(bare, has_image=True).input_text_tokens == 7
    assert usage_from_gemini(None, has_image=True).output_image_tokens is None


def test_from_wire_decodes_images_skips_thoughts_and_reads_the_size():
    image = _jpeg()
    response = WireResponse(
        200,
        {},
        body(
            {"text": "plan", "thought": True},
            {"inlineData": {"mimeType": "image/png", "data": _jpeg((8, 8))}, "thought": True},
            {"text": "Here it is."},
            {"inlineData": {"mimeType": "image/jpeg", "data": image}, "thoughtSignature": "sig"},
        ),
    )
    result = ADAPTER.from_wire(response, REQUEST, ROUTE, keep_raw=False)
    assert result.image_count == 1 and result.images[0].b64_json == image
    assert (result.size, result.output_format, result.texts) == ("40x24", "jpeg", ["Here it is."])
    assert result.provider_request_id == "resp-1" and result.raw_body is None


def test_from_wire_for_passthrough_keeps_the_body_and_decodes_nothing():
    raw = body({"inlineData": {"mimeType": "image/jpeg", "data": _jpeg()}})
    result = ADAPTER.from_wire(WireResponse(200, {}, raw), REQUEST, ROUTE, keep_raw=True)
    assert result.raw_body is raw and result.raw_dialect == "gemini"
    assert result.images == [] and result.image_count == 1 and result.usage.output_image_tokens == 1120


def test_blocked_prompt_is_moderation_with_usage_and_the_original_body():
    raw = orjson.dumps(
        {
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        }
    )
    with pytest.raises(e.ModerationBlocked) as info:
        ADAPTER.from_wire(WireResponse(200, {}, raw), REQUEST, ROUTE, keep_raw=False)
    error = info.value
    assert (error.provider_code, error.details["stage"]) == ("PROHIBITED_CONTENT", "input")
    assert error.details["raw_body"] == raw and error.usage.input_text_tokens == 9
    assert not error.retryable


@pytest.mark.parametrize("reason", ["IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT", "SAFETY"])
def test_withheld_image_finish_reasons_are_moderation_at_the_output_stage(reason):
    with pytest.raises(e.ModerationBlocked) as info:
        ADAPTER.from_wire(WireResponse(200, {}, body(finish=reason)), REQUEST, ROUTE, keep_raw=False)
    assert info.value.provider_code == reason and info.value.details["stage"] == "output"


@pytest.mark.parametrize("reason", ["NO_IMAGE", "STOP", "IMAGE_OTHER", "MAX_TOKENS"])
def test_an_answer_without_image_is_no_image_generated_keeping_the_text(reason):
    with pytest.raises(e.NoImageGenerated) as info:
        ADAPTER.from_wire(
            WireResponse(200, {}, body({"text": "I can't draw that."}, finish=reason)), REQUEST, ROUTE, keep_raw=False
        )
    assert info.value.provider_code == reason
    assert info.value.details["texts"] == ["I can't draw that."]


def test_a_broken_body_is_a_bad_response():
    with pytest.raises(e.UpstreamBadResponse):
        ADAPTER.from_wire(
            WireResponse(200, {}, b'{"candidates": [{"content": {"parts": [{"inlineData": {"data": "/9j'),
            REQUEST,
            ROUTE,
            keep_raw=True,
        )


async def _frames(*chunks: bytes):
    for chunk in chunks:
        yield chunk


async def test_stream_events_count_images_and_take_the_last_usage():
    image = orjson.dumps(
        {
            "candidates": [
                {"content": {"parts": [{"inlineData": {"mimeType": "image/jpeg", "data": _jpeg()}}]}, "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1, "totalTokenCount": 6},
        }
    )
    last = orjson.dumps(
        {
            "candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": USAGE,
        }
    )
    stream = b"data: " + image + b"\r\n\r\n" + b"data: " + last + b"\r\n\r\n"
    events = [event async for event in ADAPTER.stream_events(_frames(stream[:100], stream[100:]))]
    assert [event.kind for event in events] == ["completed", "other"]
    assert events[0].image_count == 1
    assert events[-1].usage_total is not None and events[-1].usage_total.output_image_tokens == 1120
    assert b"".join(event.raw for event in events) == stream


async def test_stream_without_image_ends_in_an_error_event_and_an_error_chunk_maps_by_status():
    no_image = orjson.dumps({"candidates": [{"content": {"parts": [{"text": "no"}]}, "finishReason": "NO_IMAGE"}]})
    error = orjson.dumps({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}})
    events = [
        event
        async for event in ADAPTER.stream_events(
            _frames(b"data: " + no_image + b"\r\n\r\n", b"data: " + error + b"\r\n\r\n")
        )
    ]
    assert [event.kind for event in events] == ["error", "error"]
    assert isinstance(events[0].error, e.NoImageGenerated)
    assert isinstance(events[1].error, e.UpstreamUnavailable)
