"""Parsing the Gemini dialect (``generateContent`` bodies) into ``ImageRequest``.

The body is kept whole in ``ImageRequest.native`` so a Gemini route receives exactly what the
client sent (multi-turn edits, thought signatures, tools). The canonical fields are read from it
for validation, pricing and for routes of other dialects:

- text parts -> ``prompt``; inline image parts -> ``images`` (an edit);
- ``generationConfig.imageConfig.aspectRatio``/``imageSize`` -> ``aspect_ratio``/``resolution``;
- ``generationConfig.candidateCount`` -> ``n``; ``generationConfig.seed`` -> ``seed``;
- everything that has no canonical meaning (safetySettings, tools, systemInstruction, other
  generationConfig fields, several turns, file references) -> ``extra`` under the client's
  own dotted name, so another dialect's route refuses it by name rather than dropping it.

Like Google's JSON parser, both camelCase and snake_case field names are accepted, and inline
data may be standard or URL-safe base64 (google-genai sends URL-safe with ``mime_type``).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson
from starlette.requests import Request

from imagegate.api.http import read_body
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.service.gateway import RequestLimits

DIALECT = "gemini"

_TOP_LEVEL = frozenset(
    {
        "contents",
        "generationConfig",
        "safetySettings",
        "tools",
        "toolConfig",
        "systemInstruction",
        "cachedContent",
        "labels",
        "serviceTier",
        "model",
    }
)
_CANONICAL_CONFIG = frozenset({"candidateCount", "seed", "imageConfig", "responseModalities"})
_PARAM_NAMES = {
    "prompt": "contents",
    "images": "contents",
    "n": "generationConfig.candidateCount",
    "seed": "generationConfig.seed",
    "aspect_ratio": "generationConfig.imageConfig.aspectRatio",
    "resolution": "generationConfig.imageConfig.imageSize",
    "stream": "streamGenerateContent",
    "partial_images": "streamGenerateContent",
}
_SNAKE = re.compile(r"_([a-z])")


def camel(name: str) -> str:
    """``generation_config`` -> ``generationConfig`` (proto JSON accepts both spellings)."""
    return _SNAKE.sub(lambda match: match.group(1).upper(), name)


def _camel_dict(value: Any) -> Any:
    return {camel(key): item for key, item in value.items()} if isinstance(value, dict) else value


def _camel_keys(body: dict[str, Any]) -> dict[str, Any]:
    """Field names camel-cased where the schema is Google's; user data (labels, tool schemas) kept."""
    body = _camel_dict(body)
    config = _camel_dict(body.get("generationConfig"))
    if isinstance(config, dict):
        for nested in ("imageConfig", "thinkingConfig"):
            if nested in config:
                config[nested] = _camel_dict(config[nested])
        body["generationConfig"] = config
    if isinstance(body.get("safetySettings"), list):
        body["safetySettings"] = [_camel_dict(item) for item in body["safetySettings"]]
    if isinstance(body.get("contents"), list):
        body["contents"] = [_camel_content(turn) for turn in body["contents"]]
    return body


def _camel_content(turn: Any) -> Any:
    turn = _camel_dict(turn)
    if isinstance(turn, dict) and isinstance(turn.get("parts"), list):
        parts = []
        for part in turn["parts"]:
            part = _camel_dict(part)
            if isinstance(part, dict):
                for blob in ("inlineData", "fileData"):
                    if blob in part:
                        part[blob] = _camel_dict(part[blob])
            parts.append(part)
        turn["parts"] = parts
    return turn


def _invalid(message: str, param: str | None) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def decode_inline(data: object, where: str) -> bytes:
    """Inline base64 (standard or URL-safe, padded or not) -> bytes; 400 naming ``where``."""
    if not isinstance(data, str) or data == "":
        raise _invalid(f"Invalid value at '{where}': expected base64 data.", where)
    text = data.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"Invalid value at '{where}': not valid base64.", where) from None


def _int_field(config: dict[str, Any], name: str) -> int | None:
    value = config.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(f"Invalid value at 'generation_config.{name}': expected an integer.", f"generationConfig.{name}")
    return value


def _string_field(config: dict[str, Any], name: str, where: str) -> str | None:
    value = config.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"Invalid value at '{where}': expected a string.", where)
    return value


