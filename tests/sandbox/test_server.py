"""Server helpers and config options: benchmark mode, API keys, legacy models, limits, app isolation."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

from imagegate.sandbox import SandboxConfig, SandboxServer, build_sandbox_app, running_sandbox, sandbox_state
from imagegate.sandbox.render import Renderer, RenderSpec
from tests.sandbox.helpers import AUTH, decode_image, encoded_image

GEN = {"model": "gpt-image-2", "prompt": "p", "quality": "high", "size": "1536x1024"}


@pytest.fixture(scope="module")
def special_url() -> Iterator[str]:
    """A sandbox with most non-default options: benchmark mode, fixed keys, legacy models, limits."""
    config = SandboxConfig(
        fixed_delay_ms=100,
        fixed_image_bytes=1_400_000,
        api_keys=frozenset({"sk-good-key-123"}),
        legacy_models=True,
        hang_max_s=0.2,
        max_request_bytes=200_000,
    )
    with running_sandbox(config) as url:
        yield url


@pytest.fixture
def special(special_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=special_url, headers={"Authorization": "Bearer sk-good-key-123"}, timeout=10) as c:
        yield c


def test_benchmark_mode_fixed_body_and_delay(special: httpx.Client) -> None:
    started = time.monotonic()
    response = special.post("/v1/images/generations", json=GEN)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.1
    assert abs(len(response.content) - 1_400_000) < 0.01 * 1_400_000
    body = response.json()
    assert (body["size"], body["quality"]) == ("1536x1024", "high")
    assert body["usage"]["output_tokens"] == 5488  # usage still follows the request
    png = base64.b64decode(body["data"][0]["b64_json"])
    image = Image.open(io.BytesIO(png))
    image.load()  # a real PNG, padded with a private chunk
    assert image.format == "PNG"
    again = special.post("/v1/images/generations", json=GEN)
    assert again.json()["data"] == body["data"]  # pre-encoded once, not re-rendered


def test_benchmark_mode_pads_generate_content_answers_too(special: httpx.Client) -> None:
    body = {"contents": [{"parts": [{"text": "p"}]}], "generationConfig": {"imageConfig": {"imageSize": "4K"}}}
    response = special.post(
        "/v1beta/models/gemini-3.1-flash-image:generateContent",
        json=body,
        headers={"x-goog-api-key": "sk-good-key-123"},
    )
    assert response.status_code == 200
    assert abs(len(response.content) - 1_400_000) < 0.01 * 1_400_000
    answer = response.json()
    [part] = [p for p in answer["candidates"][0]["content"]["parts"] if "inlineData" in p]
    image = Image.open(io.BytesIO(base64.b64decode(part["inlineData"]["data"])))
    image.load()  # a real JPEG, padded with comment segments
    assert image.format == "JPEG" and part["inlineData"]["mimeType"] == "image/jpeg"
    assert answer["usageMetadata"]["candidatesTokensDetails"][0]["modality"] == "IMAGE"  # usage still follows


def test_benchmark_mode_n_and_faults(special: httpx.Client) -> None:
    body = special.post("/v1/images/generations", json={**GEN, "n": 2}).json()
    assert len(body["data"]) == 2
    assert body["usage"]["output_tokens"] == 2 * 5488
    assert special.post("/v1/images/generations", json={**GEN, "prompt": "[sandbox:503]"}).status_code == 503


def test_api_keys_config(special_url: str) -> None:
    wrong = httpx.post(f"{special_url}/v1/images/generations", json=GEN, headers=AUTH)
    assert wrong.status_code == 401
    error = wrong.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert "sk-test" not in error["message"]  # keys are masked in messages


def test_legacy_gpt_image_1_uses_the_table(special: httpx.Client) -> None:
    body = special.post(
        "/v1/images/generations", json={"model": "gpt-image-1", "prompt": "p", "quality": "high"}
    ).json()
    assert body["usage"]["output_tokens"] == 4160


def test_legacy_dalle3_url_response(special: httpx.Client) -> None:
    response = special.post(
        "/v1/images/generations", json={"model": "dall-e-3", "prompt": "a lighthouse", "size": "1024x1792"}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"created", "data"}
    item = body["data"][0]
    assert item["revised_prompt"] == "a lighthouse"
    image = Image.open(io.BytesIO(httpx.get(item["url"]).content))
    assert (image.format, image.size) == ("PNG", (1024, 1792))


def test_legacy_dalle2_edit_b64(special: httpx.Client) -> None:
    response = special.post(
        "/v1/images/edits",
        data={"model": "dall-e-2", "prompt": "p", "size": "256x256", "response_format": "b64_json"},
        files=[("image", ("a.png", encoded_image(64, 64), "image/png"))],
    )
    assert response.status_code == 200, response.text
    assert decode_image(response.json()["data"][0]["b64_json"]).size == (256, 256)
    assert "usage" not in response.json()


def test_hang_max_s_answers_504(special: httpx.Client) -> None:
    response = special.post("/v1/images/generations", json={**GEN, "prompt": "[sandbox:hang]"})
    assert response.status_code == 504


def test_max_request_bytes(special: httpx.Client) -> None:
    big = encoded_image(8, 8) + b"\0" * 300_000
    response = special.post(
        "/v1/images/edits",
        data={"model": "gpt-image-2", "prompt": "p"},
        files=[("image[]", ("a.png", big, "image/png"))],
    )
    assert response.status_code == 413


def test_apps_do_not_share_state() -> None:
    first, second = build_sandbox_app(), build_sandbox_app()
    with TestClient(first) as one, TestClient(second) as two:
        one.post("/_sandbox/faults", json={"fault": "500"})
        assert two.get("/_sandbox/faults").json() == {"faults": []}
        assert len(sandbox_state(first).faults.pending()) == 1
        # The app also works in-process (an ASGI transport), not only behind uvicorn.
        ok = two.post(
            "/v1/images/generations", headers=AUTH, json={"model": "gpt-image-2", "prompt": "p", "quality": "low"}
        )
        assert ok.status_code == 200
        assert (
            one.post("/v1/images/generations", headers=AUTH, json={"model": "gpt-image-2", "prompt": "p"}).status_code
            == 500
        )


def test_server_lifecycle() -> None:
    server = SandboxServer()
    url = server.start()
    assert httpx.get(f"{url}/healthz").status_code == 200
    with pytest.raises(RuntimeError):
        server.start()
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=1)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        SandboxConfig(fixed_delay_ms=-1)
    with pytest.raises(ValueError):
        SandboxConfig(fixed_image_bytes=10)
    assert SandboxConfig(api_keys={"a", "b"}).api_keys == frozenset({"a", "b"})  # type: ignore[arg-type]


class _BrokenRenderer(Renderer):
    def render(self, spec: RenderSpec) -> bytes:
        raise RuntimeError("encoder exploded")


def test_unexpected_error_is_openai_shaped_500_with_request_id() -> None:
    app = build_sandbox_app()
    sandbox_state(app).renderer = _BrokenRenderer()
    with TestClient(app) as http:
        response = http.post("/v1/images/generations", headers=AUTH, json={"model": "gpt-image-2", "prompt": "p"})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert response.headers["x-request-id"].startswith("req_")
