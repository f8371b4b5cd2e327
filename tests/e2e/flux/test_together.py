"""FLUX on Together AI through the gateway: one synchronous call per image, generate and edit.

Together has no task to cancel: a call is held open until the image is ready, so the gateway calls
it off by closing the connection (at the route's deadline, or when its own client hangs up), which
the sandbox records as ``client_closed``.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import openai
import pytest
from openai import OpenAI

from tests.support.flux import micros, pixel_size, png, wait_for

SCHNELL_PER_IMAGE = "0.0027"  # pricing.md §3.4 (1024x1024, 4 steps)
KONTEXT_PER_MP = Decimal("0.04")  # catalog row: Together's rule MP x price, MP = w*h / 10^6 (default steps)
GENERATIONS = "/together/v1/images/generations"


def together_rule(width: int, height: int) -> Decimal:
    """Together's published rule (togethercomputer/skills models.md) at the model's default steps."""
    return Decimal(width * height) / Decimal(1_000_000) * KONTEXT_PER_MP


def _calls(sandbox_control) -> list[dict]:
    return sandbox_control.get("/_sandbox/requests", params={"path": GENERATIONS}).json()["requests"]


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


def test_edit_sends_the_reference_as_image_url_and_bills_the_delivered_megapixels(
    client, flux_gateway, sandbox_control
):
    sandbox_control.delete("/_sandbox/requests")
    raw = client.images.with_raw_response.edit(
        model="together-kontext", prompt="make it dusk", image=("a.png", png(512, 384), "image/png"), size="1248x832"
    )
    [image] = raw.parse().data
    assert pixel_size(image.b64_json) == (1248, 832)
    [row] = flux_gateway.ledger(raw.headers["x-request-id"])
    assert (row.status, row.provider, row.operation, row.images) == ("ok", "together", "edit", 1)
    assert row.cost_micros == micros(together_rule(1248, 832)) == 41_533
    [call] = _calls(sandbox_control)
    assert (call["model"], call["input_images"], call["status"]) == ("black-forest-labs/FLUX.1-kontext-pro", 1, 200)


def test_edit_n_is_one_call_per_image_each_in_the_ledger(client, flux_gateway, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    raw = client.images.with_raw_response.edit(
        model="together-kontext", prompt="dusk", image=("a.png", png(256, 256), "image/png"), n=2
    )
    assert [pixel_size(item.b64_json) for item in raw.parse().data] == [(1024, 1024)] * 2
    rows = flux_gateway.ledger(raw.headers["x-request-id"])
    assert [row.cost_micros for row in rows] == [micros(together_rule(1024, 1024))] * 2 == [41_943] * 2
    assert [call["input_images"] for call in _calls(sandbox_control)] == [1, 1]


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        ("together-kontext", {"image": [("a.png", png(64, 64), "image/png")] * 2}, "image"),  # Kontext takes one
        ("together-kontext", {"image": ("a.png", png(64, 64), "image/png"), "output_format": "png"}, "output_format"),
        ("together-kontext", {"image": ("a.png", png(64, 64), "image/png"), "size": "1000x1000"}, "size"),
        ("together-kontext", {"image": ("a.png", png(64, 64), "image/png"), "quality": "high"}, "quality"),
    ],
)
def test_an_edit_together_cannot_honour_is_a_400_before_any_call(client, sandbox_control, model, fields, param):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(model=model, prompt="x", **fields)
    assert info.value.body["param"] == param
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 0


def test_a_text_to_image_model_refuses_an_edit_before_any_call(client, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(model="together-schnell", prompt="x", image=("a.png", png(64, 64), "image/png"))
    assert info.value.body["param"] == "model" and "edit" in info.value.body["message"]
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 0


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
    [row] = flux_gateway.ledger(info.value.response.headers["x-request-id"])
    assert (row.error_code, row.cost_micros) == ("moderation_blocked", 0)
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 1


def test_a_throttled_call_is_retried_after_the_hint(client, flux_gateway, sandbox_control):
    sandbox_control.post("/_sandbox/faults", json={"fault": "429=0", "path": GENERATIONS})
    raw = client.images.with_raw_response.generate(model="together-schnell", prompt="x")
    rows = flux_gateway.ledger(raw.headers["x-request-id"])
    assert [(row.error_code, row.cost_micros) for row in rows] == [("rate_limited", 0), (None, 2700)]


def test_a_call_that_never_finishes_is_closed_at_the_deadline(client, flux_gateway, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="together-short", prompt=f"[sandbox:never-finish] {uuid.uuid4().hex}")
    assert info.value.status_code == 504
    [row] = flux_gateway.ledger(info.value.response.headers["x-request-id"])
    assert row.error_code == "timeout" and row.cost_estimated
    # Together has no cancel call: the gateway hung up on the held call, which is how it is stopped.
    [call] = wait_for(lambda: [c for c in _calls(sandbox_control) if c["client_closed"]])
    assert call["status"] is None


def test_a_client_that_hangs_up_closes_the_call_at_together(flux_gateway, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    marker = uuid.uuid4().hex
    impatient = OpenAI(
        base_url=flux_gateway.url + "/v1", api_key=flux_gateway.create_key(f"t-{marker}"), max_retries=0, timeout=0.5
    )
    with impatient, pytest.raises(openai.APITimeoutError):
        impatient.images.generate(model="together-schnell", prompt=f"[sandbox:never-finish] {marker}")
    [row] = wait_for(lambda: [r for r in flux_gateway.ledger() if r.key_name == f"t-{marker}"])
    assert row.client_disconnected is True and row.error_code == "client_disconnected"
    [call] = wait_for(lambda: [c for c in _calls(sandbox_control) if c["client_closed"]])
    assert call["model"] == "black-forest-labs/FLUX.1-schnell"
