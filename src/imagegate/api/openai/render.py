"""Rendering a served result as an OpenAI ``ImagesResponse``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson

from imagegate.api.openai.parse import DIALECT
from imagegate.domain.result import ImageResult, Usage
from imagegate.service.images import Served


def usage_object(usage: Usage) -> dict[str, Any] | None:
    """OpenAI's ``usage`` object for canonical usage; None when the provider reported no tokens."""
    if usage.output_image_tokens is None and usage.input_text_tokens is None:
        return None
    input_text = usage.input_text_tokens or 0
    input_image = usage.input_image_tokens or 0
    # Thinking is billed as text output (Gemini); OpenAI's shape has no separate line for it.
    output_text = (usage.output_text_tokens or 0) + (usage.thinking_tokens or 0)
    output = (usage.output_image_tokens or 0) + output_text
    return {
        "input_tokens": input_text + input_image,
        "input_tokens_details": {"text_tokens": input_text, "image_tokens": input_image},
        "output_tokens": output,
        "output_tokens_details": {"image_tokens": usage.output_image_tokens or 0, "text_tokens": output_text},
        "total_tokens": input_text + input_image + output,
    }


def render_result(served: Served) -> bytes:
    """The provider's own body when it spoke this dialect; otherwise a translated body."""
    result = served.result
    if result.raw_body is not None and result.raw_dialect == DIALECT:
        return result.raw_body
    return orjson.dumps(translated_body(result))


def translated_body(result: ImageResult) -> dict[str, Any]:
    """An ``ImagesResponse`` built from a parsed result (a translation, or a URL response)."""
    body: dict[str, Any] = {
        "created": result.created if result.created is not None else int(time.time()),
        "data": [
            {
                key: value
                for key, value in (
                    ("b64_json", image.b64_json),
                    ("url", image.url),
                    ("revised_prompt", image.revised_prompt),
                )
                if value is not None
            }
            for image in result.images
        ],
    }
    for field in ("background", "output_format", "quality", "size"):
        value = getattr(result, field)
        if value is not None:
            body[field] = value
    usage = usage_object(result.usage)
    if usage is not None:
        body["usage"] = usage
    return body


def emulated_stream(served: Served, operation: str) -> Iterator[bytes]:
    """A finished result from a provider that cannot stream in this dialect, as OpenAI's SSE:
    one ``*.completed`` event per image (no partials). The first event carries the request's
    usage and later ones zero, so the events add up (the sandbox's convention for n > 1)."""
    result = served.result
    prefix = "image_generation" if operation == "generate" else "image_edit"
    usage = usage_object(result.usage)
    zero = (
        None
        if usage is None
        else {
            "input_tokens": 0,
            "input_tokens_details": {"text_tokens": 0, "image_tokens": 0},
            "output_tokens": 0,
            "output_tokens_details": {"image_tokens": 0, "text_tokens": 0},
            "total_tokens": 0,
        }
    )
    created = result.created if result.created is not None else int(time.time())
    for index, image in enumerate(result.images):
        event: dict[str, Any] = {
            "type": f"{prefix}.completed",
            "b64_json": image.b64_json,
            "created_at": created,
            "background": result.background or "opaque",
            "output_format": result.output_format or "png",
            "quality": result.quality or "auto",
            "size": result.size or "auto",
        }
        if usage is not None:
            event["usage"] = usage if index == 0 else zero
        yield f"event: {prefix}.completed\ndata: ".encode() + orjson.dumps(event) + b"\n\n"
