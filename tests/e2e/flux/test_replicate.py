"""FLUX on Replicate through the gateway: a held create (``Prefer: wait``), polling, cancellation."""

from __future__ import annotations

import uuid
from decimal import ROUND_CEILING, Decimal

import openai
import pytest
from openai import OpenAI

from tests.support.flux import micros, pixel_size, png, tasks, wait_for

MILLION = Decimal(1_000_000)  # Replicate's megapixel is 10^6 pixels


def replicate_rule(out: tuple[int, int], refs: tuple[tuple[int, int], ...] = ()) -> Decimal:
    """FLUX.2 [pro] on Replicate (pricing.md §3.3): $0.015 a run + $0.015 per output MP (fractional)
    + $0.015 per input MP (each image rounded up)."""
    out_mp = Decimal(out[0] * out[1]) / MILLION
    in_mp = sum(((Decimal(w * h) / MILLION).to_integral_value(rounding=ROUND_CEILING) for w, h in refs), Decimal(0))
    return Decimal("0.015") + out_mp * Decimal("0.015") + in_mp * Decimal("0.015")


def test_a_held_create_answers_in_one_call(client, flux_gateway, sandbox_control, sandbox_url):
    sandbox_control.delete("/_sandbox/requests")
    raw = client.images.with_raw_response.generate(
        model="replicate-flux-2-pro", prompt="a harbour", size="1024x768", output_format="jpeg"
    )
    [image] = raw.parse().data
    assert pixel_size(image.b64_json) == (1024, 768)
    assert raw.parse().output_format == "jpeg"
    [row] = flux_gateway.ledger(raw.headers["x-request-id"])
    assert (row.status, row.provider, row.images) == ("ok", "replicate", 1)
    assert row.cost_micros == micros(replicate_rule((1024, 768)))
    assert row.usage["predict_time"] == 1.25
    # Prefer: wait held the create until the prediction succeeded: no polls, one download.
    calls = sandbox_control.get("/_sandbox/requests").json()["requests"]
    assert [call["path"].split("/")[2] for call in calls if call["path"].startswith("/v1/")] == ["models"]
    task = tasks(sandbox_url, "replicate")[row.provider_request_id]
    assert task["downloads"] == 1 and task["key_sent_to_result_host"] is False


def test_without_the_hold_the_prediction_is_polled(client, flux_gateway, sandbox_url):
    raw = client.images.with_raw_response.generate(model="replicate-polled", prompt="a harbour", size="512x512")
    [image] = raw.parse().data
    assert pixel_size(image.b64_json) == (512, 512)
    [row] = flux_gateway.ledger(raw.headers["x-request-id"])
    assert row.cost_micros == micros(replicate_rule((512, 512)))
    assert tasks(sandbox_url, "replicate")[row.provider_request_id]["polls"] >= 3


def test_edit_and_n_bill_each_prediction(client, flux_gateway):
    raw = client.images.with_raw_response.edit(
        model="replicate-flux-2-pro", prompt="dusk", image=("a.png", png(256, 256), "image/png"), n=2, size="1024x1024"
    )
    assert [pixel_size(item.b64_json) for item in raw.parse().data] == [(1024, 1024)] * 2
    rows = flux_gateway.ledger(raw.headers["x-request-id"])
    assert [row.cost_micros for row in rows] == [micros(replicate_rule((1024, 1024), ((256, 256),)))] * 2


def test_a_size_replicate_would_round_is_a_400(client, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="replicate-flux-2-pro", prompt="x", size="1008x1008")
    assert info.value.body["param"] == "size"
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 0


def test_flagged_content_is_moderation_blocked_and_not_retried(client, flux_gateway, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="replicate-flux-2-pro", prompt="[sandbox:moderation=output] x")
    assert info.value.body["code"] == "moderation_blocked"
    [row] = flux_gateway.ledger(info.value.response.headers["x-request-id"])
    assert row.error_code == "moderation_blocked"
    creates = sandbox_control.get("/_sandbox/requests", params={"path": "/predictions"}).json()
    assert creates["count"] == 1


def test_a_prediction_that_never_finishes_is_cancelled_at_the_deadline(client, flux_gateway, sandbox_url):
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="replicate-short", prompt=f"[sandbox:never-finish] {uuid.uuid4().hex}")
    assert info.value.status_code == 504
    [row] = flux_gateway.ledger(info.value.response.headers["x-request-id"])
    assert row.error_code == "timeout"
    assert tasks(sandbox_url, "replicate")[row.provider_request_id]["cancelled"] is True


def test_a_client_that_hangs_up_cancels_the_prediction(flux_gateway, sandbox_url):
    cancelled_before = {i for i, task in tasks(sandbox_url, "replicate").items() if task["cancelled"]}
    impatient = OpenAI(
        base_url=flux_gateway.url + "/v1", api_key=flux_gateway.create_key("r-leaver"), max_retries=0, timeout=0.5
    )
    with impatient, pytest.raises(openai.APITimeoutError):
        impatient.images.generate(model="replicate-polled", prompt=f"[sandbox:never-finish] {uuid.uuid4().hex}")
    newly = wait_for(
        lambda: {i for i, task in tasks(sandbox_url, "replicate").items() if task["cancelled"]} - cancelled_before
    )
    assert len(newly) == 1
