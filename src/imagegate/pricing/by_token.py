"""Token-priced rows: tokens by direction and modality times per-1M rates.

Output tokens per image come from the row's rule (area formula, size x quality table, per
resolution tier, or fixed); input-image tokens from its input rule (tile rule, fixed per image,
or an estimate when the rule is unknown). Rates per 1M tokens are micro-dollars per token, so
every line is ``tokens x rate`` with no scaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.domain.size import is_size, parse_size
from imagegate.pricing.charge import Lines, PricingError
from imagegate.pricing.inputs import image_dimensions, most_expensive, pick, prompt_tokens, requested_n
from imagegate.pricing.rows import (
    AreaFormulaOutput,
    FixedInput,
    FixedOutput,
    PerTierOutput,
    PriceRow,
    TableOutput,
    UnknownInput,
)
from imagegate.pricing.token_rules import area_formula_output_tokens, tile_input_image_tokens


def output_tokens(
    price: PriceRow,
    sizes: Sequence[str | None],
    qualities: Sequence[str | None],
    *,
    strict: bool = False,
) -> tuple[int, bool]:
    """Output tokens of one image and whether they are exact (else the most expensive choice).

    ``sizes`` and ``qualities`` are candidates in order of preference (what the provider reported,
    then what the request asked); ``None`` entries mean "not known". Worked out once per row and
    candidates (``PriceRow.memoized``): every quote and settlement asks.
    """
    key = ("output_tokens", tuple(sizes), tuple(qualities), strict)
    return price.memoized(key, lambda: _output_tokens(price, sizes, qualities, strict=strict))


def _output_tokens(
    price: PriceRow,
    sizes: Sequence[str | None],
    qualities: Sequence[str | None],
    *,
    strict: bool,
) -> tuple[int, bool]:
    rule = price.output_tokens
    if isinstance(rule, FixedOutput):
        return rule.tokens, True
    if isinstance(rule, PerTierOutput):
        as_tiers = [size if size is None or size in rule.tokens else (rule.tier_of(size) or size) for size in sizes]
        tiers, exact = pick(
            as_tiers, price.default_size, rule.tokens, rule.tokens.__contains__, what="size", strict=strict
        )
        return max(rule.tokens[tier] for tier in tiers), exact
    if isinstance(rule, TableOutput):
        known_qualities = list(dict.fromkeys(q for row in rule.table.values() for q in row))
        quality_options, quality_exact = pick(
            qualities,
            price.default_quality,
            known_qualities,
            known_qualities.__contains__,
            what="quality",
            strict=strict,
        )
        size_options, size_exact = pick(
            sizes, price.default_size, rule.table, rule.table.__contains__, what="size", strict=strict
        )
        table = rule.table
        tokens = most_expensive(size_options, quality_options, lambda s, q: table[s].get(q))
        return tokens, size_exact and quality_exact
    if isinstance(rule, AreaFormulaOutput):
        factors = rule.quality_factors
        quality_options, quality_exact = pick(
            qualities, price.default_quality, factors, factors.__contains__, what="quality", strict=strict
        )
        size_options, size_exact = pick(sizes, price.default_size, rule.auto_sizes, is_size, what="size", strict=strict)
        tokens = most_expensive(
            size_options,
            quality_options,
            lambda s, q: area_formula_output_tokens(*parse_size(s), factors[q]),
        )
        return tokens, size_exact and quality_exact
    raise PricingError("token row without an output-token rule")


def input_image_tokens(price: PriceRow, request: ImageRequest) -> tuple[int, bool]:
    """Input tokens of the request's reference images, and whether they are an estimate."""
    if not request.images:
        return 0, False
    rule = price.input_images
    if rule is None:
        raise PricingError("this model does not price input images")
    if isinstance(rule, UnknownInput):
        return rule.estimate_tokens * len(request.images), True
    if isinstance(rule, FixedInput):
        return rule.tokens * len(request.images), False
    extra = rule.high_fidelity_extra if request.input_fidelity == "high" else None
    tokens = sum(
        tile_input_image_tokens(
            width,
            height,
            base_tokens=rule.base_tokens,
            tokens_per_tile=rule.tokens_per_tile,
            tile_px=rule.tile_px,
            fit_px=rule.fit_px,
            short_side_px=rule.short_side_px,
            high_fidelity_extra=extra,
        )
        for width, height in image_dimensions(request.images)
    )
    return tokens, False


