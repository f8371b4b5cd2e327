"""Rendering results in the Gemini dialect: ``GenerateContentResponse`` JSON and its SSE stream.

A Gemini route's body is forwarded as received. A result from another provider is written as
Google would: one candidate per image (``inlineData``, the provider's base64 as is), text parts
only when the model returned text, ``usageMetadata`` from the usage counters. Safety outcomes are
HTTP 200 answers, as on the Gemini API: ``promptFeedback.blockReason`` for a refused prompt,
``finishReason`` ``IMAGE_SAFETY`` / ``NO_IMAGE`` for a withheld or missing image.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from imagegate.api.google.gemini_parse import DIALECT
from imagegate.domain.errors import ModerationBlocked, NoImageGenerated, ProviderError
from imagegate.domain.result import GeneratedImage, ImageResult, Usage
from imagegate.service.images import Served

# Gemini's BlockedReason values: a provider code outside them is reported as SAFETY.
_BLOCK_REASONS = frozenset(
    {"SAFETY", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT", "IMAGE_SAFETY", "MODEL_ARMOR", "JAILBREAK"}
)
_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
        "NO_IMAGE",
        "IMAGE_OTHER",
        "OTHER",
        "MAX_TOKENS",
    }
)


def usage_metadata(usage: Usage) -> dict[str, Any] | None:
    """``usageMetadata`` from the domain counters; None when the provider reported no tokens."""
    counters = (
        usage.input_text_tokens,
        usage.input_image_tokens,
        usage.output_image_tokens,
        usage.output_text_tokens,
        usage.thinking_tokens,
    )
    if all(value is None for value in counters):
        return None
    text_in, image_in = usage.input_text_tokens or 0, usage.input_image_tokens or 0
    image_out, text_out = usage.output_image_tokens or 0, usage.output_text_tokens or 0
    thoughts = usage.thinking_tokens or 0
    meta: dict[str, Any] = {
        "promptTokenCount": text_in + image_in,
        "candidatesTokenCount": image_out + text_out,
        "totalTokenCount": text_in + image_in + image_out + text_out + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": text_in}]
        + ([{"modality": "IMAGE", "tokenCount": image_in}] if image_in else []),
        "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": image_out}]
        + ([{"modality": "TEXT", "tokenCount": text_out}] if text_out else []),
    }
    if usage.cached_input_tokens:
        meta["cachedContentTokenCount"] = usage.cached_input_tokens
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    return meta


def _image_part(image: GeneratedImage, result: ImageResult) -> dict[str, Any]:
    mime = image.mime_type if image.mime_type is not None else f"image/{result.output_format or 'png'}"
    return {"inlineData": {"mimeType": mime, "data": image.b64_json or ""}}


def _envelope(body: dict[str, Any], model: str, response_id: str) -> dict[str, Any]:
    body["modelVersion"] = model
    body["responseId"] = response_id
    return body


def response_body(result: ImageResult, *, model: str, response_id: str) -> dict[str, Any]:
    """A ``GenerateContentResponse`` for a result decoded from another provider."""
    candidates = []
    for index, image in enumerate(result.images):
        parts = [{"text": text} for text in result.texts] if index == 0 else []
        parts.append(_image_part(image, result))
        candidates.append({"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": index})
    body: dict[str, Any] = {"candidates": candidates}
    meta = usage_metadata(result.usage)
    if meta is not None:
        body["usageMetadata"] = meta
    return _envelope(body, model, response_id)


def render_result(served: Served, *, model: str, response_id: str) -> bytes:
    """The provider's own body when it spoke Gemini; otherwise a translated body."""
    result = served.result
    if result.raw_body is not None and result.raw_dialect == DIALECT:
        return result.raw_body
    return orjson.dumps(response_body(result, model=model, response_id=response_id))


def is_answer(error: Exception) -> bool:
    """Whether this error is, in the Gemini dialect, a 200 answer rather than an error."""
    return isinstance(error, (ModerationBlocked, NoImageGenerated))


def _texts(error: ProviderError) -> list[str]:
    texts = error.details.get("texts")
    return [text for text in texts if isinstance(text, str)] if isinstance(texts, list) else []


def blocked_body(error: ProviderError, *, model: str, response_id: str) -> bytes:
    """The 200 body for a blocked prompt, a withheld image or an answer without image."""
    raw_body = error.details.get("raw_body")
    if error.details.get("raw_dialect") == DIALECT and isinstance(raw_body, bytes):
        return raw_body
    body: dict[str, Any]
    if isinstance(error, ModerationBlocked) and error.details.get("stage", "input") == "input":
        reason = error.provider_code if error.provider_code in _BLOCK_REASONS else "SAFETY"
        body = {"promptFeedback": {"blockReason": reason, "blockReasonMessage": error.message}}
    else:
        default = "IMAGE_SAFETY" if isinstance(error, ModerationBlocked) else "NO_IMAGE"
        reason = error.provider_code if error.provider_code in _FINISH_REASONS else default
        candidate: dict[str, Any] = {"finishReason": reason, "finishMessage": error.message, "index": 0}
        texts = _texts(error)
        if texts:
            candidate["content"] = {"role": "model", "parts": [{"text": text} for text in texts]}
        body = {"candidates": [candidate]}
    meta = None if error.usage is None else usage_metadata(error.usage)
    if meta is not None:
        body["usageMetadata"] = meta
    return orjson.dumps(_envelope(body, model, response_id))


def sse(data: bytes) -> bytes:
    """One SSE event as Google frames it."""
    return b"data: " + data + b"\r\n\r\n"


def emulated_frames(served: Served, *, model: str, response_id: str) -> Iterator[bytes]:
    """A finished result as ``streamGenerateContent?alt=sse`` chunks: text, one image per chunk,
    then a last chunk with ``finishReason`` and ``usageMetadata`` (what the Gemini API sends)."""
    result = served.result
    if result.raw_body is not None and result.raw_dialect == DIALECT:
        yield sse(result.raw_body)
        return
    if result.texts:
        chunk = {
            "candidates": [{"content": {"role": "model", "parts": [{"text": t} for t in result.texts]}, "index": 0}]
        }
        yield sse(orjson.dumps(_envelope(chunk, model, response_id)))
    for index, image in enumerate(result.images):
        chunk = {"candidates": [{"content": {"role": "model", "parts": [_image_part(image, result)]}, "index": index}]}
        yield sse(orjson.dumps(_envelope(chunk, model, response_id)))
    last: dict[str, Any] = {
        "candidates": [
            {"content": {"role": "model", "parts": []}, "finishReason": "STOP", "index": index}
            for index in range(max(1, len(result.images)))
        ]
    }
    meta = usage_metadata(result.usage)
    if meta is not None:
        last["usageMetadata"] = meta
    yield sse(orjson.dumps(_envelope(last, model, response_id)))
