"""The request a smoke test sends: the cheapest one-image request a route accepts.

Candidates are every size (or aspect ratio x resolution tier) and quality the route's
capabilities list; the cheapest by ``pricing.engine.quote`` wins, then the fewest pixels.
"""

from __future__ import annotations

import math
from typing import TypedDict

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest
from imagegate.domain.size import is_size, size_or_none
from imagegate.pricing.engine import quote
from imagegate.pricing.rows import PriceRow
from imagegate.providers.base import ProviderAdapter, RouteTarget
from imagegate.providers.shapes import canonical_size
from imagegate.service.conform import conform

SMOKE_PROMPT = "a small red circle on a plain white background"


class _Shape(TypedDict, total=False):
    """The shape fields of a smoke candidate (a size, or an aspect ratio and resolution tier)."""

    size: str
    aspect_ratio: str
    resolution: str


def _shapes(caps: Capabilities) -> list[_Shape]:
    shapes: list[_Shape] = [{"size": size} for size in caps.sizes if is_size(size)]
    rule = caps.custom_size
    if rule is not None:
        # The smallest square the rule allows: the fewest pixels a free-form size can ask for.
        side = math.ceil(math.sqrt(rule.min_pixels) / rule.multiple_of) * rule.multiple_of
        shapes.append({"size": f"{side}x{side}"})
    aspect: _Shape = {}
    if caps.aspect_ratios:
        aspect = {"aspect_ratio": "1:1" if "1:1" in caps.aspect_ratios else caps.aspect_ratios[0]}
    if caps.resolutions:
        shapes.extend(_Shape(**aspect, resolution=tier) for tier in caps.resolutions)
    elif aspect:
        shapes.append(aspect)
    return shapes or [{}]


def _pixels(request: ImageRequest) -> float:
    dims = None if request.size is None else size_or_none(request.size)
    if dims is None and request.aspect_ratio is not None:
        try:
            dims = canonical_size(request.aspect_ratio, request.resolution)
        except ValueError:
            dims = None
    return math.inf if dims is None else dims[0] * dims[1]


def _price(request: ImageRequest, price: PriceRow | None) -> float:
    if price is None:
        return 0.0  # unpriced: every candidate costs the same, the pixel count decides
    try:
        return quote(request, price).micros
    except Exception:
        return math.inf


def smoke_request(
    target: RouteTarget,
    adapter: ProviderAdapter,
    caps: Capabilities,
    price: PriceRow | None,
) -> ImageRequest:
    """The cheapest one-image request the route accepts, as the route will receive it.

    Candidates are every size (or aspect ratio x resolution tier) and quality the capabilities
    list; the cheapest by quote wins, then the fewest pixels. ``InvalidRequest`` if none passes
    the route's own validation.
    """
    qualities: list[str | None] = [quality for quality in caps.qualities if quality != "auto"] or [None]
    candidates = [
        ImageRequest(
            operation="generate",
            model=target.alias,
            prompt=SMOKE_PROMPT,
            dialect=adapter.dialect,
            n=1,
            quality=quality,
            **shape,
        )
        for shape in _shapes(caps)
        for quality in qualities
    ]
    ranked = sorted(enumerate(candidates), key=lambda item: (_price(item[1], price), _pixels(item[1]), item[0]))
    first_error: InvalidRequest | None = None
    for _, candidate in ranked:
        try:
            conformed = conform(candidate, adapter, caps, target.model).request
            adapter.validate(conformed, caps)
            return conformed
        except InvalidRequest as error:
            first_error = first_error or error
    assert first_error is not None
    raise first_error
