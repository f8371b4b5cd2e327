"""Rendering a served result as an OpenAI ``ImagesResponse``."""

from __future__ import annotations

import time
from typing import Any

import orjson

from imagegate.api.openai_parse import DIALECT
from imagegate.domain.result import Usage
from imagegate.service.images import Served


def _usage(usage: Usage) -> dict[str, Any] | None:
    if usage.output_image_tokens is None and usage.input_text_tokens is None:
        return None
    input_text = usage.input_text_tokens or 0
    input_image = usage.input_image_tokens or 0
    output = (usage.output_image_tokens or 0) + (usage.output_text_tokens or 0)
    return {
        "input_tokens": input_text + input_image,
        "input_tokens_details": {"text_tokens": input_text, "image_tokens": input_image},
        "output_tokens": output,
        "total_tokens": input_text + input_image + output,
    }


def render_result(served: Served) -> bytes:
    """The provider's own body when it spoke this dialect; otherwise a translated body."""
    result = served.result
    if result.raw_body is not None and result.raw_dialect == DIALECT:
        return result.raw_body
    body: dict[str, Any] = {
        "created": result.created if result.created is not None else int(time.time()),
        "data": [
            {key: value for key, value in (("b64_json", image.b64_json), ("url", image.url),
                                           ("revised_prompt", image.revised_prompt)) if value is not None}
            for image in result.images
        ],
    }
    for field in ("background", "output_format", "quality", "size"):
        value = getattr(result, field)
        if value is not None:
            body[field] = value
    usage = _usage(result.usage)
    if usage is not None:
        body["usage"] = usage
    return orjson.dumps(body)
