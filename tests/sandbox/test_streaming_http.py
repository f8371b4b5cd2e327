"""SSE streaming (stream=true) over real HTTP, read by the official SDK and by a raw parser."""

from __future__ import annotations

import time

import httpx
import openai
import orjson
import pytest
from openai import OpenAI
from openai.types import ImageGenCompletedEvent, ImageGenPartialImageEvent

from tests.sandbox.helpers import decode_image


def raw_events(client: httpx.Client, **fields: object) -> list[tuple[str, dict[str, object]]]:
    """(event, data) pairs of a streamed generation, parsed by hand from the SSE text."""
    body = {"model": "gpt-image-2", "prompt": "a fox", "stream": True, **fields}
    with client.stream("POST", "/v1/images/generations", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], orjson.loads(lines["data"])))
    return events


def test_sdk_stream_partials_then_completed(oai: OpenAI) -> None:
    stream = oai.images.generate(
        model="gpt-image-2", prompt="a fox", stream=True, partial_images=2, quality="low", size="1536x1024"
    )
    events = list(stream)
    assert [type(e) for e in events] == [ImageGenPartialImageEvent, ImageGenPartialImageEvent, ImageGenCompletedEvent]
    partials = [e for e in events if isinstance(e, ImageGenPartialImageEvent)]
    assert [p.partial_image_index for p in partials] == [0, 1]
    assert all(decode_image(p.b64_json).size == (1536, 1024) for p in partials)
    completed = events[-1]
    assert isinstance(completed, ImageGenCompletedEvent)
    assert (completed.size, completed.quality, completed.output_format, completed.background) == (
        "1536x1024",
        "low",
        "png",
        "opaque",
    )
    assert completed.usage.output_tokens == 158 + 2 * 100  # gpt-image-2 low 1536x1024, +100 per partial
    assert completed.usage.total_tokens == completed.usage.output_tokens + completed.usage.input_tokens


def test_raw_frames_have_event_lines_and_exact_fields(client: httpx.Client) -> None:
    events = raw_events(client, partial_images=1, quality="low", output_format="webp")
    assert [name for name, _ in events] == ["image_generation.partial_image", "image_generation.completed"]
    partial, completed = events[0][1], events[1][1]
    assert set(partial) == {
        "type",
        "b64_json",
        "background",
        "created_at",
        "output_format",
        "partial_image_index",
        "quality",
        "size",
    }
    assert set(completed) == {
        "type",
        "b64_json",
        "background",
        "created_at",
        "output_format",
        "quality",
        "size",
        "usage",
    }
    assert partial["type"] == "image_generation.partial_image"
    assert decode_image(str(completed["b64_json"])).format == "WEBP"


def test_zero_partials_sends_only_completed(client: httpx.Client) -> None:
    events = raw_events(client, partial_images=0, quality="low")
    assert [name for name, _ in events] == ["image_generation.completed"]
    usage = events[0][1]["usage"]
    assert isinstance(usage, dict) and usage["output_tokens"] == 196


def test_stream_n2_usage_adds_up(client: httpx.Client) -> None:
    events = raw_events(client, n=2, partial_images=1, quality="low", prompt="abcdefgh")
    assert [name for name, _ in events] == ["image_generation.partial_image", "image_generation.completed"] * 2
    usages = [data["usage"] for name, data in events if name.endswith("completed")]
    assert [u["input_tokens"] for u in usages] == [2, 0]  # type: ignore[index]
    assert sum(u["output_tokens"] for u in usages) == 2 * (196 + 100)  # type: ignore[index]


def test_stream_error_directive(oai: OpenAI) -> None:
    seen: list[object] = []
    with pytest.raises(openai.APIError) as caught:  # noqa: PT012 - the stream fails mid-iteration
        for event in oai.images.generate(
            model="gpt-image-2", prompt="[sandbox:stream-error]", stream=True, partial_images=2, quality="low"
        ):
            seen.append(event)
    assert [type(e) for e in seen] == [ImageGenPartialImageEvent]
    assert "stream-error" in caught.value.message


def test_stream_error_raw_frame(client: httpx.Client) -> None:
    events = raw_events(client, prompt="[sandbox:stream-error]", quality="low")
    assert [name for name, _ in events] == ["image_generation.partial_image", "error"]
    error = events[1][1]
    assert error["type"] == "error"
    assert isinstance(error["error"], dict) and error["error"]["code"] == "server_error"


def test_stream_truncated_drops_connection(client: httpx.Client) -> None:
    body = {"model": "gpt-image-2", "prompt": "[sandbox:truncated]", "stream": True, "quality": "low"}
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", "/v1/images/generations", json=body) as response,
    ):
        response.read()


def test_stream_malformed_frame(client: httpx.Client) -> None:
    body = {"model": "gpt-image-2", "prompt": "[sandbox:malformed]", "stream": True, "quality": "low"}
    text = client.post("/v1/images/generations", json=body).text
    data = text.split("data: ", 1)[1].strip()
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(data)


def test_events_are_sent_as_they_are_made(client: httpx.Client) -> None:
    # The final 4K image takes a while to encode; if frames were buffered, the first partial would
    # arrive together with the completed event instead of well before it.
    body = {
        "model": "gpt-image-2",
        "prompt": "flush check",
        "stream": True,
        "partial_images": 1,
        "size": "3840x2160",
        "quality": "low",
    }
    arrivals: dict[str, float] = {}
    with client.stream("POST", "/v1/images/generations", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                arrivals[line.removeprefix("event: ")] = time.monotonic()
    assert set(arrivals) == {"image_generation.partial_image", "image_generation.completed"}
    assert arrivals["image_generation.completed"] - arrivals["image_generation.partial_image"] > 0.03
