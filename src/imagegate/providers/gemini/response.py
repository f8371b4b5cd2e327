"""Reading ``GenerateContentResponse`` bodies and stream chunks: images, text, usage, blocks.

Gemini reports safety outcomes inside HTTP 200 answers: ``promptFeedback.blockReason`` with no
candidates (the prompt was refused), or a candidate whose ``finishReason`` says why there is no
image. Both become domain errors here, carrying the usage Google billed and the original body so
a Gemini-dialect client can still receive exactly what Google said.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imagegate.domain.errors import ModerationBlocked, NoImageGenerated, ProviderError
from imagegate.domain.result import GeneratedImage, Usage
from imagegate.providers.gemini.parameters import BLOCKED_FINISH_REASONS, DIALECT


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _by_modality(details: object) -> dict[str, int]:
    counts: dict[str, int] = {}
    if isinstance(details, list):
        for item in details:
            if isinstance(item, dict) and isinstance(item.get("modality"), str):
                tokens = _count(item.get("tokenCount"))
                if tokens is not None:
                    counts[item["modality"]] = counts.get(item["modality"], 0) + tokens
    return counts


def usage_from_gemini(meta: object, *, has_image: bool) -> Usage:
    """Map ``usageMetadata`` onto the domain counters (``raw`` is the object as sent).

    Image tokens are separated from text and thinking tokens because they are priced apart.
    Output tokens without a modality (3.x models report ~400 more candidate tokens than the IMAGE
    detail) are text: Google bills them at the text/thinking rate.
    """
    if not isinstance(meta, Mapping):
        return Usage()
    prompt_total = _count(meta.get("promptTokenCount"))
    prompt = _by_modality(meta.get("promptTokensDetails"))
    input_image = prompt.get("IMAGE")
    input_text: int | None = None
    if prompt:
        input_text = sum(count for modality, count in prompt.items() if modality != "IMAGE")
    elif prompt_total is not None:
        input_text = prompt_total
    tool_prompt = _count(meta.get("toolUsePromptTokenCount"))
    if tool_prompt is not None:
        input_text = (input_text or 0) + tool_prompt
    candidates_total = _count(meta.get("candidatesTokenCount"))
    candidates = _by_modality(meta.get("candidatesTokensDetails"))
    output_image: int | None = candidates.get("IMAGE")
    output_text: int | None = None
    if candidates:
        output_image = output_image or 0
        detailed_text = sum(count for modality, count in candidates.items() if modality != "IMAGE")
        output_text = max(detailed_text, (candidates_total or 0) - output_image)
    elif candidates_total is not None:
        output_image, output_text = (candidates_total, 0) if has_image else (0, candidates_total)
    return Usage(
        raw=dict(meta),
        input_text_tokens=input_text,
        input_image_tokens=input_image,
        cached_input_tokens=_count(meta.get("cachedContentTokenCount")),
        output_image_tokens=output_image,
        output_text_tokens=output_text,
        thinking_tokens=_count(meta.get("thoughtsTokenCount")),
    )


@dataclass(slots=True)
class Content:
    """What one response (or stream chunk) holds, thoughts left out."""

    images: list[GeneratedImage] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    finish_message: str | None = None
    block_reason: str | None = None
    block_message: str | None = None
    usage_metadata: dict[str, Any] | None = None
    response_id: str | None = None


def read_content(parsed: object) -> Content:
    """Images, texts, finish reasons, prompt block and usage of a parsed response or chunk."""
    content = Content()
    if not isinstance(parsed, dict):
        return content
    feedback = parsed.get("promptFeedback")
    if isinstance(feedback, dict) and isinstance(feedback.get("blockReason"), str):
        content.block_reason = feedback["blockReason"]
        message = feedback.get("blockReasonMessage")
        content.block_message = message if isinstance(message, str) else None
    if isinstance(parsed.get("usageMetadata"), dict):
        content.usage_metadata = parsed["usageMetadata"]
    if isinstance(parsed.get("responseId"), str):
        content.response_id = parsed["responseId"]
    candidates = parsed.get("candidates")
    for candidate in candidates if isinstance(candidates, list) else []:
        if not isinstance(candidate, dict):
            continue
        if isinstance(candidate.get("finishReason"), str):
            content.finish_reasons.append(candidate["finishReason"])
        if isinstance(candidate.get("finishMessage"), str):
            content.finish_message = candidate["finishMessage"]
        body = candidate.get("content")
        parts = body.get("parts") if isinstance(body, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict) or part.get("thought") is True:
                continue  # interim "thought" images and thinking text are not results
            blob = part.get("inlineData")
            if isinstance(blob, dict):
                mime = blob.get("mimeType", blob.get("mime_type"))
                data = blob.get("data")
                content.images.append(
                    GeneratedImage(
                        b64_json=data if isinstance(data, str) else None,
                        mime_type=mime if isinstance(mime, str) else None,
                    )
                )
            elif isinstance(part.get("text"), str) and part["text"] != "":
                content.texts.append(part["text"])
    return content


def outcome_error(content: Content, usage: Usage, *, raw_body: bytes | None = None) -> ProviderError:
    """The error for an answer that holds no image: a block, or "no image" with its reason."""
    details: dict[str, Any] = {}
    if raw_body is not None:
        # A Gemini-dialect client gets Google's own 200 answer; others get the dialect's error.
        details.update(raw_body=raw_body, raw_dialect=DIALECT)
    if content.block_reason is not None:
        details["stage"] = "input"
        return ModerationBlocked(
            content.block_message
            or f"The prompt was blocked by the provider's safety system ({content.block_reason}).",
            provider_status=200,
            provider_code=content.block_reason,
            provider_request_id=content.response_id,
            details=details,
            usage=usage,
        )
    blocked = next((reason for reason in content.finish_reasons if reason in BLOCKED_FINISH_REASONS), None)
    if blocked is not None:
        details["stage"] = "output"
        return ModerationBlocked(
            content.finish_message or f"The image was withheld by the provider's safety system ({blocked}).",
            provider_status=200,
            provider_code=blocked,
            provider_request_id=content.response_id,
            details=details,
            usage=usage,
        )
    reason = content.finish_reasons[0] if content.finish_reasons else None
    if content.texts:
        details["texts"] = list(content.texts)
    return NoImageGenerated(
        content.finish_message or f"The model answered without an image (finishReason {reason or 'none'}).",
        provider_status=200,
        provider_code=reason,
        provider_request_id=content.response_id,
        details=details,
        usage=usage,
    )


def output_format(mime: str | None) -> str | None:
    """``image/jpeg`` -> ``jpeg``."""
    if mime is None or not mime.startswith("image/"):
        return None
    return mime.removeprefix("image/")
