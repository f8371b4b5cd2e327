"""The Responses API's image tool end to end: the official ``openai`` SDK → the gateway → the sandbox.

Cost is checked against an independent computation from the answer's two usages (the mainline
model's ``usage`` at its text rates, ``tool_usage.image_gen`` at the image model's token rates).
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from imagegate.store.reports import SqlReportStore
from tests.store.fixtures import migrated_sqlite_engine
from tests.support.flux import route as flux_route
from tests.support.gateway import GatewayHandle, running_gateway

_TEXT_RATES = {"input": Decimal("0.25"), "cached_input": Decimal("0.025"), "output": Decimal("2.00")}  # gpt-5-mini


def _tool_model_row() -> dict[str, Any]:
    """An operator's price row for the SDK's default tool model (no published price): 2.5-sunburst's rates."""
    data = json.loads((resources.files("imagegate.catalog") / "data" / "openai.json").read_text())
    row = next(row for row in data["models"] if row["model"] == "gpt-image-2.5-sunburst")
    return {**row, "model": "gpt-image-2.6-sunburst", "aliases": [], "lifecycle": {}}


TOOL_ROW = _tool_model_row()


@pytest.fixture(scope="module")
def gateway(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    engine = migrated_sqlite_engine(tmp_path_factory.mktemp("responses") / "imagegate.db")
    route = {"provider": "openai", "model": "gpt-5-mini", "base_url": f"{sandbox_url}/v1", "api_key": "sk-x"}
    gemini = {"provider": "gemini", "model": "gemini-3.1-flash-image", "base_url": sandbox_url, "api_key": "AIza-1"}
    config = {
        "models": [
            {"name": "gpt-5-mini", "routes": [route], "retry": {"base_delay": 0.01, "max_delay": 0.05}},
            {"name": "nano-banana-2", "routes": [gemini], "responses_emulation": True},
            {"name": "nano-strict", "routes": [gemini]},
            {"name": "flux-pro", "routes": [flux_route("bfl", "flux-2-pro", sandbox_url)], "responses_emulation": True},
            {
                "name": "gpt-5-mini-hang",
                "routes": [{**route, "timeout": 1}],
                "retry": {"max_attempts_per_route": 1},
            },
            {
                "name": "gpt-5-mini-or-nano",
                "routes": [{**route, "model": "gpt-5-mini", "name": "native"}, {**gemini, "name": "emulated"}],
                "responses_emulation": True,
                "retry": {"base_delay": 0.01, "max_delay": 0.05},
            },
        ],
        "catalog": [TOOL_ROW],
    }
    with running_gateway(engine, config) as handle:
        yield handle
    engine.dispose()


@pytest.fixture(scope="module")
def client(gateway: GatewayHandle) -> Iterator[openai.OpenAI]:
    key = gateway.create_key(f"responses-{uuid.uuid4().hex[:8]}")
    with openai.OpenAI(api_key=key, base_url=f"{gateway.url}/v1", max_retries=0) as sdk:
        yield sdk


def expected_micros(body: dict[str, Any]) -> int:
    """The cost computed independently from the answer's two usage objects."""
    usage = body["usage"]
    cached = usage["input_tokens_details"]["cached_tokens"]
    total = (usage["input_tokens"] - cached) * _TEXT_RATES["input"] + cached * _TEXT_RATES["cached_input"]
    total += usage["output_tokens"] * _TEXT_RATES["output"]
    image_gen = body["tool_usage"]["image_gen"]
    rates = {key: Decimal(value) for key, value in TOOL_ROW["pricing"]["token_rates"].items()}
    total += image_gen["input_tokens_details"]["text_tokens"] * rates["text_input"]
    total += image_gen["input_tokens_details"]["image_tokens"] * rates["image_input"]
    total += image_gen["output_tokens_details"]["image_tokens"] * rates["image_output"]
    total += image_gen["output_tokens_details"]["text_tokens"] * rates["image_output"]
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def _row(gateway: GatewayHandle, request_id: str) -> Any:
    [row] = gateway.ledger(request_id)
    return row


def test_plain_call_forwards_the_image_and_bills_both_usages(client: openai.OpenAI, gateway: GatewayHandle) -> None:
    raw = client.responses.with_raw_response.create(
        model="gpt-5-mini", input="a lighthouse at dawn", tools=[{"type": "image_generation", "quality": "low"}]
    )
    response = raw.parse()
    [call] = [item for item in response.output if item.type == "image_generation_call"]
    assert call.status == "completed" and call.result is not None
    assert base64.b64decode(call.result).startswith(b"\x89PNG")
    assert response.tool_usage is not None and response.tool_usage.image_gen is not None
    body = json.loads(raw.content)
    expected = expected_micros(body)
    assert raw.headers["x-imagegate-cost-usd"] == f"{Decimal(expected) / 1_000_000:.6f}"
    row = _row(gateway, raw.headers["x-request-id"])
    assert (row.status, row.cost_micros, row.images, row.operation) == ("ok", expected, 1, "respond")
    assert row.usage["usage"] == body["usage"] and row.usage["tool_usage"] == body["tool_usage"]


def test_stream_passes_partial_images_through_and_bills_them(client: openai.OpenAI, gateway: GatewayHandle) -> None:
    with client.responses.with_streaming_response.create(
        model="gpt-5-mini",
        input="a red kite",
        tools=[{"type": "image_generation", "partial_images": 2}],
        stream=True,
    ) as raw:
        request_id = raw.headers["x-request-id"]
        events = list(raw.parse())
    partials = [event for event in events if event.type == "response.image_generation_call.partial_image"]
    assert [event.partial_image_index for event in partials] == [0, 1]
    assert all(base64.b64decode(event.partial_image_b64) for event in partials)
    completed = events[-1]
    assert completed.type == "response.completed"
    body = completed.response.model_dump(mode="json")
    assert body["tool_usage"]["image_gen"]["output_tokens"] == 1056 + 2 * 100
    row = _row(gateway, request_id)
    assert (row.status, row.stream, row.images, row.cost_micros) == ("ok", True, 1, expected_micros(body))


def test_every_tool_option_and_tool_choice_reach_the_provider_as_sent(client: openai.OpenAI) -> None:
    mask = base64.b64encode(_png(64, 64, "RGBA")).decode()
    tool: dict[str, Any] = {
        "type": "image_generation",
        "action": "generate",
        "model": TOOL_ROW["model"],
        "size": "1024x1536",
        "quality": "low",
        "background": "opaque",
        "output_format": "webp",
        "output_compression": 80,
        "input_fidelity": "low",
        "input_image_mask": {"image_url": f"data:image/png;base64,{mask}"},
        "partial_images": 0,
        "moderation": "low",
    }
    response = client.responses.create(
        model="gpt-5-mini",
        input="a lantern",
        tools=[tool],
        tool_choice={"type": "image_generation"},
    )
    # The sandbox echoes the request's tools and tool_choice, so these are what the provider got.
    assert [item.model_dump(exclude_none=True) for item in response.tools] == [tool]
    assert response.tool_choice.model_dump(exclude_none=True) == {"type": "image_generation"}


def test_previous_response_id_continues_the_conversation(client: openai.OpenAI) -> None:
    first = client.responses.create(model="gpt-5-mini", input="a cat", tools=[{"type": "image_generation"}])
    second = client.responses.create(
        model="gpt-5-mini",
        previous_response_id=first.id,
        input="now make it wear a hat",
        tools=[{"type": "image_generation", "action": "edit"}],
    )
    assert second.previous_response_id == first.id
    assert second.output[0].type == "image_generation_call" and second.output[0].status == "completed"


def test_edit_without_an_image_is_the_providers_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="gpt-5-mini", input="edit it", tools=[{"type": "image_generation", "action": "edit"}]
        )
    assert caught.value.body is not None and caught.value.body["param"] == "tools[0].action"  # type: ignore[index]


