"""An emulated Responses answer: a ``Response`` object (or its event sequence) built from an Images result.

Used only when an image-only alias serves a Responses request by emulation (docs/responses.md):
one ``image_generation_call`` item holding the image, ``usage`` all zero (no mainline model
ran) and the image work in ``tool_usage.image_gen``, as the SDK types them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import orjson

from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, Usage
from imagegate.service.images import Served

_ZERO_USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    "output_tokens": 0,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 0,
}


def _image_gen_usage(usage: Usage) -> dict[str, Any]:
    text_in = usage.input_text_tokens or 0
    image_in = usage.input_image_tokens or 0
    image_out = usage.output_image_tokens or 0
    text_out = (usage.output_text_tokens or 0) + (usage.thinking_tokens or 0)
    return {
        "input_tokens": text_in + image_in,
        "input_tokens_details": {"image_tokens": image_in, "text_tokens": text_in},
        "output_tokens": image_out + text_out,
        "output_tokens_details": {"image_tokens": image_out, "text_tokens": text_out},
        "total_tokens": text_in + image_in + image_out + text_out,
    }


def _output_format(result: ImageResult, request: ImageRequest) -> str:
    if result.output_format is not None:
        return result.output_format
    mime = result.images[0].mime_type if result.images else None
    if mime is not None and mime.startswith("image/"):
        return mime.removeprefix("image/").replace("jpg", "jpeg")
    return request.output_format or "png"


def _item(result: ImageResult, request: ImageRequest, item_id: str, *, done: bool) -> dict[str, Any]:
    image = result.images[0] if result.images else None
    item: dict[str, Any] = {
        "id": item_id,
        "type": "image_generation_call",
        "status": "completed" if done else "in_progress",
        "result": image.b64_json if done and image is not None else None,
        "action": "edit" if request.images else "generate",
        "background": result.background or request.background or "opaque",
        "output_format": _output_format(result, request),
        "quality": result.quality or request.quality or "auto",
        "size": result.size or request.size or "auto",
    }
    if done and image is not None and image.revised_prompt is not None:
        item["revised_prompt"] = image.revised_prompt
    return item


class EmulatedResponse:
    """The ids and timestamps one emulated answer shares between its object and its events."""

    def __init__(self, served: Served, request: ImageRequest, client_body: dict[str, Any]) -> None:
        self.served = served
        self.request = request
        self.body = client_body
        self.response_id = "resp_" + secrets.token_hex(24)
        self.item_id = "ig_" + secrets.token_hex(24)
        created = served.result.created
        self.created_at = created if created is not None else int(time.time())

    def response(self, *, done: bool) -> dict[str, Any]:
        """The ``Response`` object (``in_progress`` without output until ``done``)."""
        result = self.served.result
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": "completed" if done else "in_progress",
            "model": self.request.model,
            "output": [_item(result, self.request, self.item_id, done=True)] if done else [],
            "parallel_tool_calls": True,
            "tool_choice": self.body.get("tool_choice", "auto"),
            "tools": self.body.get("tools", []),
            "error": None,
            "incomplete_details": None,
            "metadata": self.body.get("metadata") or {},
            "usage": _ZERO_USAGE if done else None,
            "tool_usage": {"image_gen": _image_gen_usage(result.usage)} if done else None,
        }

    def events(self) -> Iterator[bytes]:
        """The event sequence of a streamed turn with one image call (no partial images)."""
        result = self.served.result
        item_ref = {"item_id": self.item_id, "output_index": 0}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": self.response(done=False)},
            {"type": "response.in_progress", "response": self.response(done=False)},
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": _item(result, self.request, self.item_id, done=False),
            },
            {"type": "response.image_generation_call.in_progress", **item_ref},
            {"type": "response.image_generation_call.generating", **item_ref},
            {"type": "response.image_generation_call.completed", **item_ref},
            {
                "type": "response.output_item.done",
                "output_index": 0,
                "item": _item(result, self.request, self.item_id, done=True),
            },
            {"type": "response.completed", "response": self.response(done=True)},
        ]
        for number, event in enumerate(events):
            event["sequence_number"] = number
            yield f"event: {event['type']}\ndata: ".encode() + orjson.dumps(event) + b"\n\n"
