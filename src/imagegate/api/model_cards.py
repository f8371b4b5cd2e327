"""What a model looks like to clients: capabilities and per-image prices, for ``GET /v1/models``
(one card per alias) and ``GET /api/pricing`` (the price points).

Prices come from ``pricing.engine.per_image_price`` (standard tier, no inputs): one image at a
size and quality. ``default_price`` prices the provider's defaults, so a model whose default is
``auto`` shows what an omitted size or quality may cost (the most expensive choice, as a quote
reserves it), not a flattering guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.money import usd_string
from imagegate.domain.size import parse_size
from imagegate.pricing.engine import PricingError, per_image_price
from imagegate.pricing.rows import PriceRow
from imagegate.providers.validation import check_custom_size
from imagegate.routing.table import ModelAlias
from imagegate.service.gateway import Gateway

AUTO = "auto"
# Sizes listed for models that take free-form WxH, when the model's rule allows them: the
# OpenAI presets plus the common square, 16:9 and 4K shapes.
COMMON_CUSTOM_SIZES = ("1024x1024", "1536x1024", "1024x1536", "2048x2048", "2048x1152", "3840x2160")


def capabilities_json(caps: Capabilities) -> dict[str, Any]:
    """The JSON form of ``Capabilities`` (the catalog's field names)."""
    custom = caps.custom_size
    return {
        "operations": sorted(caps.operations),
        "sizes": list(caps.sizes),
        "custom_size": None
        if custom is None
        else {
            "multiple_of": custom.multiple_of,
            "max_edge": custom.max_edge,
            "max_aspect_ratio": custom.max_aspect_ratio,
            "min_pixels": custom.min_pixels,
            "max_pixels": custom.max_pixels,
        },
        "aspect_ratios": list(caps.aspect_ratios),
        "resolutions": list(caps.resolutions),
        "qualities": list(caps.qualities),
        "max_n": caps.max_n,
        "backgrounds": list(caps.backgrounds),
        "transparent_background": caps.transparent_background,
        "output_formats": list(caps.output_formats),
        "input_fidelities": list(caps.input_fidelities),
        "max_input_images": caps.max_input_images,
        "mask": caps.mask,
        "streaming": caps.streaming,
        "max_partial_images": caps.max_partial_images,
        "seed": caps.seed,
        "default_size": caps.default_size,
    }


def default_price(caps: Capabilities | None, price: PriceRow) -> dict[str, Any] | None:
    """One image at the provider's default size and quality, or ``None`` if the row can't say."""
    size = caps.default_size if caps is not None and caps.default_size is not None else price.default_size
    quality = price.default_quality
    try:
        micros = per_image_price(price, size, quality)
    except PricingError:
        return None
    return {"size": size, "quality": quality, "usd": usd_string(micros)}


def price_points(caps: Capabilities, price: PriceRow) -> list[dict[str, Any]]:
    """One image at each common size x quality the model offers and the row prices."""
    sizes: list[str | None] = [size for size in caps.sizes if size != AUTO]
    if caps.custom_size is not None:
        rule = caps.custom_size
        for custom in COMMON_CUSTOM_SIZES:
            width, height = parse_size(custom)
            if custom not in sizes and check_custom_size(width, height, rule) is None:
                sizes.append(custom)
    if not sizes:
        sizes = list(caps.resolutions) or [None]
    qualities: list[str | None] = [q for q in caps.qualities if q != AUTO] or [None]
    points = []
    for size in sizes:
        for quality in qualities:
            try:
                micros = per_image_price(price, size, quality)
            except PricingError:
                continue  # e.g. a quality the row prices at some sizes only
            points.append({"size": size, "quality": quality, "usd": usd_string(micros)})
    return points


def model_cards(gateway: Gateway, aliases: Iterable[ModelAlias]) -> list[dict[str, Any]]:
    """``/v1/models`` entries: OpenAI's model object plus ``capabilities`` and ``pricing``.

    Both describe the alias's first route the catalog knows (the route tried first); they are
    ``null`` when no route is in the catalog. Extra fields are ignored by OpenAI clients.
    """
    cards = []
    for alias in aliases:
        caps: Capabilities | None = None
        pricing: dict[str, Any] | None = None
        for target in alias.routes:
            facts = gateway.facts(target.provider, target.model)
            if facts.capabilities is None and facts.price is None:
                continue
            caps = facts.capabilities
            if facts.price is not None:
                pricing = {
                    "currency": "USD",
                    "unit": facts.price.unit,
                    "provider": target.provider,
                    "provider_model": target.model,
                    "default_image": default_price(caps, facts.price),
                }
            break
        cards.append(
            {
                "id": alias.name,
                "object": "model",
                "created": 0,
                "owned_by": "imagegate",
                "description": alias.description,
                "capabilities": None if caps is None else capabilities_json(caps),
                "pricing": pricing,
            }
        )
    return cards