def test_moderation_as_http_400_is_recorded_as_moderation(client: openai.OpenAI, gateway: GatewayHandle) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.with_raw_response.create(
            model="gpt-5-mini", input="[sandbox:moderation] x", tools=[{"type": "image_generation"}]
        )
    assert caught.value.code == "moderation_blocked"
    row = _row(gateway, caught.value.response.headers["x-request-id"])
    assert (row.status, row.error_code, row.cost_micros) == ("error", "moderation_blocked", 0)


def test_moderation_inside_a_200_is_forwarded_and_recorded(client: openai.OpenAI, gateway: GatewayHandle) -> None:
    raw = client.responses.with_raw_response.create(
        model="gpt-5-mini", input="[sandbox:moderation-item] x", tools=[{"type": "image_generation"}]
    )
    response = raw.parse()
    assert response.output[0].type == "image_generation_call" and response.output[0].status == "failed"
    row = _row(gateway, raw.headers["x-request-id"])
    assert (row.status, row.error_code, row.images) == ("error", "moderation_blocked", 0)
    assert row.cost_micros == expected_micros(json.loads(raw.content)) > 0  # the mainline turn is billed


def test_unknown_field_and_bad_tool_option_are_400s_naming_them(gateway: GatewayHandle, client: openai.OpenAI) -> None:
    headers = {"authorization": f"Bearer {client.api_key}"}
    tool = {"type": "image_generation"}
    cases = [
        ({"model": "gpt-5-mini", "input": "x", "tools": [tool], "bogus": 1}, "bogus"),
        ({"model": "gpt-5-mini", "input": "x", "tools": [{**tool, "quality": "ultra"}]}, "tools[0].quality"),
        ({"model": "gpt-5-mini", "input": "x", "tools": [{**tool, "partial_images": 4}]}, "tools[0].partial_images"),
        ({"model": "gpt-5-mini", "input": "x", "tools": [{**tool, "sharpness": 1}]}, "tools[0].sharpness"),
        ({"model": "gpt-5-mini", "input": "x"}, "tools"),
        (
            {
                "model": "gpt-5-mini",
                "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "http://10.0.0.1/a.png"}]}],
                "tools": [tool],
            },
            "input[0].content[0].image_url",
        ),
        ({"model": "nano-strict", "input": "x", "tools": [tool]}, "model"),
        ({"model": "nano-banana-2", "input": "x", "tools": [tool]}, "tool_choice"),
        (
            {
                "model": "nano-banana-2",
                "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}],
                "tools": [tool],
                "tool_choice": {"type": "image_generation"},
            },
            "input[0].content[0]",
        ),
    ]
    for body, param in cases:
        answer = httpx.post(f"{gateway.url}/v1/responses", json=body, headers=headers)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["param"] == param


