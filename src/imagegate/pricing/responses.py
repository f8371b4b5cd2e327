"""A Responses API call: the mainline model's text tokens plus the image tool's work.

OpenAI bills the two separately: ``usage`` (the mainline model, at its ``text`` row) and
``tool_usage.image_gen`` (the image tool, at the tool model's token rates, partial images included).
The tool's part is priced by the tool model's own row exactly as an Images API call would be.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from imagegate.domain.request import ImageRequest, Operation
from imagegate.domain.result import ImageResult, Usage
from imagegate.pricing.charge import Lines, PricingError
from imagegate.pricing.inputs import prompt_tokens
from imagegate.pricing.rows import PriceRow, TextRates
from imagegate.pricing.units import unit_of


def image_request(request: ImageRequest) -> ImageRequest:
    """The image tool's work as an Images request (one image, the client's tool options)."""
    operation: Operation = "edit" if request.images else "generate"
    model = request.tool_model if request.tool_model is not None else request.model
    return dataclasses.replace(request, operation=operation, model=model, n=1)


def _text_rates(price: PriceRow, tier: str) -> tuple[TextRates, Decimal]:
    rates = price.text_rates
    if rates is None:
        raise PricingError("the mainline model's row has no text rates")
    return rates, price.tier(tier).multiplier


def _merge(lines: Lines, tool: Lines) -> None:
    for line, amount in tool.amounts.items():
        lines.add(f"image_tool_{line}", amount)
    lines.estimated = lines.estimated or tool.estimated


def _tool_row(tool_price: PriceRow | None, request: ImageRequest) -> PriceRow | None:
    return None if tool_price is None else tool_price.for_operation(image_request(request).operation)


def quote(request: ImageRequest, price: PriceRow, tool_price: PriceRow | None, tier: str) -> Lines:
    """The upper bound: the prompt and the row's output reserve, plus one image at the tool's quote."""
    rates, multiplier = _text_rates(price, tier)
    lines = Lines()
    lines.add("text_input", prompt_tokens(request.prompt) * rates.input * multiplier)
    lines.add("text_output", price.text_output_reserve_tokens * rates.output * multiplier)
    lines.estimated = True  # the mainline model's output length is unknown before the call
    row = _tool_row(tool_price, request)
    if row is not None:
        _merge(lines, unit_of(row).quote_lines(image_request(request), row, tier))
    return lines


def settle(
    request: ImageRequest, result: ImageResult, price: PriceRow, tool_price: PriceRow | None, tier: str
) -> Lines:
    """Both usages priced: the mainline tokens at the text row, ``usage.image_tool`` at the tool's row.

    No tool usage and no image: the tool was not called (nothing to add). Images without tool usage:
    the tool's part falls back to the tool row's rules (estimated). No row for the tool model: the
    mainline part only, flagged estimated.
    """
    usage = result.usage
    rates, multiplier = _text_rates(price, tier)
    lines = Lines()
    text_in = usage.input_text_tokens
    if text_in is None:
        text_in = prompt_tokens(request.prompt)
        lines.estimated = True
    cached = min(usage.cached_input_tokens or 0, text_in)
    cached_rate = rates.cached_input if rates.cached_input is not None else rates.input
    lines.add("text_input", (text_in - cached) * rates.input * multiplier)
    lines.add("text_input_cached", cached * cached_rate * multiplier)
    text_out = (usage.output_text_tokens or 0) + (usage.thinking_tokens or 0)
    lines.add("text_output", text_out * rates.output * multiplier)
    tool = usage.image_tool
    if tool is None and result.image_count == 0:
        return lines
    row = _tool_row(tool_price, request)
    if row is None:
        # The tool model has no price row (the SDK's default has no published price): the mainline
        # part is billed and the charge flagged estimated, never silently exact.
        lines.estimated = True
        return lines
    tool_result = ImageResult(image_count=result.image_count, usage=tool if tool is not None else Usage())
    _merge(lines, unit_of(row).settle_lines(image_request(request), tool_result, row, tier))
    return lines
