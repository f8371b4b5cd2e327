"""Per-image rows: a list of price points, each optionally restricted to a size and a quality.

A request's (size, quality) takes the most specific matching point; when the request leaves
either to the provider, the most expensive choice bounds the quote.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.pricing.charge import Lines, usd_to_micros
from imagegate.pricing.inputs import most_expensive, pick, requested_n
from imagegate.pricing.rows import PriceRow


def unit_price(
    price: PriceRow,
    sizes: Sequence[str | None],
    qualities: Sequence[str | None],
    *,
    strict: bool = False,
) -> tuple[Decimal, bool]:
    """USD of one image, and whether it is exact (else the most expensive choice)."""
    known_sizes = list(dict.fromkeys(p.size for p in price.image_prices if p.size is not None))
    known_qualities = list(dict.fromkeys(p.quality for p in price.image_prices if p.quality is not None))
    # A row with no size-specific (or quality-specific) points ignores that dimension entirely.
    size_options: Sequence[str | None] = [None]
    quality_options: Sequence[str | None] = [None]
    size_exact = quality_exact = True
    if known_sizes:
        size_options, size_exact = pick(
            sizes, price.default_size, known_sizes, known_sizes.__contains__, what="size", strict=strict
        )
    if known_qualities:
        quality_options, quality_exact = pick(
            qualities,
            price.default_quality,
            known_qualities,
            known_qualities.__contains__,
            what="quality",
            strict=strict,
        )
    usd = most_expensive(size_options, quality_options, lambda s, q: _match(price, s, q))
    return usd, size_exact and quality_exact


def quote_lines(request: ImageRequest, price: PriceRow, tier: str) -> Lines:
    """Upper bound before the call: images to generate x the unit price."""
    usd, _ = unit_price(price, [request.resolution, request.size], [request.quality])
    lines = Lines()
    lines.add("image_output", requested_n(request, price) * usd_to_micros(usd))
    lines.scale(price.tier(tier).multiplier)
    return lines


def settle_lines(request: ImageRequest, result: ImageResult, price: PriceRow, tier: str) -> Lines:
    """Delivered images x the unit price; estimated only when the price point had to be bounded."""
    usd, exact = unit_price(price, [result.size, request.resolution, request.size], [result.quality, request.quality])
    lines = Lines()
    lines.add("image_output", result.image_count * usd_to_micros(usd))
    lines.scale(price.tier(tier).multiplier)
    lines.estimated = not exact
    return lines


def one_image(price: PriceRow, size: str | None, quality: str | None) -> Decimal:
    """Micro-dollars (unrounded) of one image at the standard tier."""
    return usd_to_micros(unit_price(price, [size], [quality], strict=True)[0])


def _match(price: PriceRow, size: str | None, quality: str | None) -> Decimal | None:
    best = None
    for point in price.image_prices:
        if point.size not in (None, size) or point.quality not in (None, quality):
            continue
        rank = (point.size is not None, point.quality is not None, point.usd)
        if best is None or rank > best:
            best = rank
    return None if best is None else best[2]
