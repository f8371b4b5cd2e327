"""Imagen before its shutdown (native pass-through, Deprecation/Sunset headers, per-image price) and
Vertex AI routes authenticated with a service-account key against the sandbox's token endpoint."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google import genai
from google.genai import types
from openai import OpenAI
from PIL import Image

from imagegate.sandbox import SandboxConfig, running_sandbox
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway
from tests.support.google import BEFORE_IMAGEN_SHUTDOWN, TODAY, gemini_charge


def _predict(gateway: GatewayHandle, key: str, parameters: dict | None = None, text: str = "a fox") -> httpx.Response:
    body: dict = {"instances": [{"prompt": text}]}
    if parameters is not None:
        body["parameters"] = parameters
    return httpx.post(
        f"{gateway.url}/v1beta/models/imagen-4:predict", json=body, headers={"x-goog-api-key": key}, timeout=60
    )


def test_imagen_before_shutdown_passes_through_with_lifecycle_headers_and_its_image_price(legacy_gateway):
    key = legacy_gateway.create_key("imagen-before")
    response = _predict(legacy_gateway, key, {"sampleCount": 2, "aspectRatio": "9:16", "includeRaiReason": True})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert [Image.open(io.BytesIO(base64.b64decode(p["bytesBase64Encoded"]))).size for p in predictions] == [
        (768, 1408)
    ] * 2
    headers = response.headers
    assert headers["deprecation"] == "@1786924800" and headers["sunset"] == "Mon, 17 Aug 2026 00:00:00 GMT"
    assert headers["link"] == '</v1beta/models/gemini-2.5-flash-image>; rel="successor-version"'
    assert "x-imagegate-replaced-model" not in headers
    [row] = legacy_gateway.ledger(headers["x-request-id"])
    assert (row.provider, row.provider_model, row.images, row.usage) == (
        "imagen",
        "imagen-4.0-generate-001",
        2,
        {"images": 2, "filtered": 0, "sampleCount": 2},
    )
    assert row.cost_micros == 2 * 40_000 and not row.cost_estimated  # $0.04 per image (catalog row)


def test_imagen_filtering_reaches_the_client_as_imagen_said_it(legacy_gateway):
    key = legacy_gateway.create_key("imagen-filtered")
    partial = _predict(legacy_gateway, key, {"sampleCount": 3, "includeRaiReason": True}, "x [sandbox:filtered]")
    assert [sorted(p) for p in partial.json()["predictions"]][-1] == ["raiFilteredReason"]
    [row] = legacy_gateway.ledger(partial.headers["x-request-id"])
    assert row.images == 2 and row.cost_micros == 2 * 40_000  # filtered images are not billed
    everything = _predict(legacy_gateway, key, {"sampleCount": 2}, "x [sandbox:moderation]")
    assert everything.status_code == 200 and everything.json() == {}
    [row] = legacy_gateway.ledger(everything.headers["x-request-id"])
    assert (row.status, row.error_code, row.cost_micros) == ("error", "moderation_blocked", 0)


def test_openai_clients_get_imagen_with_sample_count_split_by_four(legacy_gateway):
    key = legacy_gateway.create_key("imagen-openai")
    raw = OpenAI(base_url=legacy_gateway.url + "/v1", api_key=key, max_retries=0).images.with_raw_response.generate(
        model="imagen-4", prompt="a fox", n=6, size="1408x768"
    )
    response = raw.parse()
    assert len(response.data) == 6 and response.size == "1408x768"
    assert raw.headers["sunset"] == "Mon, 17 Aug 2026 00:00:00 GMT"
    rows = legacy_gateway.ledger(raw.headers["x-request-id"])
    assert sorted(row.images for row in rows) == [2, 4] and sum(row.cost_micros for row in rows) == 6 * 40_000


# -- Vertex AI with a service account ----------------------------------------------------------------

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EMAIL = "imagegate@vertex-proj.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def vertex(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, GatewayHandle]]:
    """A sandbox that verifies this key's JWTs, and a gateway routing to it through Vertex AI paths
    with a generated service-account key file."""
    public = (
        KEY.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    private = KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    directory = tmp_path_factory.mktemp("vertex")
    with running_sandbox(SandboxConfig(google_service_accounts={EMAIL: public})) as url:
        key_file = directory / "service-account.json"
        key_file.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "vertex-proj",
                    "private_key_id": "k1",
                    "private_key": private,
                    "client_email": EMAIL,
                    "token_uri": f"{url}/token",
                }
            )
        )
        options = {"service_account_file": str(key_file), "vertex_location": "us-central1"}
        config = {
            "models": [
                {
                    "name": "banana",
                    "routes": [
                        {"provider": "gemini", "model": "gemini-3-pro-image", "base_url": url, "options": options}
                    ],
                },
                {
                    "name": "imagen",
                    "routes": [
                        {
                            "provider": "imagen",
                            "model": "imagen-4.0-fast-generate-001",
                            "base_url": url,
                            "options": options,
                        }
                    ],
                },
            ]
        }
        engine = migrated_sqlite_engine(directory / "imagegate.db")
        with running_gateway(engine, config, today=lambda: BEFORE_IMAGEN_SHUTDOWN) as handle:
            yield url, handle
        engine.dispose()


def test_vertex_routes_exchange_one_token_and_reuse_it(vertex):
    sandbox, gateway = vertex
    httpx.delete(f"{sandbox}/_sandbox/requests")
    key = gateway.create_key("vertex")
    oai = OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    assert len(oai.images.generate(model="banana", prompt="a fox", size="1536x1024").data) == 1
    client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gateway.url))
    chunks = list(client.models.generate_content_stream(model="banana", contents="a fox"))
    assert any(part.inline_data for chunk in chunks for part in chunk.parts or [])
    client.close()
    paths = [record["path"] for record in httpx.get(f"{sandbox}/_sandbox/requests").json()["requests"]]
    assert paths.count("/token") == 1
    assert (
        paths.count(
            "/v1beta1/projects/vertex-proj/locations/us-central1/publishers/google/models/"
            "gemini-3-pro-image:generateContent"
        )
        == 1
    )
    assert (
        paths.count(
            "/v1beta1/projects/vertex-proj/locations/us-central1/publishers/google/models/"
            "gemini-3-pro-image:streamGenerateContent"
        )
        == 1
    )
    rows = gateway.ledger()
    assert all(row.cost_micros == gemini_charge("gemini-3-pro-image", row.usage) for row in rows if row.status == "ok")


def test_imagen_on_vertex_is_served_with_the_same_token(vertex):
    _sandbox, gateway = vertex
    key = gateway.create_key("vertex-imagen")
    response = httpx.post(
        f"{gateway.url}/v1beta/models/imagen:predict?key={key}",
        timeout=60,
        json={"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 1}},
    )
    assert response.status_code == 200 and len(response.json()["predictions"]) == 1
    [row] = gateway.ledger(response.headers["x-request-id"])
    assert (row.provider, row.cost_micros) == ("imagen", 20_000)  # imagen-4.0-fast: $0.02 per image


def test_a_model_the_provider_does_not_know_is_a_gateway_error_not_a_client_error(sandbox_url, tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    config = {
        "models": [
            {
                "name": "old",
                "routes": [
                    {"provider": "imagen", "model": "imagen-3.0-generate-002", "base_url": sandbox_url, "api_key": "k"}
                ],
            }
        ]
    }
    with running_gateway(engine, config, today=lambda: TODAY) as gateway:
        key = gateway.create_key("unknown-upstream")
        with pytest.raises(openai.APIStatusError) as info:
            OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0).images.generate(model="old", prompt="x")
        assert info.value.status_code == 502 and info.value.body["code"] == "upstream_not_found"
        google = httpx.post(
            f"{gateway.url}/v1beta/models/old:predict",
            headers={"x-goog-api-key": key},
            json={"instances": [{"prompt": "x"}]},
        )
        assert google.status_code == 502 and google.json()["error"]["status"] == "UNAVAILABLE"
    engine.dispose()


def test_a_bad_service_account_key_file_fails_at_startup(tmp_path, sandbox_url):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    config = {
        "models": [
            {
                "name": "x",
                "routes": [
                    {
                        "provider": "gemini",
                        "model": "gemini-3-pro-image",
                        "base_url": sandbox_url,
                        "options": {"service_account_file": str(tmp_path / "missing.json")},
                    }
                ],
            }
        ]
    }
    with pytest.raises(Exception, match=r"missing\.json"), running_gateway(engine, config, today=lambda: TODAY):
        pass
    engine.dispose()
