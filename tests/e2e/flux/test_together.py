"""FLUX on Together AI through the gateway: one synchronous call per image, priced per image."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from tests.support.flux import micros, pixel_size

SCHNELL_PER_IMAGE = "0.0027"  # pricing.md §3.4 (1024x1024, 4 steps)


def test_generate_returns_base64_and_bills_the_image_price(client, flux_gateway):
    raw = client.images.with_raw_response.generate(model="together-schnell", prompt="a harbour", output_format="png")
    [image] = raw.parse().data
    assert pixel_size(image.b64_json) == (1024, 1024)
    [row] = flux_gateway.ledger(raw.headers["x-request-id"])
    assert (row.status, row.provider, row.cost_micros) == ("ok", "together", micros(Decimal(SCHNELL_PER_IMAGE)))


def test_n_images_are_parallel_calls(client, flux_gateway):
    raw = client.images.with_raw_response.generate(model="together-schnell", prompt="pears", n=2)
    assert len(raw.parse().data) == 2
    rows = flux_gateway.ledger(raw.headers["x-request-id"])
    assert [row.cost_micros for row in rows] == [2700, 2700]


def test_a_size_without_a_published_price_is_a_400(client, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="together-schnell", prompt="x", size="512x512")
    assert info.value.body["param"] == "size"
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 0


def test_moderation_is_moderation_blocked_and_not_retried(client, flux_gateway, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="together-schnell", prompt="[sandbox:moderation] x")
    assert info.value.body["code"] == "moderation_blocked"
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1


def test_a_throttled_call_is_retried_after_the_hint(client, flux_gateway, sandbox_control):
    sandbox_control.post("/_sandbox/faults", json={"fault": "429=0", "path": "/together/v1/images/generations"})
    raw = client.images.with_raw_response.generate(model="together-schnell", prompt="x")
    rows = flux_gateway.ledger(raw.headers["x-request-id"])
    assert [(row.error_code, row.cost_micros) for row in rows] == [("rate_limited", 0), (None, 2700)]
