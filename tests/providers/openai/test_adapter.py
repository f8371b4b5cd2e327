"""Pure transforms of the OpenAI adapter: no network."""

import base64

import orjson
import pytest

from imagegate.domain import errors as e
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.providers.base import RouteTarget, WireResponse
from imagegate.providers.openai import OpenAIImagesAdapter

ADAPTER = OpenAIImagesAdapter()
ROUTE = RouteTarget(
    name="r",
    alias="alias",
    provider="openai",
    model="gpt-image-2",
    base_url="http://up.example/v1",
    api_key="sk-route-secret",
    options={"organization": "org-1"},
)


def req(**fields) -> ImageRequest:
    base = {"operation": "generate", "model": "alias", "prompt": "a cat", "dialect": "openai-images"}
    base.update(fields)
    return ImageRequest(**base)


def test_generation_body_forwards_fields_and_extras_with_the_provider_model():
    wire = ADAPTER.to_wire(
        req(
            n=2,
            size="1536x1024",
            quality="low",
            stream=True,
            partial_images=2,
            extra={"safety_identifier": "u-1", "model": "ignored"},
        ),
        ROUTE,
    )
    assert wire.url == "http://up.example/v1/images/generations"
    assert wire.headers["authorization"] == "Bearer sk-route-secret"
    assert wire.headers["openai-organization"] == "org-1"
    assert orjson.loads(wire.content) == {
        "model": "gpt-image-2",
        "prompt": "a cat",
        "n": 2,
        "size": "1536x1024",
        "quality": "low",
        "stream": True,
        "partial_images": 2,
        "safety_identifier": "u-1",
    }
    assert wire.stream is True


def test_fields_the_api_cannot_express_are_rejected_not_dropped():
    with pytest.raises(e.InvalidRequest) as info:
        ADAPTER.to_wire(req(aspect_ratio="16:9", param_names={"aspect_ratio": "imageConfig.aspectRatio"}), ROUTE)
    assert info.value.param == "imageConfig.aspectRatio"


def test_edit_is_multipart_with_image_array_and_mask():
    images = [InputImage(b"one", "a.png", "image/png"), InputImage(b"two", "b.png", "image/png")]
    wire = ADAPTER.to_wire(
        req(
            operation="edit",
            images=images,
            mask=InputImage(b"m", "mask.png", "image/png"),
            n=1,
            stream=False,
            input_fidelity="high",
        ),
        ROUTE,
    )
    assert wire.url.endswith("/images/edits")
    assert ("model", "gpt-image-2") in wire.form and ("n", "1") in wire.form and ("input_fidelity", "high") in wire.form
    assert [name for name, _ in wire.files] == ["image[]", "image[]", "mask"]
    assert wire.files[1][1] == ("b.png", b"two", "image/png")


def test_single_edit_image_uses_the_plain_field_name():
    wire = ADAPTER.to_wire(req(operation="edit", images=[InputImage(b"x")]), ROUTE)
    assert [name for name, _ in wire.files] == ["image"]


def _ok_body(n: int = 1) -> bytes:
    image = base64.b64encode(b"\x89PNG\r\n" + b"\x00" * 3000).decode()
    return orjson.dumps(
        {
            "created": 1700000000,
            "background": "opaque",
            "output_format": "png",
            "quality": "low",
            "size": "1024x1024",
            "data": [{"b64_json": image}] * n,
            "usage": {
                "input_tokens": 12,
                "input_tokens_details": {"text_tokens": 10, "image_tokens": 2},
                "output_tokens": 392,
                "total_tokens": 404,
            },
        }
    )


def test_raw_mode_keeps_body_and_reads_usage_without_decoding_images():
    body = _ok_body(2)
    result = ADAPTER.from_wire(WireResponse(200, {"x-request-id": "req_up"}, body), req(), ROUTE, keep_raw=True)
    assert result.raw_body is body
    assert result.images == []
    assert result.image_count == 2
    assert (result.usage.input_text_tokens, result.usage.input_image_tokens, result.usage.output_image_tokens) == (
        10,
        2,
        392,
    )
    assert result.provider_request_id == "req_up"
    assert (result.size, result.quality) == ("1024x1024", "low")


