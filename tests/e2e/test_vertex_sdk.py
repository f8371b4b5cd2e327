"""The official google-genai SDK in Vertex AI mode against the gateway, the sandbox as Google.

The client is built as the README shows: ``vertexai=True`` with a project and location, the imagegate
key as an OAuth token (``google.oauth2.credentials.Credentials(token=KEY)``) and the gateway as
``base_url``. Application Default Credentials are pointed at a missing file and the metadata server
at a closed port, so a test fails if the SDK looks for Google credentials or tries a refresh.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import google.oauth2.credentials
import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image

from imagegate.domain.money import usd_string
from tests.support.gateway import GatewayHandle
from tests.support.google import gemini_charge

PROJECT = "my-project"
LOCATION = "us-central1"
MODELS = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models"
# google-genai warns that generate_images (Imagen) is deprecated; these tests exercise it on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:The generate_images method is deprecated")


@pytest.fixture(autouse=True)
def no_google_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Any attempt to find or refresh Google credentials fails fast instead of going out."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-adc.json"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"):
        monkeypatch.delenv(name, raising=False)


class Vertex:
    """A Vertex-mode client on a gateway, and every HTTP response it received (with its request).

    ``express=True`` is Vertex "express mode": an API key instead of a project, location and token.
    """

    def __init__(self, gateway: GatewayHandle, key: str, *, api_version: str | None = None, express: bool = False):
        self.credentials = google.oauth2.credentials.Credentials(token=key)
        self.exchanges: list[httpx.Response] = []
        self._http = httpx.Client(timeout=60, event_hooks={"response": [self.exchanges.append]})
        options = types.HttpOptions(base_url=gateway.url, api_version=api_version, httpx_client=self._http)
        if express:
            self.client = genai.Client(vertexai=True, api_key=key, http_options=options)
        else:
            self.client = genai.Client(
                vertexai=True, project=PROJECT, location=LOCATION, credentials=self.credentials, http_options=options
            )

    @property
    def last(self) -> httpx.Response:
        """The last response the SDK received."""
        return self.exchanges[-1]

    def close(self) -> None:
        """Close the SDK client and its HTTP client."""
        self.client.close()
        self._http.close()


@pytest.fixture
def vertex_on() -> Iterator[Callable[..., Vertex]]:
    """``vertex_on(gateway, key, **options)``: a ``Vertex`` client, closed after the test."""
    made: list[Vertex] = []

    def make(gateway: GatewayHandle, key: str, **options: Any) -> Vertex:
        made.append(Vertex(gateway, key, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()


def _key(gateway: GatewayHandle, models: list[str] | None = None) -> str:
    return gateway.create_key(f"vertex-{uuid.uuid4().hex[:12]}", models=models)


@pytest.mark.parametrize("api_version", ["v1beta1", "v1"])
def test_generate_content_on_vertex_paths_is_served_and_priced(vertex_on, google_gateway, api_version):
    key = _key(google_gateway)
    vertex = vertex_on(google_gateway, key, api_version=api_version)
    response = vertex.client.models.generate_content(
        model="nano-banana-2",
        contents="a lighthouse at dusk",
        config=types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio="16:9", image_size="2K")),
    )
    [image] = [
        Image.open(io.BytesIO(part.inline_data.data)) for part in response.parts or [] if part.inline_data is not None
    ]
    assert image.size == (2752, 1536)
    sent = vertex.last.request
    assert sent.url.path == f"/{api_version}/{MODELS}/nano-banana-2:generateContent"
    assert sent.headers["authorization"] == f"Bearer {key}" and "x-goog-api-key" not in sent.headers
    assert vertex.credentials.token == key and not vertex.credentials.expired  # never refreshed
    headers = response.sdk_http_response.headers
    [row] = google_gateway.ledger(headers["x-request-id"])
    assert (row.status, row.model, row.provider, row.dialect, row.images) == (
        "ok",
        "nano-banana-2",
        "gemini",
        "gemini",
        1,
    )
    assert row.cost_micros == gemini_charge("gemini-3.1-flash-image", row.usage) > 0
    assert headers["x-imagegate-cost-usd"] == usd_string(row.cost_micros)


def test_generate_content_stream_on_vertex_paths(vertex_on, google_gateway):
    vertex = vertex_on(google_gateway, _key(google_gateway))
    chunks = list(vertex.client.models.generate_content_stream(model="nano-banana-pro", contents="a fox"))
    images = [part for chunk in chunks for part in chunk.parts or [] if part.inline_data is not None]
    assert len(images) == 1
    sent = vertex.last.request
    assert sent.url.path == f"/v1beta1/{MODELS}/nano-banana-pro:streamGenerateContent"
    assert sent.url.params["alt"] == "sse"
    [row] = google_gateway.ledger(vertex.last.headers["x-request-id"])
    assert (row.status, row.stream, row.dialect, row.provider) == ("ok", True, "gemini", "gemini")
    assert row.usage == chunks[-1].usage_metadata.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert row.cost_micros == gemini_charge("gemini-3-pro-image", row.usage) > 0


def test_generate_images_on_imagen_splits_the_sample_count_and_links_the_successor_on_vertex(vertex_on, legacy_gateway):
    vertex = vertex_on(legacy_gateway, _key(legacy_gateway))
    response = vertex.client.models.generate_images(
        model="imagen-4", prompt="a fox", config=types.GenerateImagesConfig(number_of_images=6, aspect_ratio="9:16")
    )
    assert [Image.open(io.BytesIO(item.image.image_bytes)).size for item in response.generated_images] == [
        (768, 1408)
    ] * 6
    answer = vertex.last
    assert answer.request.url.path == f"/v1beta1/{MODELS}/imagen-4:predict"
    # The successor is named where this client finds models: under its own Vertex path.
    assert answer.headers["link"] == f'</v1beta1/{MODELS}/gemini-2.5-flash-image>; rel="successor-version"'
    assert answer.headers["sunset"] == "Mon, 17 Aug 2026 00:00:00 GMT"
    rows = legacy_gateway.ledger(answer.headers["x-request-id"])
    assert sorted((row.images, row.provider, row.dialect, row.status) for row in rows) == [
        (2, "imagen", "imagen", "ok"),
        (4, "imagen", "imagen", "ok"),
    ]
    assert sum(row.cost_micros for row in rows) == 6 * 40_000  # $0.04 per image (catalog row)


def test_generate_images_after_imagen_shutdown_is_served_by_its_gemini_replacement(vertex_on, google_gateway):
    vertex = vertex_on(google_gateway, _key(google_gateway))
    response = vertex.client.models.generate_images(
        model="imagen-4", prompt="two foxes", config=types.GenerateImagesConfig(number_of_images=2)
    )
    assert len(response.generated_images) == 2
    assert all(item.image.mime_type.startswith("image/") for item in response.generated_images)
    answer = vertex.last
    assert answer.headers["x-imagegate-served-model"] == "gemini-2.5-flash-image"
    rows = google_gateway.ledger(answer.headers["x-request-id"])
    assert [(row.provider, row.dialect, row.images, row.status) for row in rows] == [("gemini", "imagen", 1, "ok")] * 2


def test_an_invalid_request_is_a_client_error_naming_the_field_and_costs_nothing(vertex_on, legacy_gateway):
    vertex = vertex_on(legacy_gateway, _key(legacy_gateway))
    with pytest.raises(genai_errors.ClientError) as info:
        vertex.client.models.generate_images(
            model="imagen-4", prompt="a fox", config=types.GenerateImagesConfig(number_of_images=0)
        )
    assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")
    assert "parameters.sampleCount" in info.value.message
    [detail] = info.value.details["error"]["details"]
    assert detail["metadata"]["param"] == "parameters.sampleCount"
    assert legacy_gateway.ledger(vertex.last.headers["x-request-id"]) == []


def test_a_refused_key_is_401_unauthenticated_as_vertex_answers(vertex_on, google_gateway):
    vertex = vertex_on(google_gateway, "ig_not-a-key")
    with pytest.raises(genai_errors.ClientError) as info:
        vertex.client.models.generate_content(model="nano-banana-2", contents="a fox")
    assert (info.value.code, info.value.status) == (401, "UNAUTHENTICATED")
    assert google_gateway.ledger(vertex.last.headers["x-request-id"]) == []


def test_a_missing_key_is_401_unauthenticated_naming_the_bearer_token(google_gateway):
    response = httpx.post(
        f"{google_gateway.url}/v1/{MODELS}/imagen-4:predict", json={"instances": [{"prompt": "a fox"}]}, timeout=30
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (401, "UNAUTHENTICATED") and "Bearer" in error["message"]


def test_models_get_and_list_show_the_keys_aliases_as_publisher_models(vertex_on, google_gateway):
    vertex = vertex_on(google_gateway, _key(google_gateway, models=["nano-banana-2", "imagen-4"]))
    model = vertex.client.models.get(model="nano-banana-2")
    assert model.name == "publishers/google/models/nano-banana-2" and model.display_name == "nano-banana-2"
    assert vertex.last.request.url.path == "/v1beta1/publishers/google/models/nano-banana-2"
    assert sorted(listed.name for listed in vertex.client.models.list()) == [
        "publishers/google/models/imagen-4",
        "publishers/google/models/nano-banana-2",
    ]
    with pytest.raises(genai_errors.ClientError) as info:
        vertex.client.models.get(model="gpt-image-2")
    assert (info.value.code, info.value.status) == (403, "PERMISSION_DENIED")


def test_express_mode_with_an_api_key_uses_the_unscoped_paths(vertex_on, google_gateway):
    key = _key(google_gateway)
    vertex = vertex_on(google_gateway, key, express=True)
    response = vertex.client.models.generate_content(model="nano-banana-2", contents="a fox")
    assert any(part.inline_data is not None for part in response.parts or [])
    sent = vertex.last.request
    assert sent.url.path == "/v1beta1/publishers/google/models/nano-banana-2:generateContent"
    assert sent.headers["x-goog-api-key"] == key and "authorization" not in sent.headers
    [row] = google_gateway.ledger(response.sdk_http_response.headers["x-request-id"])
    assert (row.status, row.dialect, row.provider) == ("ok", "gemini", "gemini")


def test_a_publisher_other_than_google_is_not_found(google_gateway):
    key = _key(google_gateway)
    response = httpx.post(
        f"{google_gateway.url}/v1beta1/projects/p/locations/l/publishers/anthropic/models/nano-banana-2:generateContent",
        headers={"authorization": f"Bearer {key}"},
        json={"contents": [{"parts": [{"text": "a fox"}]}]},
        timeout=30,
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["status"] == "NOT_FOUND" and "anthropic" in error["message"]