def test_emulated_on_a_gemini_alias_is_parsed_by_the_sdk(client: openai.OpenAI, gateway: GatewayHandle) -> None:
    raw = client.responses.with_raw_response.create(
        model="nano-banana-2",
        input="a blue bird",
        tools=[{"type": "image_generation"}],
        tool_choice={"type": "image_generation"},
    )
    assert raw.headers["x-imagegate-emulated"] == "responses"
    response = raw.parse()
    [call] = response.output
    assert call.type == "image_generation_call" and call.status == "completed" and call.result is not None
    assert call.action == "generate" and base64.b64decode(call.result)
    row = _row(gateway, raw.headers["x-request-id"])
    assert (row.status, row.provider, row.images) == ("ok", "gemini", 1)
    assert raw.headers["x-imagegate-cost-usd"] == f"{Decimal(row.cost_micros) / 1_000_000:.6f}"

    with client.responses.stream(
        model="nano-banana-2",
        input="a blue bird",
        tools=[{"type": "image_generation"}],
        tool_choice={"type": "image_generation"},
    ) as stream:
        final = stream.get_final_response()
    assert final.output[0].type == "image_generation_call" and final.output[0].result is not None


def test_emulated_stream_sends_the_responses_event_sequence(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="nano-banana-2",
        input="a green frog",
        tools=[{"type": "image_generation"}],
        tool_choice={"type": "image_generation"},
    ) as stream:
        kinds = [event.type for event in stream]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        "response.image_generation_call.completed",
        "response.output_item.done",
        "response.completed",
    ]


def test_emulated_on_a_flux_alias_is_parsed_by_the_sdk(client: openai.OpenAI, gateway: GatewayHandle) -> None:
    raw = client.responses.with_raw_response.create(
        model="flux-pro",
        input="a paper boat",
        tools=[{"type": "image_generation", "size": "1024x1024"}],
        tool_choice={"type": "image_generation"},
    )
    assert raw.headers["x-imagegate-emulated"] == "responses"
    [call] = raw.parse().output
    assert call.type == "image_generation_call" and call.status == "completed" and call.result is not None
    with Image.open(io.BytesIO(base64.b64decode(call.result))) as image:
        assert image.size == (1024, 1024)
    row = _row(gateway, raw.headers["x-request-id"])
    assert (row.status, row.provider, row.images, row.operation) == ("ok", "bfl", 1, "respond")
    assert raw.headers["x-imagegate-cost-usd"] == f"{Decimal(row.cost_micros) / 1_000_000:.6f}"
    assert row.cost_micros > 0


def test_reports_count_both_moderation_forms(client: openai.OpenAI, gateway: GatewayHandle) -> None:
    key = gateway.create_key(f"moderated-{uuid.uuid4().hex[:8]}")
    with openai.OpenAI(api_key=key, base_url=f"{gateway.url}/v1", max_retries=0) as sdk:
        with pytest.raises(openai.BadRequestError):
            sdk.responses.create(
                model="gpt-5-mini", input="[sandbox:moderation] x", tools=[{"type": "image_generation"}]
            )
        sdk.responses.create(
            model="gpt-5-mini", input="[sandbox:moderation-item] x", tools=[{"type": "image_generation"}]
        )
    gateway.ledger()  # the writer caught up
    groups, _ = SqlReportStore(gateway.engine).aggregate("key")
    [group] = [group for group in groups if group.group is not None and group.group.startswith("moderated-")]
    assert (group.attempts, group.failed_attempts, group.moderated_attempts) == (2, 2, 2)