def _read_contents(body: dict[str, Any], limits: RequestLimits, extra: dict[str, Any]) -> tuple[str, list[InputImage]]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _invalid("* GenerateContentRequest.contents: contents is not specified", "contents")
    turns = [turn for turn in contents if isinstance(turn, dict)]
    if len(turns) != len(contents):
        raise _invalid("Invalid value at 'contents': each content must be an object.", "contents")
    if len(turns) > 1 or turns[0].get("role") not in (None, "user"):
        extra["contents"] = "several turns"  # only a Gemini route can continue a conversation
    texts: list[str] = []
    images: list[InputImage] = []
    user_turns = [turn for turn in turns if turn.get("role") in (None, "user")]
    for turn in user_turns[-1:]:
        parts = turn.get("parts")
        if not isinstance(parts, list):
            raise _invalid("Invalid value at 'contents.parts': expected a list.", "contents.parts")
        for part in parts:
            if not isinstance(part, dict):
                raise _invalid("Invalid value at 'contents.parts': each part must be an object.", "contents.parts")
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part.get("inlineData"), dict):
                blob = part["inlineData"]
                mime = blob.get("mimeType")
                data = decode_inline(blob.get("data"), "contents.parts.inline_data.data")
                if not isinstance(mime, str) or not mime.startswith("image/"):
                    extra["contents.parts.inlineData.mimeType"] = mime
                    continue
                if len(data) > limits.max_image_bytes:
                    raise _invalid(
                        f"An inline image is {len(data)} bytes; the limit is {limits.max_image_bytes}.",
                        "contents.parts.inline_data",
                    )
                images.append(InputImage(data=data, filename=f"image-{len(images)}.{mime[6:]}", content_type=mime))
            elif "fileData" in part:
                extra["contents.parts.fileData"] = "file reference"
            else:
                extra["contents.parts"] = sorted(part)
    if len(images) > limits.max_images:
        raise _invalid(f"Too many inline images: {len(images)}; the limit is {limits.max_images}.", "contents")
    return "\n".join(texts), images


def to_request(body: dict[str, Any], model: str, *, stream: bool, limits: RequestLimits) -> ImageRequest:
    """A parsed (camel-cased) body -> the canonical request."""
    unknown = sorted(set(body) - _TOP_LEVEL)
    if unknown:
        raise _invalid(f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.', unknown[0])
    extra: dict[str, Any] = {}
    prompt, images = _read_contents(body, limits, extra)
    config = body.get("generationConfig", {})
    if not isinstance(config, dict):
        raise _invalid("Invalid value at 'generation_config': expected an object.", "generationConfig")
    image_config = config.get("imageConfig", {})
    if not isinstance(image_config, dict):
        raise _invalid(
            "Invalid value at 'generation_config.image_config': expected an object.", "generationConfig.imageConfig"
        )
    modalities = config.get("responseModalities")
    if modalities is not None and (not isinstance(modalities, list) or "IMAGE" not in modalities):
        extra["generationConfig.responseModalities"] = modalities  # text only: a Gemini route's business
    for name, value in config.items():
        if name not in _CANONICAL_CONFIG:
            extra[f"generationConfig.{name}"] = value
    for name, value in image_config.items():
        if name not in ("aspectRatio", "imageSize"):
            extra[f"generationConfig.imageConfig.{name}"] = value
    for name in (
        "safetySettings",
        "tools",
        "toolConfig",
        "systemInstruction",
        "cachedContent",
        "labels",
        "serviceTier",
    ):
        if name in body:
            extra[name] = body[name]
    return ImageRequest(
        operation="edit" if images else "generate",
        model=model,
        prompt=prompt,
        dialect=DIALECT,
        n=_int_field(config, "candidateCount"),
        seed=_int_field(config, "seed"),
        aspect_ratio=_string_field(image_config, "aspectRatio", "generationConfig.imageConfig.aspectRatio"),
        resolution=_string_field(image_config, "imageSize", "generationConfig.imageConfig.imageSize"),
        stream=stream,
        images=images,
        extra=extra,
        param_names=dict(_PARAM_NAMES),
        native=body,
    )


async def parse_generate_content(request: Request, model: str, *, stream: bool, limits: RequestLimits) -> ImageRequest:
    """A ``POST .../models/{model}:generateContent`` (or ``:streamGenerateContent``) body."""
    raw = await read_body(request, limits.max_body_bytes)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _invalid("Invalid JSON payload received.", None) from None
    if not isinstance(body, dict):
        raise _invalid("Invalid JSON payload received. Expected an object.", None)
    return to_request(_camel_keys(body), model, stream=stream, limits=limits)
