"""Pure quote (upper bound before the call) and settle (actual cost after it) on price rows.

The engine knows units and rules, never providers: which rule and constants a model uses is
data in its ``PriceRow``. Amounts are ``Decimal`` micro-dollars until the end, then rounded
half-up to whole micro-dollars once per charge (``Lines.to_charge``). No I/O; the only input it
inspects besides the row is the request (and the uploaded images' headers, for their size).

    quote(request, price, tier="standard")           -> Charge  (reserve this much)
    settle(request, result, price, tier="standard")  -> Charge  (bill this much)
    per_image_price(price, size, quality)            -> int     (micros, listings and estimates)
"""

from __future__ import annotations

from imagegate.domain.money import MICROS_PER_USD, micros_from_decimal
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.pricing import responses
from imagegate.pricing.charge import Charge, Lines, PricingError, usd_to_micros
from imagegate.pricing.rows import STANDARD_TIER, PriceRow, UnknownTier
from imagegate.pricing.units import unit_of

__all__ = ["Charge", "PricingError", "UnknownTier", "per_image_price", "quote", "settle"]


def quote(
    request: ImageRequest, price: PriceRow, *, tier: str = STANDARD_TIER, tool_price: PriceRow | None = None
) -> Charge:
    """The most the request can cost, for budget reservation before the call.

    ``n`` absent means the row's ``default_n``; ``quality`` and ``size`` absent mean the row's
    defaults when it has them, and absent without a default or ``auto`` mean the most expensive
    choice the rule allows. Input images are priced from their real dimensions; the prompt from
    its length (``inputs.PROMPT_BYTES_PER_TOKEN``). Raises ``UnknownTier``, ``PricingError``, or
    ``InvalidRequest`` for an unreadable input image. A ``respond`` request (the Responses API) is
    its mainline row's text plus one image at ``tool_price`` (``pricing.responses``).
    """
    if request.operation == "respond":
        return responses.quote(request, price, tool_price, tier).to_charge(price.unit)
    row = price.for_operation(request.operation)
    row.tier(tier)
    return unit_of(row).quote_lines(request, row, tier).to_charge(row.unit)


def settle(
    request: ImageRequest,
    result: ImageResult,
    price: PriceRow,
    *,
    tier: str = STANDARD_TIER,
    tool_price: PriceRow | None = None,
) -> Charge:
    """The actual cost of a successful attempt.

    A provider-reported charge (``usage.provider_cost_usd``) is taken as is. Otherwise usage
    counters are priced; what the provider did not report is computed from the rules using the
    delivered image count and size, and the charge is marked ``estimated``.
    """
    if request.operation == "respond":
        # The Responses API: the mainline text plus ``usage.image_tool`` at ``tool_price``.
        return responses.settle(request, result, price, tool_price, tier).to_charge(price.unit)
    row = price.for_operation(request.operation)
    row.tier(tier)  # an unpriced tier is a configuration error even when the provider reports a cost
    reported = result.usage.provider_cost_usd
    if reported is not None:
        lines = Lines()
        lines.add("provider_cost", usd_to_micros(reported))
        return lines.to_charge("provider_cost")
    return unit_of(row).settle_lines(request, result, row, tier).to_charge(row.unit)


def per_image_price(price: PriceRow, size: str | None, quality: str | None) -> int:
    """Micro-dollars of one generated image at ``size``/``quality`` (standard tier, no inputs).

    ``None`` or ``auto`` takes the row's default, else the most expensive choice; a size or
    quality the row does not price raises ``PricingError``.
    """
    amount = unit_of(price).one_image(price, size, quality)
    return micros_from_decimal(amount / MICROS_PER_USD)
