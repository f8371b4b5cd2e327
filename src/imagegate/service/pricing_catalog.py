"""The catalog as this gateway prices it: the document behind ``GET /api/pricing`` and the console's
catalog page (docs/pricing.md, "Pricing API").

Two views in one document:

- ``models``: one row per model and route. First every route of every served alias (``model`` is
  the alias clients send), then every catalog model no route uses (``served: false``). Each row
  has endpoint types, unit, rates, tiers, per-image prices at common sizes, lifecycle, sources,
  and the route health fields ``status`` / ``last_checked_at`` (``unknown`` / ``null`` before
  any; ``retired`` once the catalog's shutdown date has passed).
- ``success`` / ``data`` / ``group_ratio`` / ``usable_group``: the fields gateway dashboards read
  from New API's ``/api/pricing``, one ``data`` row per served alias.

Per-image prices come from ``pricing.engine.per_image_price`` (standard tier, no inputs): one image
at a size and quality. ``default_price`` prices the provider's defaults, so a model whose default
is ``auto`` shows what an omitted size or quality may cost (the most expensive choice, as a quote
reserves it), not a flattering guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import orjson

from imagegate.catalog import Catalog, CatalogModel
from imagegate.domain.capabilities import Capabilities
from imagegate.domain.money import usd_string
from imagegate.domain.size import parse_size
from imagegate.pricing.engine import PricingError, per_image_price
from imagegate.pricing.rows import PriceRow
from imagegate.providers.base import RouteTarget
from imagegate.providers.validation import check_custom_size
from imagegate.routing.table import RouteTable
from imagegate.service.route_control import EffectiveStatus

AUTO = "auto"
# Sizes listed for models that take free-form WxH, when the model's rule allows them: the
# OpenAI presets plus the common square, 16:9 and 4K shapes.
COMMON_CUSTOM_SIZES = ("1024x1024", "1536x1024", "1024x1536", "2048x2048", "2048x1152", "3840x2160")

# Catalog endpoint families -> New API ``supported_endpoint_types``. Every alias is served on the
# OpenAI Images dialect ("image-generation"); models native to Google's API also list "gemini".
_COMPAT_ENDPOINTS = {"gemini": "gemini", "imagen": "gemini"}
_COMPAT_GROUP = "default"
# New API's ratio unit: ratio 1 = $0.002 per 1K tokens = $2 per 1M tokens.
_USD_PER_1M_AT_RATIO_1 = Decimal(2)


def pricing_document(
    catalog: Catalog,
    routes: RouteTable,
    today: date,
    statuses: Mapping[str, EffectiveStatus] | None = None,
) -> dict[str, Any]:
    """The whole ``/api/pricing`` body (numbers in ``data`` are ``orjson.Fragment`` decimals).

    ``statuses`` maps route names to their current status (``RoutingAdmin.statuses``).
    """
    rows: list[dict[str, Any]] = []
    compat: list[dict[str, Any]] = []
    used: set[tuple[str, str]] = set()
    for alias in routes.aliases():
        primary: CatalogModel | None = None
        for target in alias.routes:
            entry = catalog.find(target.provider, target.model)
            rows.append(_row(alias.name, target, entry, today, None if statuses is None else statuses.get(target.name)))
            if entry is not None:
                used.add((entry.provider, entry.model))
                primary = primary or entry
        compat.append(_compat_row(alias.name, alias.description, primary))
    for entry in catalog.models():
        if (entry.provider, entry.model) not in used:
            rows.append(_row(None, None, entry, today))
    return {
        "object": "imagegate.pricing",
        "currency": "USD",
        "models": rows,
        "success": True,
        "data": compat,
        "group_ratio": {_COMPAT_GROUP: 1},
        "usable_group": {_COMPAT_GROUP: _COMPAT_GROUP},
    }


def _row(
    alias: str | None,
    target: RouteTarget | None,
    entry: CatalogModel | None,
    today: date,
    status: EffectiveStatus | None = None,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": alias if alias is not None else entry.model if entry is not None else None,
        "served": alias is not None,
        "route": None if target is None else target.name,
        "provider": target.provider if target is not None else entry.provider if entry is not None else None,
        "provider_model": target.model if target is not None else entry.model if entry is not None else None,
        "status": "unknown" if status is None else status.status,
        "last_checked_at": None
        if status is None or status.last_checked_at is None
        else status.last_checked_at.isoformat(),
    }
    if entry is None:
        # A route to a model the catalog does not list: served, but not priced (costs 0, estimated).
        return {**base, "priced": False}
    if entry.lifecycle.is_shut_down(today):
        base["status"] = "retired"
    price = entry.price
    return {
        **base,
        "priced": True,
        "catalog_aliases": list(entry.aliases),
        "family": entry.family,
        "endpoint_types": list(entry.endpoint_types),
        "operations": sorted(entry.capabilities.operations),
        "unit": price.unit,
        "currency": price.currency,
        "rates": _rates(price),
        "tiers": {
            name: {
                "multiplier": str(spec.multiplier),
                "rates_usd_per_1m_tokens": {line: str(rate) for line, rate in spec.rates.items()},
                "unverified": spec.unverified,
            }
            for name, spec in price.tiers.items()
        },
        "default_image": default_price(entry.capabilities, price),
        "per_image": price_points(entry.capabilities, price),
        "lifecycle": {
            "deprecated_on": _iso(entry.lifecycle.deprecated_on),
            "shutdown_on": _iso(entry.lifecycle.shutdown_on),
            "replacement": entry.lifecycle.replacement,
        },
        "source": list(price.source),
        "as_of": price.as_of.isoformat(),
        "unverified": entry.unverified or price.unverified,
    }


def _rates(price: PriceRow) -> dict[str, Any]:
    if price.unit == "token" and price.token_rates is not None:
        return {
            "usd_per_1m_tokens": {line: str(rate) for line, rate in price.token_rates.resolved().items()},
            "output_tokens_rule": None if price.output_tokens is None else price.output_tokens.rule,
            "input_images_rule": None if price.input_images is None else price.input_images.rule,
            "partial_image_extra_output_tokens": price.partial_image_extra_output_tokens,
            "input_billed_per_image": price.input_billed_per_image,
        }
    if price.unit == "text" and price.text_rates is not None:
        text = price.text_rates
        cached = text.cached_input if text.cached_input is not None else text.input
        return {
            "usd_per_1m_tokens": {"input": str(text.input), "cached_input": str(cached), "output": str(text.output)}
        }
    if price.unit == "megapixel" and price.megapixel is not None:
        mp = price.megapixel
        return {
            "usd_first_mp": None if mp.first_mp is None else str(mp.first_mp),
            "usd_per_output_mp": str(mp.output_mp),
            "usd_per_input_mp": str(mp.input_mp),
            "usd_per_image_fee": str(mp.per_image_fee),
            "mp_pixels": mp.mp_pixels,
            "output_rounding": mp.output_rounding,
            "input_rounding": mp.input_rounding,
        }
    return {
        "usd_per_image": [
            {"size": point.size, "quality": point.quality, "usd": str(point.usd)} for point in price.image_prices
        ]
    }


def _compat_row(name: str, description: str | None, entry: CatalogModel | None) -> dict[str, Any]:
    """A New API ``/api/pricing`` row. Token-priced models are ``quota_type`` 0 (input rate as
    ``model_ratio``, image output as ``completion_ratio``); per-image and per-MP models are
    ``quota_type`` 1 with ``model_price`` = one image at the default size, in USD."""
    row: dict[str, Any] = {
        "model_name": name,
        "description": description or "",
        "owner_by": "" if entry is None else entry.provider,
        "enable_groups": [_COMPAT_GROUP],
        "supported_endpoint_types": _compat_endpoints(entry),
        "quota_type": 1,
        "model_ratio": _number(Decimal(0)),
        "completion_ratio": _number(Decimal(0)),
        "model_price": _number(Decimal(0)),
    }
    if entry is None:
        return row
    price = entry.price
    rates = price.token_rates
    if price.unit == "token" and rates is not None and rates.text_input > 0:
        row["quota_type"] = 0
        row["model_ratio"] = _number(rates.text_input / _USD_PER_1M_AT_RATIO_1)
        row["completion_ratio"] = _number(rates.image_output / rates.text_input)
        return row
    point = default_price(entry.capabilities, price)
    if point is not None:
        row["model_price"] = _number(Decimal(point["usd"]))
    return row


def _compat_endpoints(entry: CatalogModel | None) -> list[str]:
    endpoints = ["image-generation"]
    for family in () if entry is None else entry.endpoint_types:
        mapped = _COMPAT_ENDPOINTS.get(family)
        if mapped is not None and mapped not in endpoints:
            endpoints.append(mapped)
    return endpoints


def _number(value: Decimal) -> orjson.Fragment:
    # The compat fields are JSON numbers; written from the Decimal's text so no binary float
    # ever holds the price (trailing zeros dropped, at most nine places).
    text = format(value.quantize(Decimal("0.000000001")).normalize(), "f")
    return orjson.Fragment(text.encode("ascii"))


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


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
