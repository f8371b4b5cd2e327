"""What an attempt produced: images, usage in the provider's own units, and stream events."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal


@dataclass(slots=True)
class Usage:
    """Usage as the provider reports it, in its own units; ``raw`` is the provider's object as sent.

    Counters a provider does not report stay ``None`` (not 0): pricing then falls back to the
    published rules and flags the cost as estimated.
    """

    raw: dict[str, Any] = field(default_factory=dict)
    input_text_tokens: int | None = None
    input_image_tokens: int | None = None
    cached_input_tokens: int | None = None
    output_image_tokens: int | None = None
    output_text_tokens: int | None = None
    thinking_tokens: int | None = None
    output_megapixels: Decimal | None = None
    input_megapixels: Decimal | None = None
    provider_cost_usd: Decimal | None = None
    # A hosted image tool's own usage beside the mainline model's (the Responses API's
    # ``tool_usage.image_gen``), priced at the tool model's rates.
    image_tool: Usage | None = None


@dataclass(slots=True)
class GeneratedImage:
    """One output image, either inline base64 or a URL the provider hosts."""

    b64_json: str | None = None
    url: str | None = None
    mime_type: str | None = None
    revised_prompt: str | None = None


@dataclass(slots=True)
class ImageResult:
    """A successful attempt.

    When the client speaks the provider's own dialect, ``raw_body`` holds the provider's response
    bytes and ``images`` may stay empty: the body is forwarded unchanged and only counted, never
    decoded (see ARCHITECTURE.md, "The one pipeline").
    """

    image_count: int
    usage: Usage
    provider_request_id: str | None = None
    images: list[GeneratedImage] = field(default_factory=list)
    raw_body: bytes | None = None
    raw_dialect: str | None = None
    created: int | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    # Text the model returned beside its images (Gemini's text parts), thoughts excluded.
    texts: list[str] = field(default_factory=list)
    # A failure the provider reported inside a successful answer (a Responses image tool call blocked
    # by moderation): the answer is forwarded as is and the attempt recorded under this error code.
    failure_code: str | None = None


StreamEventKind = Literal["partial_image", "completed", "error", "other"]


@dataclass(slots=True)
class StreamEvent:
    """One server-sent event from a provider; ``raw`` is the SSE frame exactly as received."""

    kind: StreamEventKind
    raw: bytes
    data: dict[str, Any] | None = None
    usage: Usage | None = None
    error: Exception | None = None
    # Images finished in this event when a provider sends several per frame, or none ("completed"
    # counts as one when this is None).
    image_count: int | None = None
    # The provider's running total for the whole request so far; the last one seen is the usage
    # (Gemini repeats ``usageMetadata`` instead of sending per-image usage).
    usage_total: Usage | None = None
    # The provider's id for the request when its stream body carries one (Gemini's ``responseId``).
    provider_request_id: str | None = None
    # A failure reported inside a successful stream (see ``ImageResult.failure_code``).
    failure_code: str | None = None
