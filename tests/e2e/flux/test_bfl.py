"""FLUX on Black Forest Labs' API through the gateway: the official SDKs in, the BFL sandbox out."""

from __future__ import annotations

import base64
import uuid
from decimal import Decimal

import openai
import pytest
from google import genai
from google.genai import types
from openai import OpenAI

from tests.support.flux import micros, pixel_size, png, tasks, wait_for

MP = Decimal(1024 * 1024)


def bfl_rule(first: str, per_mp: str, out: tuple[int, int], refs: tuple[tuple[int, int], ...] = ()) -> Decimal:
    """BFL's published FLUX.2 rule (pricing.md §3.1): first MP + further output MP + input MP, fractional."""
    out_mp = Decimal(out[0] * out[1]) / MP
    in_mp = sum((Decimal(w * h) / MP for w, h in refs), Decimal(0))
    return Decimal(first) + max(Decimal(0), out_mp - 1) * Decimal(per_mp) + in_mp * Decimal(per_mp)


def _request_id(raw: openai.APIResponse) -> str:  # type: ignore[type-arg]
    return raw.headers["x-request-id"]


def test_generate_returns_the_real_size_and_bills_the_reported_credits(client, flux_gateway, sandbox_url):
    raw = client.images.with_raw_response.generate(model="flux-2-pro", prompt="a lighthouse", size="1024x2048")
    answer = raw.parse()
    [image] = answer.data
    assert pixel_size(image.b64_json) == (1024, 2048)
    [row] = flux_gateway.ledger(_request_id(raw))
    assert (row.status, row.provider, row.provider_model, row.images) == ("ok", "bfl", "flux-2-pro", 1)
    # The same amount three ways: BFL's credits x $0.01, the published rule, the ledger.
    # BFL's *_mp are millions of pixels (2,097,152 px -> 2.1); its credits count 1024² megapixels.
    assert row.usage == {"cost": 4.5, "input_mp": 0.0, "output_mp": 2.1}
    assert (
        row.cost_micros == micros(Decimal("4.5") * Decimal("0.01")) == micros(bfl_rule("0.03", "0.015", (1024, 2048)))
    )
    assert row.cost_micros == 45_000 and not row.cost_estimated
    # The submit is the row; its task was polled until Ready and downloaded without the key.
    task = tasks(sandbox_url, "bfl")[row.provider_request_id]
    assert task["polls"] >= 3 and task["downloads"] == 1
    assert task["key_sent_to_result_host"] is False


def test_n_images_are_parallel_tasks_each_in_the_ledger(client, flux_gateway):
    raw = client.images.with_raw_response.generate(model="flux-2-klein-4b", prompt="three pears", n=3)
    assert len(raw.parse().data) == 3
    rows = flux_gateway.ledger(_request_id(raw))
    assert len(rows) == 3 and len({row.provider_request_id for row in rows}) == 3
    # klein-4b, 1024x1024 (BFL's default): $0.014 each, by the rule and by the credits.
    assert [row.cost_micros for row in rows] == [micros(bfl_rule("0.014", "0.001", (1024, 1024)))] * 3
    assert all(row.usage["cost"] == 1.4 for row in rows)


def test_edit_sends_the_reference_images_and_bills_their_megapixels(client, flux_gateway):
    refs = [("a.png", png(1024, 1024), "image/png"), ("b.png", png(512, 512), "image/png")]
    raw = client.images.with_raw_response.edit(
        model="flux-2-pro", prompt="combine them", image=refs, size="1024x1024", output_format="png"
    )
    [image] = raw.parse().data
    assert pixel_size(image.b64_json) == (1024, 1024)
    [row] = flux_gateway.ledger(_request_id(raw))
    assert row.usage["input_mp"] == 1.31 and row.operation == "edit"  # 1.05 + 0.26 million pixels
    expected = bfl_rule("0.03", "0.015", (1024, 1024), ((1024, 1024), (512, 512)))
    assert row.cost_micros == micros(expected) == micros(Decimal(str(row.usage["cost"])) * Decimal("0.01"))


def test_more_references_than_the_model_takes_is_a_400_before_any_call(client, flux_gateway, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    refs = [(f"{i}.png", png(64, 64), "image/png") for i in range(5)]
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(model="flux-2-klein-4b", prompt="x", image=refs)
    assert info.value.body["param"] == "image"
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 0


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"size": "1000x1000"}, "size"),  # not a multiple of 16: never silently changed
        ({"size": "4096x4096"}, "size"),  # over 4 MP
        ({"quality": "high"}, "quality"),  # FLUX has no quality levels
        ({"background": "transparent"}, "background"),
        ({"output_format": "gif"}, "output_format"),
    ],
)
def test_what_flux_cannot_honour_is_a_400_naming_the_parameter(client, sandbox_control, fields, param):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="flux-2-pro", prompt="x", **fields)
    assert info.value.body["param"] == param
    assert sandbox_control.get("/_sandbox/requests").json()["count"] == 0


@pytest.mark.parametrize("stage", ["input", "output"])
def test_moderation_is_moderation_blocked_and_not_retried(client, flux_gateway, sandbox_control, stage):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="flux-2-pro", prompt=f"[sandbox:moderation={stage}] x")
    assert info.value.body["code"] == "moderation_blocked"
    [row] = flux_gateway.ledger(info.value.response.headers["x-request-id"])
    assert (row.error_code, row.cost_micros) == ("moderation_blocked", 0)
    submits = sandbox_control.get("/_sandbox/requests", params={"path": "/v1/flux-2-pro"}).json()
    assert submits["count"] == 1


