"""Per-megapixel rows: output MP per image with an optional first-MP premium, input MP per
reference image, a per-image fee, and the row's rounding rule (fractional or whole MP per image).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, Decimal

from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.domain.size import parse_size
from imagegate.pricing.charge import Lines, PricingError, usd_to_micros
from imagegate.pricing.inputs import AUTO, image_dimensions, requested_n
from imagegate.pricing.rows import MegapixelRates, MpRounding, PriceRow


def output_cost(rates: MegapixelRates, megapixels: Decimal) -> Decimal:
    """USD of one output image of ``megapixels`` (already rounded), fee excluded."""
    if rates.first_mp is None:
        return megapixels * rates.output_mp
    return rates.first_mp + max(Decimal(0), megapixels - 1) * rates.output_mp


def output_megapixels(rates: MegapixelRates, sizes: Sequence[str | None], default: str | None) -> tuple[Decimal, bool]:
    """Rounded MP of one output image, and whether exact (else the row's ``max_output_mp``)."""
    named = [size for size in sizes if size is not None]
    for size in named if named else [default]:
        if size is None or size == AUTO:
            continue
        try:
            width, height = parse_size(size)
        except ValueError:
            continue
        return _round(Decimal(width * height) / rates.mp_pixels, rates.output_rounding), True
    return _round(rates.max_output_mp, rates.output_rounding), False


def input_megapixels(rates: MegapixelRates, request: ImageRequest) -> Decimal:
    """Billed MP of the request's reference images: each clamped to the row's bounds, then rounded."""
    total = Decimal(0)
    for width, height in image_dimensions(request.images):
        mp = max(Decimal(width * height) / rates.mp_pixels, rates.input_min_mp)
        if rates.input_max_mp is not None:
            mp = min(mp, rates.input_max_mp)
        total += _round(mp, rates.input_rounding)
    return total


def quote_lines(request: ImageRequest, price: PriceRow, tier: str) -> Lines:
    """Upper bound before the call; an unknown output size is priced at ``max_output_mp``."""
    rates = _rates(price)
    n = requested_n(request, price)
    megapixels, _ = output_megapixels(rates, [request.size], price.default_size)
    lines = Lines()
    lines.add("image_output", n * usd_to_micros(output_cost(rates, megapixels)))
    lines.add("per_image_fee", n * usd_to_micros(rates.per_image_fee))
    if request.images:
        input_times = n if price.input_billed_per_image else 1
        mp_in = input_megapixels(rates, request)
        lines.add("image_input", input_times * usd_to_micros(mp_in * rates.input_mp))
    lines.scale(price.tier(tier).multiplier)
    return lines


def settle_lines(request: ImageRequest, result: ImageResult, price: PriceRow, tier: str) -> Lines:
    """Cost from the provider's reported MP, else from the delivered size and the uploaded images.

    Reported ``output_megapixels`` is the total over delivered images, in the row's MP unit.
    """
    rates = _rates(price)
    usage = result.usage
    count = result.image_count
    if usage.output_megapixels is not None and count:
        megapixels = _round(usage.output_megapixels / count, rates.output_rounding)
        exact = True
    else:
        megapixels, exact = output_megapixels(rates, [result.size, request.size], price.default_size)
    lines = Lines()
    lines.add("image_output", count * usd_to_micros(output_cost(rates, megapixels)))
    lines.add("per_image_fee", count * usd_to_micros(rates.per_image_fee))
    if usage.input_megapixels is not None:
        mp_in = usage.input_megapixels
    elif request.images:
        input_times = requested_n(request, price) if price.input_billed_per_image else 1
        mp_in = input_megapixels(rates, request) * input_times
    else:
        mp_in = Decimal(0)
    lines.add("image_input", usd_to_micros(mp_in * rates.input_mp))
    lines.scale(price.tier(tier).multiplier)
    lines.estimated = not exact
    return lines


def one_image(price: PriceRow, size: str | None, quality: str | None) -> Decimal:
    """Micro-dollars (unrounded) of one output image at the standard tier, fee included."""
    rates = _rates(price)
    megapixels, exact = output_megapixels(rates, [size], price.default_size)
    if size not in (None, AUTO) and not exact:
        raise PricingError(f"size {size!r} is not a WxH size")
    return usd_to_micros(output_cost(rates, megapixels) + rates.per_image_fee)


def _rates(price: PriceRow) -> MegapixelRates:
    assert price.megapixel is not None  # guaranteed by PriceRow's unit validation
    return price.megapixel


def _round(megapixels: Decimal, rule: MpRounding) -> Decimal:
    if rule == "ceil":
        return megapixels.to_integral_value(rounding=ROUND_CEILING)
    return megapixels
