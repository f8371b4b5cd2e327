"""The unit modules that price image rows, looked up by a row's ``unit``."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.pricing import by_image, by_megapixel, by_token
from imagegate.pricing.charge import Lines, PricingError
from imagegate.pricing.rows import PriceRow


class Unit(Protocol):
    """What each unit module (``by_token``, ``by_image``, ``by_megapixel``) provides."""

    def quote_lines(self, request: ImageRequest, price: PriceRow, tier: str) -> Lines: ...

    def settle_lines(self, request: ImageRequest, result: ImageResult, price: PriceRow, tier: str) -> Lines: ...

    def one_image(self, price: PriceRow, size: str | None, quality: str | None) -> Decimal: ...


_UNITS: dict[str, Unit] = {"token": by_token, "image": by_image, "megapixel": by_megapixel}


def unit_of(price: PriceRow) -> Unit:
    """The module pricing ``price``'s images; ``PricingError`` for a row that makes no image (``text``)."""
    unit = _UNITS.get(price.unit)
    if unit is None:
        raise PricingError(f"a {price.unit!r} row prices no image")
    return unit
