"""FLUX on fal's queue through the gateway, and fallback from a failing BFL route to fal."""

from __future__ import annotations

import uuid
from decimal import ROUND_CEILING, Decimal

import openai
import pytest
from openai import OpenAI

from tests.support.flux import micros, pixel_size, png, tasks, wait_for

MP = Decimal(1024 * 1024)


def fal_rule(first: str, per_mp: str, out: tuple[int, int], refs: tuple[tuple[int, int], ...] = ()) -> Decimal:
    """fal's published FLUX.2 [pro] rule (pricing.md §3.2): each image rounded up to whole MP,
    references at least 1 MP each; the first output MP at ``first``, every further one at ``per_mp``."""
    out_mp = (Decimal(out[0] * out[1]) / MP).to_integral_value(rounding=ROUND_CEILING)
    in_mp = sum(
        (max(Decimal(1), (Decimal(w * h) / MP).to_integral_value(rounding=ROUND_CEILING)) for w, h in refs),
        Decimal(0),
    )
    return Decimal(first) + (out_mp - 1) * Decimal(per_mp) + in_mp * Decimal(per_mp)


def test_generate_rounds_each_image_up_to_whole_megapixels(client, flux_gateway, sandbox_url):
    raw = client.images.with_raw_response.generate(model="fal-flux-2-pro", prompt="a harbour", size="1920x1088")
    [image] = raw.parse().data
    assert pixel_size(image.b64_json) == (1920, 1088)
    [row] = flux_gateway.ledger(raw.headers["x-request-id"])
    assert (row.status, row.provider, row.images) == ("ok", "fal", 1)
    # 1.99 MP rounds up to 2: $0.03 + $0.015.
    assert row.cost_micros == micros(fal_rule("0.03", "0.015", (1920, 1088))) == 45_000
    task = tasks(sandbox_url, "fal")[row.provider_request_id]
    assert task["polls"] >= 3 and task["downloads"] == 1 and task["key_sent_to_result_host"] is False


def test_edit_sends_data_urls_to_the_edit_endpoint_and_bills_the_references(client, flux_gateway, sandbox_control):
    sandbox_control.delete("/_sandbox/requests")
    raw = client.images.with_raw_response.edit(
        model="fal-flux-2-pro", prompt="make it dusk", image=("a.png", png(512, 512), "image/png"), size="1024x1024"
    )
    [image] = raw.parse().data
    assert pixel_size(image.b64_json) == (1024, 1024)
    [row] = flux_gateway.ledger(raw.headers["x-request-id"])
    assert row.cost_micros == micros(fal_rule("0.03", "0.015", (1024, 1024), ((512, 512),))) == 45_000
    submits = sandbox_control.get("/_sandbox/requests", params={"path": "/fal-ai/flux-2-pro/edit"}).json()
    assert submits["count"] == 1


def test_n_goes_in_one_call_where_the_model_takes_num_images(client, flux_gateway):
    raw = client.images.with_raw_response.generate(model="fal-klein-4b", prompt="pears", n=3, size="1024x1024")
    assert [pixel_size(item.b64_json) for item in raw.parse().data] == [(1024, 1024)] * 3
    [row] = flux_gateway.ledger(raw.headers["x-request-id"])
    assert (row.images, row.cost_micros) == (3, 3 * micros(Decimal("0.005")))


def test_n_is_parallel_submissions_where_it_does_not(client, flux_gateway):
    raw = client.images.with_raw_response.generate(model="fal-flux-2-pro", prompt="pears", n=2)
    assert len(raw.parse().data) == 2
    rows = flux_gateway.ledger(raw.headers["x-request-id"])
    # fal's default landscape_4_3 is 1024x768: 0.75 MP, billed as 1.
    assert [(row.images, row.cost_micros) for row in rows] == [(1, 30_000), (1, 30_000)]


@pytest.mark.parametrize("stage", ["input", "output"])
def test_moderation_is_moderation_blocked_and_not_retried(client, flux_gateway, sandbox_control, stage):
    sandbox_control.delete("/_sandbox/requests")
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="fal-flux-2-pro", prompt=f"[sandbox:moderation={stage}] x")
    assert info.value.body["code"] == "moderation_blocked"
    [row] = flux_gateway.ledger(info.value.response.headers["x-request-id"])
    assert (row.error_code, row.cost_micros) == ("moderation_blocked", 0)
    submits = sandbox_control.get("/_sandbox/requests", params={"path": "/fal-ai/flux-2-pro"}).json()
    assert submits["count"] == 1


def test_a_task_that_never_finishes_times_out_and_is_cancelled(client, flux_gateway, sandbox_url):
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="fal-short", prompt=f"[sandbox:never-finish] {uuid.uuid4().hex}")
    assert info.value.status_code == 504
    [row] = flux_gateway.ledger(info.value.response.headers["x-request-id"])
    assert row.error_code == "timeout" and row.cost_estimated
    assert tasks(sandbox_url, "fal")[row.provider_request_id]["cancelled"] is True


def test_a_client_that_hangs_up_cancels_the_task(flux_gateway, sandbox_url):
    marker = uuid.uuid4().hex
    key = flux_gateway.create_key(f"leaver-{marker}")
    cancelled_before = {task_id for task_id, task in tasks(sandbox_url, "fal").items() if task["cancelled"]}
    impatient = OpenAI(base_url=flux_gateway.url + "/v1", api_key=key, max_retries=0, timeout=0.5)
    with impatient, pytest.raises(openai.APITimeoutError):
        impatient.images.generate(model="fal-flux-2-pro", prompt=f"[sandbox:never-finish] {marker}")
    [row] = wait_for(lambda: [r for r in flux_gateway.ledger() if r.key_name == f"leaver-{marker}"])
    assert row.client_disconnected is True and row.error_code == "client_disconnected"
    # The gateway called the task off at fal when the client went away.
    newly = wait_for(
        lambda: {i for i, task in tasks(sandbox_url, "fal").items() if task["cancelled"]} - cancelled_before
    )
    assert len(newly) == 1


def test_a_failing_bfl_route_falls_back_to_fal(client, flux_gateway, sandbox_control):
    sandbox_control.post("/_sandbox/faults", json={"fault": "503", "path": "/v1/flux-2-pro"})
    raw = client.images.with_raw_response.generate(model="flux-2-pro-anywhere", prompt="x", size="1024x1024")
    [image] = raw.parse().data
    assert pixel_size(image.b64_json) == (1024, 1024)
    rows = flux_gateway.ledger(raw.headers["x-request-id"])
    assert [(row.provider, row.status, row.error_code, row.cost_micros) for row in rows] == [
        ("bfl", "error", "upstream_unavailable", 0),
        ("fal", "ok", None, 30_000),
    ]