def test_a_failed_attempt_is_retried_and_every_attempt_recorded(
    client: openai.OpenAI, gateway: GatewayHandle, sandbox_control: httpx.Client
) -> None:
    sandbox_control.post("/_sandbox/faults", json={"fault": "503", "count": 1, "model": "gpt-5-mini"})
    raw = client.responses.with_raw_response.create(
        model="gpt-5-mini", input="a boat", tools=[{"type": "image_generation"}]
    )
    first, second = gateway.ledger(raw.headers["x-request-id"])
    assert (first.status, first.error_code, first.cost_micros) == ("error", "upstream_unavailable", 0)
    assert (second.status, second.cost_micros) == ("ok", expected_micros(json.loads(raw.content)))


def test_idempotency_key_replays_without_a_second_call(client: openai.OpenAI, gateway: GatewayHandle) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    tools: Any = [{"type": "image_generation"}]
    first = client.responses.with_raw_response.create(
        model="gpt-5-mini", input="a pier", tools=tools, extra_headers=key
    )
    again = client.responses.with_raw_response.create(
        model="gpt-5-mini", input="a pier", tools=tools, extra_headers=key
    )
    assert again.content == first.content
    assert len(gateway.ledger(first.headers["x-request-id"])) == 1


def test_moderation_inside_a_stream_is_passed_through_and_recorded(
    client: openai.OpenAI, gateway: GatewayHandle
) -> None:
    with client.responses.with_streaming_response.create(
        model="gpt-5-mini", input="[sandbox:moderation-item] x", tools=[{"type": "image_generation"}], stream=True
    ) as raw:
        request_id = raw.headers["x-request-id"]
        events = list(raw.parse())
    done = [event for event in events if event.type == "response.output_item.done"]
    assert done[0].item.type == "image_generation_call" and done[0].item.status == "failed"
    body = events[-1].response.model_dump(mode="json")
    row = _row(gateway, request_id)
    assert (row.status, row.error_code, row.images, row.cost_micros) == (
        "error",
        "moderation_blocked",
        0,
        expected_micros(body),
    )


def test_a_failed_native_route_falls_back_to_an_emulating_route(
    client: openai.OpenAI, gateway: GatewayHandle, sandbox_control: httpx.Client
) -> None:
    sandbox_control.post("/_sandbox/faults", json={"fault": "503", "count": 2, "model": "gpt-5-mini"})
    raw = client.responses.with_raw_response.create(
        model="gpt-5-mini-or-nano",
        input="a kite",
        tools=[{"type": "image_generation"}],
        tool_choice={"type": "image_generation"},
    )
    assert raw.headers["x-imagegate-emulated"] == "responses"
    assert raw.parse().output[0].status == "completed"
    rows = gateway.ledger(raw.headers["x-request-id"])
    assert [(row.route, row.status) for row in rows] == [("native", "error"), ("native", "error"), ("emulated", "ok")]


def test_emulated_edit_sends_the_input_image(client: openai.OpenAI, gateway: GatewayHandle) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, format="PNG")
    data_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    raw = client.responses.with_raw_response.create(
        model="nano-banana-2",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "make it blue"},
                    {"type": "input_image", "image_url": data_url},
                ],
            }
        ],
        tools=[{"type": "image_generation"}],
        tool_choice={"type": "image_generation"},
    )
    [call] = raw.parse().output
    assert call.type == "image_generation_call" and call.action == "edit" and call.result is not None
    row = _row(gateway, raw.headers["x-request-id"])
    assert (row.operation, row.dialect, row.provider) == ("respond", "openai-responses", "gemini")  # what was asked


def test_a_hung_call_is_recorded_at_its_quote(client: openai.OpenAI, gateway: GatewayHandle) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.responses.create(model="gpt-5-mini-hang", input="[sandbox:hang] x", tools=[{"type": "image_generation"}])
    assert caught.value.status_code == 504
    row = _row(gateway, caught.value.response.headers["x-request-id"])
    # Possibly billed: the quote, flagged estimated: the prompt, the output reserve and one image.
    assert (row.status, row.error_code, row.cost_estimated) == ("error", "timeout", True)
    assert row.cost_micros > 4096 * 2  # gpt-5-mini's 4096-token output reserve alone
