"""The official ``openai`` SDK against the real gateway, the sandbox as OpenAI."""

from __future__ import annotations

import base64
import io
import uuid
from decimal import Decimal

import pytest
from openai import OpenAI
from PIL import Image

from imagegate.domain.money import usd_string
from imagegate.pricing.token_rules import area_formula_output_tokens


@pytest.fixture
def client(gateway) -> OpenAI:
    return OpenAI(
        base_url=gateway.url + "/v1", api_key=gateway.create_key(f"sdk-{uuid.uuid4().hex[:12]}"), max_retries=0
    )


def _png(size: tuple[int, int], mode: str = "RGB", color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("model", "size", "fmt"),
    [("gpt-image-2", "1024x1024", "png"), ("gpt-image-2", "1536x864", "jpeg"), ("gpt-image-1.5", "1024x1536", "webp")],
)
def test_generate_returns_real_images_of_the_requested_size_with_usage(client, gateway, model, size, fmt):
    raw = client.images.with_raw_response.generate(
        model=model, prompt="a lighthouse", size=size, quality="low", output_format=fmt, n=1
    )
    response = raw.parse()
    image = Image.open(io.BytesIO(base64.b64decode(response.data[0].b64_json)))
    assert f"{image.width}x{image.height}" == size
    assert image.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
    assert response.usage.output_tokens > 0
    request_id = raw.headers["x-request-id"]
    assert request_id.startswith("req_")
    [row] = gateway.ledger(request_id)
    assert (row.status, row.model, row.provider, row.provider_model, row.images) == ("ok", model, "openai", model, 1)
    assert row.usage["output_tokens"] == response.usage.output_tokens
    assert row.provider_request_id is not None and row.provider_request_id != request_id
    assert row.cost_micros > 0 and not row.cost_estimated
    assert raw.headers["x-imagegate-cost-usd"] == usd_string(row.cost_micros)


def test_ledger_cost_is_the_token_price(client, gateway):
    raw = client.images.with_raw_response.generate(
        model="gpt-image-2", prompt="x", size="1024x1024", quality="medium", n=2
    )
    usage = raw.parse().usage
    assert usage.output_tokens == 2 * area_formula_output_tokens(1024, 1024, 48)
    [row] = gateway.ledger(raw.headers["x-request-id"])
    # gpt-image-2: $5/1M text in, $8/1M image in, $30/1M image out.
    expected = (
        Decimal(usage.input_tokens_details.text_tokens) * 5
        + Decimal(usage.input_tokens_details.image_tokens) * 8
        + Decimal(usage.output_tokens) * 30
    )
    assert row.cost_micros == int(expected)
    assert raw.headers["x-imagegate-cost-usd"] == usd_string(row.cost_micros)
    assert row.images == 2


def test_edit_with_several_images_and_a_mask(client, gateway):
    first, second = _png((1024, 1024)), _png((1024, 1024), color=(0, 0, 255))
    mask = _png((1024, 1024), mode="RGBA", color=(0, 0, 0, 0))
    raw = client.images.with_raw_response.edit(
        model="gpt-image-1.5",
        prompt="add a hat",
        image=[("a.png", first, "image/png"), ("b.png", second, "image/png")],
        mask=("mask.png", mask, "image/png"),
        size="1536x1024",
        input_fidelity="high",
    )
    response = raw.parse()
    image = Image.open(io.BytesIO(base64.b64decode(response.data[0].b64_json)))
    assert image.size == (1536, 1024)
    assert response.usage.input_tokens_details.image_tokens > 0
    [row] = gateway.ledger(raw.headers["x-request-id"])
    assert (row.operation, row.status) == ("edit", "ok")


def test_single_image_edit(client):
    response = client.images.edit(
        model="gpt-image-2", prompt="make it blue", image=("one.png", _png((1024, 1024)), "image/png")
    )
    assert len(response.data) == 1


def test_streaming_generation_yields_partials_then_completed(client, gateway):
    events = list(
        client.images.generate(
            model="gpt-image-2", prompt="a fox", stream=True, partial_images=2, size="1024x1024", quality="low"
        )
    )
    kinds = [event.type for event in events]
    assert kinds == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [event.partial_image_index for event in events[:2]] == [0, 1]
    completed = events[-1]
    assert Image.open(io.BytesIO(base64.b64decode(completed.b64_json))).size == (1024, 1024)
    # Each streamed partial bills 100 extra output tokens.
    assert completed.usage.output_tokens == area_formula_output_tokens(1024, 1024, 16) + 200
    rows = [
        row
        for row in gateway.ledger()
        if row.stream and row.usage.get("output_tokens") == completed.usage.output_tokens
    ]
    assert rows and rows[-1].status == "ok" and rows[-1].images == 1 and rows[-1].cost_micros > 0


def test_streaming_edit_uses_edit_events(client):
    stream = client.images.edit(
        model="gpt-image-2", prompt="x", image=("a.png", _png((1024, 1024)), "image/png"), stream=True, partial_images=1
    )
    kinds = [event.type for event in stream]
    assert kinds == ["image_edit.partial_image", "image_edit.completed"]


def test_models_lists_only_what_the_key_may_use(gateway):
    limited = OpenAI(
        base_url=gateway.url + "/v1", api_key=gateway.create_key("limited-models", ["gpt-image-2"]), max_retries=0
    )
    assert [model.id for model in limited.models.list()] == ["gpt-image-2"]
    everything = OpenAI(base_url=gateway.url + "/v1", api_key=gateway.create_key("all-models"), max_retries=0)
    assert sorted(model.id for model in everything.models.list()) == [
        "gpt-image-1-mini",
        "gpt-image-1.5",
        "gpt-image-2",
    ]


def test_unknown_client_fields_reach_the_provider(client):
    response = client.images.generate(model="gpt-image-2", prompt="x", extra_body={"safety_identifier": "user-42"})
    assert len(response.data) == 1


def test_streams_carry_lifecycle_headers_like_plain_responses(gateway):
    # gpt-image-1.5 shuts down on 2026-12-01 (catalog); the test gateway's date is 2026-11-21.
    import httpx

    key = gateway.create_key(f"sunset-{uuid.uuid4().hex[:8]}")
    plain = httpx.post(
        gateway.url + "/v1/images/generations",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-image-1.5", "prompt": "x", "quality": "low"},
        timeout=30,
    )
    with httpx.stream(
        "POST",
        gateway.url + "/v1/images/generations",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-image-1.5", "prompt": "x", "stream": True},
        timeout=30,
    ) as streamed:
        streamed.read()
    for response in (plain, streamed):
        assert response.status_code == 200
        assert response.headers["sunset"] == "Tue, 01 Dec 2026 00:00:00 GMT"
        assert "deprecation" in response.headers
    assert streamed.headers["cache-control"] == "no-cache"
