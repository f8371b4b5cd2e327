"""Bad input is a 400 in the client's own dialect naming the field, before any provider is paid.

Each case runs through the official SDK (raw HTTP where no SDK speaks the path) against a gateway over
the sandbox, and checks that the sandbox received no call and the ledger gained no row, so the
route's health and breaker saw nothing either (they only ever observe recorded attempts).
"""

from __future__ import annotations

import base64
import contextlib
import io
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from openai import OpenAI
from PIL import Image

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway
from tests.support.google import TODAY, google_models_config

NOT_AN_IMAGE = b"GIF89a\x01\x00\x01\x00 this is a GIF, which no route takes"
LONG_PROMPT = "a fox " * 5400  # 32400 characters: over GPT Image's 32000


def _png(size: tuple[int, int], mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def checks_gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """The Google test aliases, plus ``mixed``: GPT Image first (32000-character prompts), then Gemini.

    Image storage is off, so ``response_format: "url"`` is refused (tests/storage serves it)."""
    document = google_models_config(sandbox_url)
    routes = {alias["name"]: alias["routes"][0] for alias in document["models"]}
    document["models"].append({"name": "mixed", "routes": [routes["gpt-image-2"], routes["nano-banana-2"]]})
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("input-checks") / "imagegate.db")
    with running_gateway(engine, document, today=lambda: TODAY, storage="none") as handle:
        yield handle
    engine.dispose()


@pytest.fixture(scope="module")
def key(checks_gateway: GatewayHandle) -> str:
    return checks_gateway.create_key(f"checks-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def client(checks_gateway: GatewayHandle, key: str) -> OpenAI:
    return OpenAI(base_url=checks_gateway.url + "/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def gemini(checks_gateway: GatewayHandle, key: str) -> Iterator[genai.Client]:
    client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=checks_gateway.url))
    yield client
    client.close()


@contextlib.contextmanager
def nothing_paid(gateway: GatewayHandle, sandbox_url: str) -> Iterator[None]:
    """The block reaches no provider and adds no ledger row."""
    calls_before = httpx.get(sandbox_url + "/_sandbox/requests").json()["count"]
    rows_before = len(gateway.ledger())
    yield
    assert httpx.get(sandbox_url + "/_sandbox/requests").json()["count"] == calls_before
    assert len(gateway.ledger()) == rows_before


def _openai_refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    assert body["type"] == "invalid_request_error"
    return body


def _google_refusal(call: Any) -> str:
    with pytest.raises(genai_errors.ClientError) as caught:
        call()
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    return str(caught.value.message)


# -- uploads ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "mask", "param", "words"),
    [
        (NOT_AN_IMAGE, None, "image", "not a PNG, JPEG or WebP"),
        (_png((64, 64)), NOT_AN_IMAGE, "mask", "not a PNG, JPEG or WebP"),
        (_png((64, 64)), _png((32, 32)), "mask", "32x32 pixels but the first 'image' is 64x64"),
        (_png((64, 64)), _png((64, 64), "RGB"), "mask", "no alpha channel"),
    ],
    ids=["image-not-an-image", "mask-not-an-image", "mask-wrong-size", "mask-without-alpha"],
)
def test_openai_edit_uploads_are_checked_by_content(client, checks_gateway, sandbox_url, image, mask, param, words):
    extra = {} if mask is None else {"mask": ("mask.png", mask, "image/png")}
    with nothing_paid(checks_gateway, sandbox_url):
        # Declared as PNG: the bytes, not the content type, decide.
        body = _openai_refusal(
            lambda: client.images.edit(model="gpt-image-2", prompt="x", image=("in.png", image, "image/png"), **extra)
        )
    assert body["param"] == param and words in body["message"]


def test_gemini_inline_data_that_is_no_image_is_refused(gemini, checks_gateway, sandbox_url):
    part = types.Part.from_bytes(data=NOT_AN_IMAGE, mime_type="image/png")
    with nothing_paid(checks_gateway, sandbox_url):
        message = _google_refusal(lambda: gemini.models.generate_content(model="nano-banana-2", contents=["x", part]))
    assert "'contents'" in message and "not a PNG, JPEG or WebP" in message


def test_imagen_reference_images_are_checked(checks_gateway, key, sandbox_url):
    instance = {
        "prompt": "x",
        "referenceImages": [{"referenceImage": {"bytesBase64Encoded": base64.b64encode(NOT_AN_IMAGE).decode()}}],
    }
    with nothing_paid(checks_gateway, sandbox_url):
        response = httpx.post(
            f"{checks_gateway.url}/v1beta/models/imagen-4-strict:predict",
            json={"instances": [instance]},
            headers={"x-goog-api-key": key},
        )
    assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "instances[0].referenceImages[0].referenceImage.bytesBase64Encoded" in response.json()["error"]["message"]


# -- the OpenAI Images dialect's own fields ----------------------------------------------------


