"""Shared test helpers: requests, results, real image bytes and published-figure comparisons."""

from __future__ import annotations

from decimal import Decimal
from functools import cache, lru_cache
from io import BytesIO
from typing import Any

from PIL import Image

from imagegate.catalog import Catalog, load_catalog
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.domain.result import ImageResult, Usage
from imagegate.pricing.rows import PriceRow


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    return load_catalog()


def price(provider: str, model: str) -> PriceRow:
    entry = catalog().find(provider, model)
    assert entry is not None, f"{provider}/{model} missing from the catalog"
    return entry.price


def prompt(tokens: int) -> str:
    """A prompt the engine counts as exactly ``tokens`` text tokens (4 ASCII bytes each)."""
    return "abcd" * tokens


def request(**fields: Any) -> ImageRequest:
    fields.setdefault("operation", "edit" if fields.get("images") else "generate")
    fields.setdefault("model", "m")
    fields.setdefault("prompt", "")
    fields.setdefault("dialect", "openai")
    return ImageRequest(**fields)


def result(count: int = 1, **usage: Any) -> ImageResult:
    size = usage.pop("size", None)
    quality = usage.pop("quality", None)
    return ImageResult(image_count=count, usage=Usage(**usage), size=size, quality=quality)


@cache
def png(width: int, height: int) -> bytes:
    buffer = BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def image(width: int, height: int) -> InputImage:
    return InputImage(data=png(width, height), filename="ref.png", content_type="image/png")


def micros(usd: str) -> int:
    """Exact micro-dollars of a published USD figure."""
    value = Decimal(usd) * 1_000_000
    assert value == value.to_integral_value(), usd
    return int(value)


def assert_published(amount_micros: int, published: str, places: int = 2) -> None:
    """The amount agrees with a published figure to ``places`` decimals (default: the cent).

    Agreement means within half a unit of that decimal place: published figures are roundings
    (0.16464 is printed 0.165), so comparing two roundings would fail at every .xx5 boundary.
    """
    half_unit = Decimal(1_000_000) / (2 * 10**places)
    assert abs(amount_micros - micros(published)) <= half_unit, (amount_micros, published, places)