def test_decoded_mode_returns_images():
    result = ADAPTER.from_wire(WireResponse(200, {}, _ok_body(1)), req(), ROUTE, keep_raw=False)
    assert result.raw_body is None
    assert base64.b64decode(result.images[0].b64_json).startswith(b"\x89PNG")


@pytest.mark.parametrize("body", [_ok_body(1)[:-30], b"<html>oops</html>", b'{"created": 1}'])
def test_truncated_or_foreign_bodies_are_bad_responses(body):
    with pytest.raises(e.UpstreamBadResponse):
        ADAPTER.from_wire(WireResponse(200, {}, body), req(), ROUTE, keep_raw=True)


def _err(status: int, error: dict, headers: dict | None = None) -> e.ProviderError:
    return ADAPTER.error_from_wire(WireResponse(status, headers or {}, orjson.dumps({"error": error})))


def test_error_mapping_by_status_and_structured_code():
    moderation = _err(
        400,
        {
            "message": "rejected",
            "type": "image_generation_user_error",
            "param": None,
            "code": "moderation_blocked",
            "moderation_details": {"moderation_stage": "input", "categories": ["violence"]},
        },
    )
    assert isinstance(moderation, e.ModerationBlocked)
    assert moderation.details["moderation_details"]["moderation_stage"] == "input"
    assert not moderation.retryable
    limited = _err(
        429,
        {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"},
        {"retry-after": "2", "x-request-id": "req_9"},
    )
    assert isinstance(limited, e.RateLimited) and limited.retry_after == 2.0 and limited.retryable
    assert limited.provider_request_id == "req_9"
    assert isinstance(_err(429, {"code": "insufficient_quota", "type": "insufficient_quota"}), e.QuotaExhausted)
    invalid = _err(400, {"message": "bad size", "type": "invalid_request_error", "param": "size", "code": None})
    assert isinstance(invalid, e.ProviderInvalidRequest) and invalid.param == "size"
    assert isinstance(_err(401, {"code": "invalid_api_key"}), e.ProviderAuthentication)
    assert isinstance(_err(500, {"type": "server_error"}), e.UpstreamUnavailable)
    assert isinstance(_err(504, {}), e.UpstreamTimeout)
    assert isinstance(
        ADAPTER.error_from_wire(WireResponse(502, {}, b"<html>bad gateway</html>")), e.UpstreamUnavailable
    )


def test_message_text_does_not_decide_the_class():
    # Classification reads status and codes only; a scary message changes nothing.
    error = _err(400, {"message": "moderation_blocked rate limit", "type": "invalid_request_error", "code": None})
    assert type(error) is e.ProviderInvalidRequest


async def _frames(*frames: bytes):
    for frame in frames:
        yield frame


async def test_stream_events_classify_partial_completed_and_error():
    partial = b'event: image_generation.partial_image\ndata: {"type":"image_generation.partial_image","b64_json":"QUJD","partial_image_index":0}\n\n'
    done = (
        b'event: image_generation.completed\ndata: {"type":"image_generation.completed","b64_json":"QUJD",'
        b'"usage":{"input_tokens":3,"input_tokens_details":{"text_tokens":3,"image_tokens":0},"output_tokens":296,"total_tokens":299}}\n\n'
    )
    error = b'event: error\ndata: {"type":"error","error":{"message":"no","type":"image_generation_user_error","code":"moderation_blocked"}}\n\n'
    events = [event async for event in ADAPTER.stream_events(_frames(partial, done, error))]
    assert [event.kind for event in events] == ["partial_image", "completed", "error"]
    assert events[0].raw == partial
    assert events[1].usage.output_image_tokens == 296
    assert isinstance(events[2].error, e.ModerationBlocked)
