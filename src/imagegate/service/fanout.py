"""Combining the parts of a fanned-out request (``n`` split into parallel calls) into one answer.

Each part is its own attempt chain with its own ledger rows; the client sees one result with
every image, the summed usage and the summed cost. Raw provider bodies are never kept for parts:
one body per call cannot be forwarded as the client's single answer.
"""

from __future__ import annotations

from imagegate.domain.result import ImageResult, Usage
from imagegate.pricing.charge import Charge


def _plus(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def add_usage(total: Usage, more: Usage) -> Usage:
    """Counter-wise sum (``None`` + n = n); ``raw`` is ``more``'s."""
    return Usage(
        raw=more.raw,
        input_text_tokens=_plus(total.input_text_tokens, more.input_text_tokens),
        input_image_tokens=_plus(total.input_image_tokens, more.input_image_tokens),
        cached_input_tokens=_plus(total.cached_input_tokens, more.cached_input_tokens),
        output_image_tokens=_plus(total.output_image_tokens, more.output_image_tokens),
        output_text_tokens=_plus(total.output_text_tokens, more.output_text_tokens),
        thinking_tokens=_plus(total.thinking_tokens, more.thinking_tokens),
        image_tool=more.image_tool if total.image_tool is None else _tool_sum(total.image_tool, more.image_tool),
    )


def _tool_sum(total: Usage, more: Usage | None) -> Usage:
    return total if more is None else add_usage(total, more)


def merge_results(results: list[ImageResult]) -> ImageResult:
    """One result holding every part's images, in part order, and the summed usage."""
    usage = Usage()
    for result in results:
        usage = add_usage(usage, result.usage)
    usage.raw = {}
    first = results[0]
    return ImageResult(
        image_count=sum(result.image_count for result in results),
        usage=usage,
        provider_request_id=first.provider_request_id,
        images=[image for result in results for image in result.images],
        created=first.created,
        size=first.size,
        quality=first.quality,
        background=first.background,
        output_format=first.output_format,
        texts=[text for result in results for text in result.texts],
    )


def merge_charges(charges: list[Charge]) -> Charge:
    """The sum of the parts' charges (estimated if any part is)."""
    breakdown: dict[str, int] = {}
    for charge in charges:
        for line, micros in charge.breakdown.items():
            breakdown[line] = breakdown.get(line, 0) + micros
    return Charge(
        micros=sum(charge.micros for charge in charges),
        estimated=any(charge.estimated for charge in charges),
        breakdown=breakdown,
        unit=charges[0].unit,
    )
