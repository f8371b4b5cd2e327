"""The sandbox's Responses API for the image tool, over HTTP."""

from __future__ import annotations

import httpx
import orjson

from imagegate.providers.sse import frame_fields

TOOL = {"type": "image_generation"}


def _post(client: httpx.Client, body: dict[str, object]) -> httpx.Response:
    return client.post("/v1/responses", json={"model": "gpt-5", **body})


def test_stream_sends_the_event_sequence_with_partials(client: httpx.Client) -> None:
    answer = _post(client, {"input": "a fox", "stream": True, "tools": [{**TOOL, "partial_images": 3}]})
    assert answer.status_code == 200
    events = [orjson.loads(frame_fields(frame.encode())[1]) for frame in answer.text.split("\n\n") if frame]
    kinds = [event["type"] for event in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds.count("response.image_generation_call.partial_image") == 3
    assert kinds[-3:] == [
        "response.image_generation_call.completed",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    usage = events[-1]["response"]["tool_usage"]["image_gen"]
    assert usage["output_tokens"] == 1056 + 3 * 100


def test_edit_needs_an_image_and_previous_ids_must_exist(client: httpx.Client) -> None:
    refused = _post(client, {"input": "edit", "tools": [{**TOOL, "action": "edit"}]})
    assert (refused.status_code, refused.json()["error"]["param"]) == (400, "tools[0].action")
    unknown = _post(client, {"input": "x", "previous_response_id": "resp_nope", "tools": [TOOL]})
    assert (unknown.status_code, unknown.json()["error"]["param"]) == (400, "previous_response_id")
    first = _post(client, {"input": "a cat", "tools": [TOOL]}).json()
    edited = _post(
        client, {"input": "a hat", "previous_response_id": first["id"], "tools": [{**TOOL, "action": "edit"}]}
    )
    assert edited.status_code == 200 and edited.json()["output"][0]["action"] == "edit"


def test_both_moderation_forms(client: httpx.Client) -> None:
    blocked = _post(client, {"input": "[sandbox:moderation]", "tools": [TOOL]})
    assert (blocked.status_code, blocked.json()["error"]["code"]) == (400, "moderation_blocked")
    failed = _post(client, {"input": "[sandbox:moderation-item]", "tools": [TOOL]}).json()
    assert failed["output"][0]["status"] == "failed"
    assert failed["output"][0]["error"]["code"] == "moderation_blocked"
