"""``response_format="url"`` end to end: the openai SDK against a real gateway, the sandbox as
OpenAI and Gemini, images stored locally or in S3 (moto), then fetched by URL."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from PIL import Image

from tests.storage.test_store_contract import png
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import GatewayHandle, running_gateway
from tests.support.google import google_models_config
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, new_bucket


def _storage_settings(kind: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    if kind == "local":
        return {"storage": "local"}
    endpoint = request.getfixturevalue("s3_endpoint")
    return {
        "storage": "s3",
        "s3_bucket": new_bucket(endpoint),
        "s3_endpoint_url": endpoint,
        "s3_region": REGION,
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SECRET_KEY,
        "s3_path_style": True,
    }


@pytest.fixture(scope="module", params=["local", "s3"])
def stored_gateway(
    request: pytest.FixtureRequest, sandbox_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayHandle]:
    """A gateway over the sandbox (GPT Image and Gemini routes) with each image store in turn."""
    directory = tmp_path_factory.mktemp("stored")
    engine = migrated_sqlite_engine(directory / "imagegate.db")
    document = google_models_config(sandbox_url)
    document["storage"] = {"retention": 3600, "teams": {}}
    settings = _storage_settings(request.param, request)
    with running_gateway(engine, document, data_dir=directory / "data", **settings) as handle:
        yield handle
    engine.dispose()


@pytest.fixture(scope="module")
def client(stored_gateway: GatewayHandle) -> Iterator[OpenAI]:
    key = stored_gateway.create_key(f"urls-{uuid.uuid4().hex[:8]}")
    with OpenAI(base_url=stored_gateway.url + "/v1", api_key=key, max_retries=0) as sdk:
        yield sdk


def _fetched(url: str) -> tuple[Image.Image, httpx.Response]:
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content)), response


def test_gpt_image_answers_with_urls_to_the_stored_images(client: OpenAI, stored_gateway: GatewayHandle):
    started = datetime.now(UTC).timestamp()
    raw = client.images.with_raw_response.generate(
        model="gpt-image-2",
        prompt="a lighthouse",
        size="1536x1024",
        quality="low",
        n=2,
        response_format="url",
        output_format="jpeg",
    )
    result = raw.parse()
    assert len(result.data) == 2
    for item in result.data:
        assert item.b64_json is None and item.url is not None
        image, response = _fetched(item.url)
        assert (image.format, image.size) == ("JPEG", (1536, 1024))
        assert response.headers["content-type"] == "image/jpeg"
        expires_at = item.model_extra["expires_at"]
        assert started + 3500 <= expires_at <= started + 3700
    assert result.usage is not None and result.usage.output_tokens > 0
    # The call is billed and recorded like any other, response_format never reached the provider.
    [row] = stored_gateway.ledger(raw.headers["x-request-id"])
    assert (row.status, row.images, row.provider) == ("ok", 2, "openai")


def test_a_gemini_route_answers_with_a_url_too(client: OpenAI):
    result = client.images.generate(model="nano-banana-2", prompt="a fox", size="1024x1024", response_format="url")
    [item] = result.data
    assert item.b64_json is None
    image, response = _fetched(item.url)
    # Gemini answers JPEG; the stored object keeps the provider's bytes and their type.
    assert (image.format, image.size) == ("JPEG", (1024, 1024))
    assert response.headers["content-type"] == "image/jpeg"


def test_edits_answer_with_urls(client: OpenAI):
    result = client.images.edit(
        model="gpt-image-2",
        image=("in.png", png(64, 64), "image/png"),
        prompt="make it blue",
        size="1024x1024",
        quality="low",
        response_format="url",
    )
    image, _ = _fetched(result.data[0].url)
    assert image.size == (1024, 1024)


def test_b64_json_stays_the_default(client: OpenAI):
    result = client.images.generate(model="gpt-image-2", prompt="p", size="1024x1024", quality="low")
    assert result.data[0].b64_json is not None and result.data[0].url is None


def test_url_with_stream_is_refused_naming_response_format(client: OpenAI):
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gpt-image-2", prompt="p", stream=True, response_format="url")
    assert info.value.param == "response_format"


def test_without_storage_url_is_refused_before_any_provider_call(sandbox_url: str, tmp_path: Path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    with running_gateway(engine, google_models_config(sandbox_url), storage="none") as handle:
        key = handle.create_key("no-storage")
        with (
            OpenAI(base_url=handle.url + "/v1", api_key=key, max_retries=0) as sdk,
            pytest.raises(openai.BadRequestError) as info,
        ):
            sdk.images.generate(model="gpt-image-2", prompt="p", response_format="url")
        assert info.value.param == "response_format"
        assert handle.ledger() == []
    engine.dispose()


def test_the_servers_sweeper_deletes_images_past_their_retention(sandbox_url: str, tmp_path: Path):
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    document = {**google_models_config(sandbox_url), "storage": {"retention": 2}}
    images = tmp_path / "data" / "images"
    with running_gateway(engine, document, data_dir=tmp_path / "data", storage_sweep_interval_s=0.1) as handle:
        key = handle.create_key("short-lived")
        with OpenAI(base_url=handle.url + "/v1", api_key=key, max_retries=0) as sdk:
            result = sdk.images.generate(model="gpt-image-2", prompt="p", size="1024x1024", response_format="url")
        [stored] = [path for path in images.rglob("*") if path.is_file()]
        assert stored.name == "0.png"
        # Retention is two seconds: the link expires, and a sweep round of the running server deletes the file.
        deadline = time.monotonic() + 10
        while stored.exists():
            assert time.monotonic() < deadline, "the sweeper never deleted the expired image"
            time.sleep(0.05)
        assert httpx.get(result.data[0].url).status_code == 403
    engine.dispose()
