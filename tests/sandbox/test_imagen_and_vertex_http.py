"""The sandbox as Imagen ``:predict`` and as Vertex AI (OAuth token endpoint, bearer-only paths)."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from PIL import Image

from imagegate.sandbox import SandboxConfig, running_sandbox

GOOGLE = {"x-goog-api-key": "AIza-sandbox"}
EMAIL = "sandbox@proj.iam.gserviceaccount.com"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC = (
    KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
)


def predict(client: httpx.Client, model: str, parameters: dict | None = None, text: str = "a fox") -> httpx.Response:
    body: dict = {"instances": [{"prompt": text}]}
    if parameters is not None:
        body["parameters"] = parameters
    return client.post(f"/v1beta/models/{model}:predict", json=body, headers=GOOGLE)


def _size(prediction: dict) -> tuple[int, int]:
    return Image.open(io.BytesIO(base64.b64decode(prediction["bytesBase64Encoded"]))).size


def test_sample_count_defaults_to_four(client):
    predictions = predict(client, "imagen-4.0-fast-generate-001").json()["predictions"]
    assert len(predictions) == 4 and {p["mimeType"] for p in predictions} == {"image/png"}
    assert {_size(p) for p in predictions} == {(1024, 1024)}


@pytest.mark.parametrize(
    ("parameters", "size"),
    [({"aspectRatio": "16:9"}, (1408, 768)), ({"aspectRatio": "3:4", "sampleImageSize": "2K"}, (1792, 2560))],
)
def test_sizes_follow_the_imagen_table(client, parameters, size):
    [prediction] = predict(client, "imagen-4.0-generate-001", {"sampleCount": 1, **parameters}).json()["predictions"]
    assert _size(prediction) == size


@pytest.mark.parametrize(
    ("model", "parameters", "field"),
    [
        ("imagen-4.0-fast-generate-001", {"sampleImageSize": "2K"}, "parameters.sampleImageSize"),
        ("imagen-4.0-generate-001", {"sampleCount": 5}, "parameters.sampleCount"),
        ("imagen-4.0-generate-001", {"personGeneration": "allow_all"}, "parameters.personGeneration"),
        ("imagen-4.0-generate-001", {"safetySetting": "block_none"}, "parameters.safetySetting"),
        ("imagen-4.0-generate-001", {"seed": 1}, "parameters.seed"),
        ("imagen-4.0-generate-001", {"negativePrompt": "rain"}, "parameters.negativePrompt"),
    ],
)
def test_what_the_gemini_api_refuses_for_imagen_is_a_400(client, model, parameters, field):
    response = predict(client, model, parameters)
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["fieldViolations"][0]["field"] == field


def test_filtering_replaces_an_image_by_its_reason_or_drops_it(client):
    with_reason = predict(
        client, "imagen-4.0-generate-001", {"sampleCount": 3, "includeRaiReason": True}, "x [sandbox:filtered]"
    ).json()["predictions"]
    assert [sorted(p) for p in with_reason] == [["bytesBase64Encoded", "mimeType"]] * 2 + [["raiFilteredReason"]]
    silent = predict(client, "imagen-4.0-generate-001", {"sampleCount": 3}, "x [sandbox:filtered]").json()[
        "predictions"
    ]
    assert len(silent) == 2
    assert predict(client, "imagen-4.0-generate-001", {"sampleCount": 2}, "x [sandbox:moderation]").json() == {}


def test_jpeg_output_options(client):
    [prediction] = predict(
        client,
        "imagen-4.0-ultra-generate-001",
        {"sampleCount": 1, "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 60}},
    ).json()["predictions"]
    assert prediction["mimeType"] == "image/jpeg"
    assert Image.open(io.BytesIO(base64.b64decode(prediction["bytesBase64Encoded"]))).format == "JPEG"


def _assertion(token_url: str, *, key: rsa.RSAPrivateKey = KEY, lifetime: int = 3600) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "iss": EMAIL,
        "aud": token_url,
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "iat": now,
        "exp": now + lifetime,
    }
    signing = b64(orjson.dumps({"alg": "RS256", "typ": "JWT"})) + "." + b64(orjson.dumps(claims))
    return signing + "." + b64(key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256()))


@pytest.fixture(scope="module")
def vertex_sandbox() -> Iterator[str]:
    """A sandbox that knows one service account's public key and has Imagen shut down."""
    with running_sandbox(SandboxConfig(google_service_accounts={EMAIL: PUBLIC}, imagen_shut_down=True)) as url:
        yield url


def _token(url: str, assertion: str) -> httpx.Response:
    return httpx.post(
        f"{url}/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    )


def test_the_token_endpoint_checks_the_signature_and_the_token_opens_vertex_paths(vertex_sandbox):
    granted = _token(vertex_sandbox, _assertion(f"{vertex_sandbox}/token"))
    assert granted.status_code == 200 and granted.json()["token_type"] == "Bearer"
    token = granted.json()["access_token"]
    path = f"{vertex_sandbox}/v1beta1/projects/p/locations/global/publishers/google/models/gemini-3-pro-image:generateContent"
    body = {
        "contents": [{"parts": [{"text": "x"}]}],
        "generationConfig": {"imageConfig": {"personGeneration": "ALLOW_ADULT"}},
    }
    assert httpx.post(path, json=body, headers={"authorization": f"Bearer {token}"}, timeout=30).status_code == 200
    refused = httpx.post(path, json=body, headers={"authorization": "Bearer ya29.made-up"})
    assert (refused.status_code, refused.json()["error"]["status"]) == (401, "UNAUTHENTICATED")
    # An API key is not a Vertex credential.
    assert httpx.post(path, json=body, headers=GOOGLE).status_code == 401


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda url: _assertion(url, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)), "Signature"),
        (lambda url: _assertion("https://oauth2.googleapis.com/token"), "aud"),
        (lambda url: _assertion(url, lifetime=7200), "hour"),
        (lambda url: "not.a-jwt", "three"),
        (lambda url: "a.b!.c", "base64url"),
    ],
)
def test_bad_assertions_are_invalid_grant(vertex_sandbox, make, problem):
    response = _token(vertex_sandbox, make(f"{vertex_sandbox}/token"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert problem in response.json()["error_description"]


def test_imagen_after_shutdown_is_not_found(vertex_sandbox):
    response = httpx.post(
        f"{vertex_sandbox}/v1beta/models/imagen-4.0-generate-001:predict",
        headers=GOOGLE,
        json={"instances": [{"prompt": "x"}]},
    )
    assert (response.status_code, response.json()["error"]["status"]) == (404, "NOT_FOUND")
