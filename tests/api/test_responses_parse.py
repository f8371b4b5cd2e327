"""Parsing ``POST /v1/responses``: the tool's options, input images and remote URLs, before any provider."""

from __future__ import annotations

import base64
import io

import orjson
import pytest
from PIL import Image

from imagegate.api.openai.responses_parse import DEFAULT_TOOL_MODEL, parse_response_request
from imagegate.domain.errors import InvalidRequest
from imagegate.service.gateway import RequestLimits


def _png_data_url() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _body(image_url: str, **tool: object) -> bytes:
    content = [{"type": "input_text", "text": "make it blue"}, {"type": "input_image", "image_url": image_url}]
    return orjson.dumps(
        {
            "model": "gpt-5",
            "input": [{"role": "user", "content": content}],
            "tools": [{"type": "image_generation", **tool}],
        }
    )


async def test_data_url_images_and_tool_options_are_read() -> None:
    request = await parse_response_request(_body(_png_data_url(), quality="high", size="1024x1536"), RequestLimits())
    assert (request.operation, request.prompt, request.quality, request.size) == (
        "respond",
        "make it blue",
        "high",
        "1024x1536",
    )
    assert len(request.images) == 1 and request.images[0].content_type == "image/png"
    assert request.tool_model == DEFAULT_TOOL_MODEL
    assert request.native is not None and request.native["model"] == "gpt-5"


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        ("https://images.example.com/a.png", ()),  # no host allowed
        ("http://localhost/a.png", ("localhost",)),  # allowed host, private address
        ("data:image/png;base64,@@@", ()),  # not base64
    ],
)
async def test_refused_image_urls_name_the_field(url: str, hosts: tuple[str, ...]) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await parse_response_request(_body(url), RequestLimits(input_image_hosts=hosts))
    assert refused.value.param == "input[0].content[1].image_url"


async def test_allowed_public_host_is_forwarded_unfetched() -> None:
    limits = RequestLimits(input_image_hosts=("8.8.8.8",))
    request = await parse_response_request(_body("https://8.8.8.8/a.png"), limits)
    assert request.images == []
    assert request.native is not None
    assert request.native["input"][0]["content"][1]["image_url"] == "https://8.8.8.8/a.png"