def quote_lines(request: ImageRequest, price: PriceRow, tier: str) -> Lines:
    """Upper bound before the call (see ``engine.quote``)."""
    rates = price.tier_token_rates(tier)
    lines = Lines()
    n = requested_n(request, price)
    input_times = n if price.input_billed_per_image else 1
    lines.add("text_input", prompt_tokens(request.prompt) * input_times * rates["text_input"])
    image_in, guessed = input_image_tokens(price, request)
    lines.add("image_input", image_in * input_times * rates["image_input"])
    per_image, _ = output_tokens(price, [request.resolution, request.size], [request.quality])
    lines.add("image_output", n * per_image * rates["image_output"])
    partial_tokens = (request.partial_images or 0) * price.partial_image_extra_output_tokens
    lines.add("partial_images", n * partial_tokens * rates["image_output"])
    lines.add("text_output", n * price.text_output_reserve_tokens * rates["text_output"])
    lines.estimated = guessed or price.text_output_reserve_tokens > 0
    return lines


def settle_lines(request: ImageRequest, result: ImageResult, price: PriceRow, tier: str) -> Lines:
    """Actual cost from usage; each counter group the provider left out falls back to the rules.

    Groups: input (text, image, cached) and output (image, text, thinking). Within a group the
    provider reported, a missing counter is zero; a group with no counter at all is computed from
    the rules and marks the charge estimated. Cached input tokens are a subset of the input
    counters, attributed to text first, then to image.
    """
    usage = result.usage
    rates = price.tier_token_rates(tier)
    lines = Lines()

    if usage.input_text_tokens is None and usage.input_image_tokens is None and usage.cached_input_tokens is None:
        input_times = requested_n(request, price) if price.input_billed_per_image else 1
        text_in = prompt_tokens(request.prompt) * input_times
        image_in = input_image_tokens(price, request)[0] * input_times
        cached = 0
        lines.estimated = True
    else:
        text_in = usage.input_text_tokens or 0
        image_in = usage.input_image_tokens or 0
        cached = usage.cached_input_tokens or 0
    text_cached = min(cached, text_in)
    image_cached = min(cached - text_cached, image_in)
    lines.add("text_input", (text_in - text_cached) * rates["text_input"])
    lines.add("text_input_cached", text_cached * rates["text_input_cached"])
    lines.add("image_input", (image_in - image_cached) * rates["image_input"])
    lines.add("image_input_cached", image_cached * rates["image_input_cached"])

    if usage.output_image_tokens is None and usage.output_text_tokens is None and usage.thinking_tokens is None:
        delivered = result.image_count
        per_image, _ = output_tokens(
            price, [result.size, request.resolution, request.size], [result.quality, request.quality]
        )
        partial_tokens = (request.partial_images or 0) * price.partial_image_extra_output_tokens
        lines.add("image_output", delivered * per_image * rates["image_output"])
        lines.add("partial_images", delivered * partial_tokens * rates["image_output"])
        lines.add("text_output", delivered * price.text_output_reserve_tokens * rates["text_output"])
        lines.estimated = True
    else:
        lines.add("image_output", (usage.output_image_tokens or 0) * rates["image_output"])
        text_out = (usage.output_text_tokens or 0) + (usage.thinking_tokens or 0)
        lines.add("text_output", text_out * rates["text_output"])
    return lines


def one_image(price: PriceRow, size: str | None, quality: str | None) -> Decimal:
    """Micro-dollars (unrounded) of one output image at the standard tier."""
    tokens, _ = output_tokens(price, [size], [quality], strict=True)
    return tokens * price.tier_token_rates("standard")["image_output"]
