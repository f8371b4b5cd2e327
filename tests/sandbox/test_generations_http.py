"""POST /v1/images/generations over real HTTP, with httpx and with the official openai SDK."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from tests.sandbox.helpers import decode_image


def generate(client: httpx.Client, **fields: object) -> httpx.Response:
    return client.post("/v1/images/generations", json={"model": "gpt-image-2", "prompt": "a red fox", **fields})


@pytest.mark.parametrize(
    ("model", "size", "quality", "output_tokens"),
    [
        ("gpt-image-2", "1024x1024", "low", 196),
        ("gpt-image-2", "1536x1024", "high", 5488),
        ("gpt-image-1.5", "1024x1024", "medium", 1056),
        ("gpt-image-1-mini", "1024x1536", "low", 408),
    ],
)
def test_sdk_generate_size_and_usage(oai: OpenAI, model: str, size: str, quality: str, output_tokens: int) -> None:
    result = oai.images.generate(model=model, prompt="a red fox in the snow", size=size, quality=quality)  # type: ignore[arg-type]
    assert result.data is not None and len(result.data) == 1
    image = decode_image(result.data[0].b64_json or "")
    assert (f"{image.width}x{image.height}", image.format) == (size, "PNG")
    assert (result.size, result.quality, result.output_format, result.background) == (size, quality, "png", "opaque")
    assert result.usage is not None
    assert result.usage.output_tokens == output_tokens
    assert result.usage.input_tokens_details.text_tokens == 6  # ceil(len("a red fox in the snow") / 4)
    assert result.usage.total_tokens == output_tokens + 6
    assert result.created > 1_700_000_000


@pytest.mark.parametrize(
    ("fmt", "background", "pil_format", "mode"),
    [("jpeg", "opaque", "JPEG", "RGB"), ("webp", "transparent", "WEBP", "RGBA"), ("png", "transparent", "PNG", "RGBA")],
)
def test_formats_and_transparency(client: httpx.Client, fmt: str, background: str, pil_format: str, mode: str) -> None:
    response = generate(
        client, model="gpt-image-1.5", output_format=fmt, background=background, quality="low", size="1024x1536"
    )
    assert response.status_code == 200
    body = response.json()
    image = decode_image(body["data"][0]["b64_json"])
    assert (image.format, image.mode, image.size) == (pil_format, mode, (1024, 1536))
    assert (body["output_format"], body["background"]) == (fmt, background)
    if background == "transparent":
        assert image.getchannel("A").getextrema()[0] == 0


def test_custom_size_and_n(client: httpx.Client) -> None:
    response = generate(client, size="1536x864", n=2, quality="low")
    body = response.json()
    assert response.status_code == 200
    sizes = {decode_image(item["b64_json"]).size for item in body["data"]}
    assert sizes == {(1536, 864)}
    assert body["data"][0]["b64_json"] != body["data"][1]["b64_json"]  # n images differ
    single = generate(client, size="1536x864", quality="low").json()["usage"]["output_tokens"]
    assert body["usage"]["output_tokens"] == 2 * single


def test_auto_size_and_quality(client: httpx.Client) -> None:
    body = generate(client, size="auto", quality="auto").json()
    assert (body["size"], body["quality"]) == ("1024x1024", "medium")
    assert body["usage"]["output_tokens"] == 1756  # gpt-image-2 medium 1024²


def test_response_has_exactly_the_images_response_fields(client: httpx.Client) -> None:
    response = generate(client, quality="low", safety_identifier="user-123")
    assert set(response.json()) == {
        "created",
        "data",
        "background",
        "output_format",
        "quality",
        "size",
        "usage",
        "safety_identifier",
    }
    assert set(response.json()["data"][0]) == {"b64_json"}
    assert response.headers["content-type"] == "application/json"


def test_every_response_has_a_request_id(client: httpx.Client, oai: OpenAI) -> None:
    ok = generate(client, quality="low")
    bad = generate(client, n=99)
    unauth = client.post("/v1/images/generations", json={}, headers={"Authorization": ""})
    missing = client.get("/v1/nowhere")
    health = client.get("/healthz")
    ids = [r.headers["x-request-id"] for r in (ok, bad, unauth, missing, health)]
    assert all(i.startswith("req_") and len(i) == 36 for i in ids)
    assert len(set(ids)) == 5
    raw = oai.images.with_raw_response.generate(model="gpt-image-2", prompt="p", quality="low")
    assert raw.request_id is not None and raw.request_id.startswith("req_")


def test_missing_and_bad_auth(client: httpx.Client) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}):
        response = client.post("/v1/images/generations", json={"model": "gpt-image-2", "prompt": "p"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"


def test_sdk_validation_error_names_param(oai: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.images.generate(model="gpt-image-2", prompt="p", size="1000x1000")
    assert caught.value.status_code == 400
    assert caught.value.param == "size"
    assert caught.value.type == "invalid_request_error"
    assert caught.value.request_id is not None


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": None}, "prompt"),
        ({"background": "transparent"}, "background"),  # gpt-image-2
        ({"model": "gpt-image-1.5", "background": "transparent", "output_format": "jpeg"}, "background"),
        ({"output_compression": 80}, "output_compression"),  # png
        ({"partial_images": 1}, "partial_images"),  # without stream
        ({"stream": True, "partial_images": 5}, "partial_images"),
        ({"response_format": "b64_json"}, "response_format"),
        ({"style": "vivid"}, "style"),
        ({"n": 11}, "n"),
        ({"quality": "max"}, "quality"),
        ({"prompt": "x" * 32_001}, "prompt"),
    ],
)
def test_http_validation_errors(client: httpx.Client, fields: dict[str, object], param: str) -> None:
    response = generate(client, **fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_unknown_and_retired_models(oai: OpenAI) -> None:
    for model in ("gpt-image-1", "dall-e-3", "no-such-model"):
        with pytest.raises(openai.NotFoundError) as caught:
            oai.images.generate(model=model, prompt="p")
        assert caught.value.code == "model_not_found"


def test_invalid_json_body(client: httpx.Client) -> None:
    response = client.post("/v1/images/generations", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_variations_no_longer_supported(client: httpx.Client, oai: OpenAI) -> None:
    response = client.post("/v1/images/variations", files={"image": ("a.png", b"x", "image/png")})
    assert response.status_code == 400
    assert "no longer supported" in response.json()["error"]["message"]
    assert response.headers["x-request-id"].startswith("req_")


def test_unknown_route_and_method_use_openai_envelope(client: httpx.Client) -> None:
    missing = client.post("/v1/images/upscale", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (POST /v1/images/upscale)"
    wrong_method = client.get("/v1/images/generations")
    assert wrong_method.status_code == 405
    assert "error" in wrong_method.json()


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_render_speed_is_cheap(client: httpx.Client) -> None:
    # Guard against an accidental slow encoder setting: 1024² PNG well under half a second end to end.
    response = generate(client, quality="low", prompt="speed check")
    assert response.status_code == 200
    assert response.elapsed.total_seconds() < 0.5