def _bfl_calls(sandbox_control) -> set[tuple[str, str]]:
    calls = sandbox_control.get("/_sandbox/requests").json()["requests"]
    return {(call["method"], call["path"]) for call in calls}


def test_a_task_that_never_finishes_ends_at_the_deadline_without_a_cancel_call(
    client, flux_gateway, sandbox_url, sandbox_control
):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="flux-bfl-short", prompt=f"[sandbox:never-finish] {uuid.uuid4().hex}")
    assert (info.value.status_code, info.value.body["code"]) == (504, "timeout")
    [row] = flux_gateway.ledger(info.value.response.headers["x-request-id"])
    # Sent and maybe run: the quote, flagged estimated, since BFL has no cancel call to stop it.
    assert row.error_code == "timeout" and row.cost_estimated and row.cost_micros > 0
    task = tasks(sandbox_url, "bfl")[row.provider_request_id]
    assert task["polls"] >= 2 and task["cancelled"] is False
    # BFL's API (openapi.json: submit, get_result, credits, finetunes) has no way to cancel a task,
    # so the gateway sends nothing but the submit and the polls: it stops polling and gives up
    # (tests/providers/test_flux_adapters.py: the adapter declares no cancel call).
    assert _bfl_calls(sandbox_control) == {("POST", "/v1/flux-2-pro"), ("GET", "/v1/get_result")}


def test_a_client_that_hangs_up_ends_the_task_at_the_gateway(flux_gateway, sandbox_url, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    marker = uuid.uuid4().hex
    impatient = OpenAI(
        base_url=flux_gateway.url + "/v1", api_key=flux_gateway.create_key(f"b-{marker}"), max_retries=0, timeout=0.5
    )
    with impatient, pytest.raises(openai.APITimeoutError):
        impatient.images.generate(model="flux-2-pro", prompt=f"[sandbox:never-finish] {marker}")
    [row] = wait_for(lambda: [r for r in flux_gateway.ledger() if r.key_name == f"b-{marker}"])
    assert row.client_disconnected is True and row.error_code == "client_disconnected"
    # Recorded at the quote (BFL may still run and bill the task); no call but the submit and polls.
    assert row.cost_estimated and row.cost_micros > 0
    assert _bfl_calls(sandbox_control) == {("POST", "/v1/flux-2-pro"), ("GET", "/v1/get_result")}
    # The row names the task BFL may still run and bill, though the hang-up carried no error to hold it.
    assert row.provider_request_id in tasks(sandbox_url, "bfl")


def test_an_expired_result_url_is_a_bad_response(client, flux_gateway):
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="flux-2-pro", prompt="[sandbox:expired] x")
    assert (info.value.status_code, info.value.body["code"]) == (502, "upstream_bad_response")
    rows = flux_gateway.ledger(info.value.response.headers["x-request-id"])
    assert [row.error_code for row in rows] == ["upstream_bad_response"] * 2  # retried once, as configured


def test_a_throttled_submit_waits_for_retry_after(client, flux_gateway, sandbox_control):
    sandbox_control.post("/_sandbox/faults", json={"fault": "429=0", "path": "/v1/flux-2-pro"})
    raw = client.images.with_raw_response.generate(model="flux-2-pro", prompt="x")
    rows = flux_gateway.ledger(_request_id(raw))
    assert [(row.error_code, row.http_status, row.cost_micros) for row in rows] == [
        ("rate_limited", 429, 0),
        (None, 200, 30_000),
    ]


def test_gemini_dialect_reaches_flux_with_the_aspect_ratio_as_pixels(flux_gateway):
    google = genai.Client(
        api_key=flux_gateway.create_key("bfl-google"), http_options=types.HttpOptions(base_url=flux_gateway.url)
    )
    response = google.models.generate_content(
        model="flux-2-pro",
        contents="a lighthouse at dusk",
        config=types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio="16:9")),
    )
    parts = [part for part in response.candidates[0].content.parts if part.inline_data is not None]
    assert len(parts) == 1
    assert pixel_size(base64.b64encode(parts[0].inline_data.data).decode()) == (
        1376,
        768,
    )  # Google's 16:9 at 1K, both edges multiples of 16
    [row] = flux_gateway.ledger(response.sdk_http_response.headers["x-request-id"])
    assert row.dialect == "gemini" and row.provider == "bfl"
    assert row.cost_micros == micros(Decimal(str(row.usage["cost"])) * Decimal("0.01"))
    google.close()


def test_a_stream_is_emulated_from_the_finished_task(client, flux_gateway):
    events = list(client.images.generate(model="flux-2-pro", prompt="a lighthouse", size="512x512", stream=True))
    completed = [event for event in events if event.type == "image_generation.completed"]
    assert len(completed) == 1 and pixel_size(completed[0].b64_json) == (512, 512)


def test_gemini_dialect_edit_sends_the_inline_image_as_input_image(flux_gateway):
    google = genai.Client(
        api_key=flux_gateway.create_key("bfl-google-edit"), http_options=types.HttpOptions(base_url=flux_gateway.url)
    )
    reference = types.Part.from_bytes(data=png(512, 512), mime_type="image/png")
    response = google.models.generate_content(
        model="flux-2-klein-4b",
        contents=[reference, "make it dusk"],
        config=types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio="1:1")),
    )
    [row] = flux_gateway.ledger(response.sdk_http_response.headers["x-request-id"])
    assert (row.operation, row.usage["input_mp"]) == ("edit", 0.26)
    # klein-4b: $0.014 first MP + 0.25 input MP x $0.001.
    assert row.cost_micros == micros(bfl_rule("0.014", "0.001", (1024, 1024), ((512, 512),))) == 14_250
    google.close()
