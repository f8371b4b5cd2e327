"""What a model looks like to clients: capabilities and per-image prices, for ``GET /v1/models``
(one card per alias) and ``GET /api/pricing`` (the price points).

Prices come from ``service.pricing_catalog`` (``default_price``: one image at the provider's
default size and quality).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from imagegate.domain.capabilities import Capabilities
from imagegate.routing.table import ModelAlias
from imagegate.service.gateway import Gateway
from imagegate.service.pricing_catalog import default_price


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
