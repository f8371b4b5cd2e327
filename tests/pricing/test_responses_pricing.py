"""Pricing a Responses API call: the mainline text row plus the image tool at its model's token rates."""

from __future__ import annotations

from decimal import Decimal

import pytest

from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, Usage
from imagegate.pricing.engine import quote, settle
from tests.pricing.support import price

TOOL = Usage(input_text_tokens=50, input_image_tokens=0, output_image_tokens=1256, output_text_tokens=0)


def _request(**fields: object) -> ImageRequest:
    base: dict[str, object] = {
        "operation": "respond",
        "model": "gpt-5",
        "prompt": "a cat",
        "dialect": "openai-responses",
        "tool_model": "gpt-image-2",
    }
    return ImageRequest(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "rates"),
    [
        ("gpt-5", ("1.25", "0.125", "10.00")),
        ("gpt-5-mini", ("0.25", "0.025", "2.00")),
        ("gpt-4.1", ("2.00", "0.50", "8.00")),
    ],
)
def test_settle_adds_both_usages(model: str, rates: tuple[str, str, str]) -> None:
    text_in, cached_in, text_out = (Decimal(rate) for rate in rates)
    usage = Usage(input_text_tokens=1000, cached_input_tokens=200, output_text_tokens=500, image_tool=TOOL)
    charge = settle(
        _request(model=model),
        ImageResult(image_count=1, usage=usage),
        price("openai", model),
        tool_price=price("openai", "gpt-image-2"),
    )
    image_rates = price("openai", "gpt-image-2").token_rates
    assert image_rates is not None
    expected = 800 * text_in + 200 * cached_in + 500 * text_out
    expected += 50 * image_rates.text_input + 1256 * image_rates.image_output
    assert charge.micros == int(expected.to_integral_value())
    assert not charge.estimated
    assert sum(charge.breakdown.values()) == charge.micros


def test_a_turn_without_the_tool_bills_only_text() -> None:
    usage = Usage(input_text_tokens=100, output_text_tokens=10)
    charge = settle(_request(), ImageResult(image_count=0, usage=usage), price("openai", "gpt-5"), tool_price=None)
    assert charge.micros == 100 * Decimal("1.25") + 10 * 10


def test_an_unpriced_tool_model_bills_the_mainline_part_flagged_estimated() -> None:
    usage = Usage(input_text_tokens=100, output_text_tokens=10, image_tool=TOOL)
    charge = settle(_request(), ImageResult(image_count=1, usage=usage), price("openai", "gpt-5"), tool_price=None)
    assert (charge.micros, charge.estimated) == (100 * Decimal("1.25") + 10 * 10, True)


def test_quote_is_an_estimated_upper_bound_including_the_image() -> None:
    charge = quote(_request(quality="high"), price("openai", "gpt-5-mini"), tool_price=price("openai", "gpt-image-2"))
    assert charge.estimated
    assert charge.breakdown["text_output"] == 4096 * 2
    assert charge.breakdown["image_tool_image_output"] > 0