def test_unknown_fields_are_unknown_parameter(client, checks_gateway, sandbox_url):
    with nothing_paid(checks_gateway, sandbox_url):
        generated = _openai_refusal(
            lambda: client.images.generate(model="gpt-image-2", prompt="x", extra_body={"colour": "red"})
        )
        edited = _openai_refusal(
            lambda: client.images.edit(
                model="gpt-image-2", prompt="x", image=("in.png", _png((64, 64)), "image/png"), extra_body={"seed": 7}
            )
        )
    assert (generated["code"], generated["param"], generated["message"]) == (
        "unknown_parameter",
        "colour",
        "Unknown parameter: 'colour'.",
    )
    assert (edited["code"], edited["param"]) == ("unknown_parameter", "seed")


@pytest.mark.parametrize(
    ("value", "words"),
    [("url", "needs the gateway's image storage"), ("png", "Supported values are: 'b64_json' and 'url'")],
)
def test_response_format_other_than_b64_json_is_refused_without_storage(
    client, checks_gateway, sandbox_url, value, words
):
    with nothing_paid(checks_gateway, sandbox_url):
        body = _openai_refusal(lambda: client.images.generate(model="gpt-image-2", prompt="x", response_format=value))
    assert body["param"] == "response_format" and words in body["message"]


def test_response_format_b64_json_is_consumed_not_forwarded(client):
    # The sandbox, like OpenAI, refuses response_format on GPT Image models: a 200 means it was not sent.
    result = client.images.generate(model="gpt-image-2", prompt="x", response_format="b64_json", quality="low")
    assert result.data is not None and result.data[0].b64_json


def test_style_is_refused_by_name_for_models_without_styles(client, checks_gateway, sandbox_url):
    with nothing_paid(checks_gateway, sandbox_url):
        body = _openai_refusal(lambda: client.images.generate(model="gpt-image-2", prompt="x", style="vivid"))
    assert (body["param"], body["message"]) == ("style", "'style' is not supported by gpt-image-2")


@pytest.mark.parametrize(("model", "n"), [("gpt-image-2", 11), ("gpt-image-2", 0), ("nano-banana-2", 0)])
def test_the_n_message_states_the_range_actually_served(client, checks_gateway, sandbox_url, model, n):
    with nothing_paid(checks_gateway, sandbox_url):
        body = _openai_refusal(lambda: client.images.generate(model=model, prompt="x", n=n))
    assert (body["param"], body["message"]) == ("n", f"'n' must be between 1 and 10, got {n}")


# -- prompts over the target's limit -------------------------------------------------------------


def test_prompt_over_the_limit_in_every_dialect(client, gemini, checks_gateway, key, sandbox_url):
    with nothing_paid(checks_gateway, sandbox_url):
        body = _openai_refusal(lambda: client.images.generate(model="gpt-image-2", prompt=LONG_PROMPT))
        gemini_message = _google_refusal(
            lambda: gemini.models.generate_content(model="gpt-image-2", contents=LONG_PROMPT)
        )
        imagen = httpx.post(
            f"{checks_gateway.url}/v1beta/models/gpt-image-2:predict",
            json={"instances": [{"prompt": LONG_PROMPT}], "parameters": {"sampleCount": 1}},
            headers={"x-goog-api-key": key},
        )
    expected = f"is {len(LONG_PROMPT)} characters long; gpt-image-2 takes at most 32000"
    assert body["param"] == "prompt" and expected in body["message"]
    assert gemini_message.startswith("'contents' ") and expected in gemini_message
    assert imagen.status_code == 400 and imagen.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert imagen.json()["error"]["message"].startswith("'instances[0].prompt' ")


def test_a_route_that_cannot_take_the_prompt_is_skipped(client, checks_gateway):
    raw = client.images.with_raw_response.generate(model="mixed", prompt=LONG_PROMPT)
    assert raw.http_response.status_code == 200
    rows = checks_gateway.ledger(raw.headers["x-request-id"])
    assert [(row.provider, row.status) for row in rows] == [("gemini", "ok")]


# -- missing model, feedback keys ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models/:generateContent",
        "/v1beta/models/:predict",
        "/v1beta1/projects/p/locations/l/publishers/google/models/:generateContent",
    ],
)
def test_a_missing_model_on_google_paths_is_a_missing_field(checks_gateway, key, sandbox_url, path):
    body = {"instances": [{"prompt": "x"}]} if path.endswith(":predict") else {"contents": [{"parts": [{"text": "x"}]}]}
    with nothing_paid(checks_gateway, sandbox_url):
        response = httpx.post(checks_gateway.url + path, json=body, headers={"authorization": f"Bearer {key}"})
    error = response.json()["error"]
    assert (response.status_code, error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["reason"] == "MISSING_REQUIRED_PARAMETER" and "'model'" in error["message"]


@pytest.mark.parametrize("how", ["header", "query"])
def test_feedback_accepts_the_google_key(client, checks_gateway, key, how):
    request_id = client.images.with_raw_response.generate(model="gpt-image-2", prompt="x", quality="low").headers[
        "x-request-id"
    ]
    headers = {"x-goog-api-key": key} if how == "header" else {}
    params = {"key": key} if how == "query" else {}
    body = {"request_id": request_id, "accepted": True}
    response = httpx.post(checks_gateway.url + "/v1/images/feedback", json=body, headers=headers, params=params)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] is True
    refused = httpx.post(checks_gateway.url + "/v1/images/feedback", json={}, headers={"x-goog-api-key": key})
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "INVALID_ARGUMENT"
