"""A pixel size prices at its Gemini size tier (nearest tier by pixel count)."""

from decimal import Decimal

import pytest

from imagegate.catalog import load_catalog
from imagegate.domain.request import ImageRequest
from imagegate.pricing.engine import quote

CATALOG = load_catalog()


def _quote(model: str, size: str) -> int:
    price = CATALOG.find("gemini", model).price
    request = ImageRequest(operation="generate", model=model, prompt="", dialect="openai-images", size=size, n=1)
    return quote(request, price).breakdown["image_output"]


@pytest.mark.parametrize(
    ("model", "size", "tokens", "usd_per_million"),
    [
        ("gemini-3-pro-image", "1024x1024", 1120, 120),
        ("gemini-3-pro-image", "1376x768", 1120, 120),
        ("gemini-3-pro-image", "5504x3072", 2000, 120),
        ("gemini-3.1-flash-image", "784x336", 747, 60),
        ("gemini-3.1-flash-image", "2752x1536", 1680, 60),
        ("gemini-3.1-flash-image", "352x2928", 1120, 60),
    ],
)
def test_pixel_sizes_price_at_their_tier(model, size, tokens, usd_per_million):
    assert _quote(model, size) == int(Decimal(tokens) * usd_per_million)
