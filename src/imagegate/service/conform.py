"""Fitting a request to one route: shape fields translated, foreign fields refused, ``n`` split.

Any dialect may be served by any provider that can honour the request (docs/translation.md).
What "honour" means is decided here from the route's declared capabilities, never from provider
names:

- a pixel ``size`` becomes the nearest aspect ratio + resolution tier for models that take those,
  and an aspect ratio + tier becomes the nearest pixel size for models that take sizes;
- ``auto`` values the model has no choice for (``quality``, ``moderation``) and ``background``
  ``auto``/``opaque`` for models that only make opaque images are dropped: they ask for nothing;
- fields another dialect carries in ``ImageRequest.extra`` reach a provider of a different
  dialect only if its adapter declares it translates them (``foreign_extras``); any other is a
  400 naming the client's field, never a silent drop;
- ``n`` above what the model makes per call becomes several calls (fan-out), never fewer images;
- a stream the provider cannot produce in the client's dialect is served whole and re-emitted as
  the client's stream (``emulate_stream``), which cannot carry partial images.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.request import ImageRequest
from imagegate.domain.size import size_or_none
from imagegate.providers.base import ProviderAdapter
from imagegate.providers.shapes import (
    aspect_value,
    canonical_size,
    fit_custom_size,
    nearest_aspect,
    nearest_fixed_size,
    nearest_tier,
    size_text,
)
from imagegate.providers.validation import invalid_size

# The most images one request may fan out to (OpenAI's own ``n`` limit).
MAX_FAN_OUT_IMAGES = 10


@dataclass(frozen=True, slots=True)
class Conformed:
    """The request as this route will receive it, and how ``n`` is split across calls."""

    request: ImageRequest
    chunks: tuple[int, ...] | None = None  # None: one call makes every image


def split_n(n: int, per_call: int) -> tuple[int, ...]:
    """``n`` images as calls of at most ``per_call`` each, largest first (7, 4 -> (4, 3))."""
    full, rest = divmod(n, per_call)
    return (per_call,) * full + ((rest,) if rest else ())


def conform(
    request: ImageRequest, adapter: ProviderAdapter, caps: Capabilities, model: str, *, emulate_stream: bool = False
) -> Conformed:
    """The route's copy of ``request``; raises ``InvalidRequest`` naming the client's field."""
    if request.dialect != adapter.dialect:
        for name in request.extra:
            if name not in adapter.foreign_extras:
                raise InvalidRequest(
                    f"'{name}' has no equivalent at {model} (served through the {adapter.dialect} API); "
                    "omit it or use a model of your dialect",
                    param=name,
                )
    changes: dict[str, Any] = {}
    if emulate_stream and request.stream:
        if request.partial_images not in (None, 0):
            raise InvalidRequest(
                f"'{request.param_name('partial_images')}' needs a model that streams in your API's format; "
                f"{model} is streamed as one finished image",
                param=request.param_name("partial_images"),
            )
        changes.update(stream=False, partial_images=None)
    changes.update(_shape_changes(request, caps, model))
    if request.quality == "auto" and "auto" not in caps.qualities:
        changes["quality"] = None
    if request.moderation == "auto" and "auto" not in caps.moderation_levels:
        changes["moderation"] = None
    if request.background in ("auto", "opaque") and not caps.backgrounds and not caps.transparent_background:
        changes["background"] = None
    chunks = None
    if request.n is not None:
        # One rule for the whole range, so the message never contradicts the fan-out below.
        most = max(caps.max_n, MAX_FAN_OUT_IMAGES)
        if not 1 <= request.n <= most:
            name = request.param_name("n")
            raise InvalidRequest(f"'{name}' must be between 1 and {most}, got {request.n}", param=name)
    if request.n is not None and request.n > caps.max_n >= 1:
        chunks = split_n(request.n, caps.max_n)
        changes["n"] = chunks[0]
    conformed = dataclasses.replace(request, **changes) if changes else request
    return Conformed(conformed, chunks)


def _shape_changes(request: ImageRequest, caps: Capabilities, model: str) -> dict[str, Any]:
    takes_sizes = bool(caps.sizes) or caps.custom_size is not None
    if request.size is not None and caps.aspect_ratios and not takes_sizes:
        dims = size_or_none(request.size)
        if request.size == "auto":
            return {"size": None}
        if dims is None:
            raise invalid_size(request, request.size)
        aspect = nearest_aspect(dims[0], dims[1], caps.aspect_ratios)
        tier = nearest_tier(dims[0], dims[1], caps.resolutions) if caps.resolutions else None
        return {"size": None, "aspect_ratio": aspect, "resolution": tier}
    if (request.aspect_ratio is not None or request.resolution is not None) and not caps.aspect_ratios and takes_sizes:
        return {"size": _size_for(request, caps, model), "aspect_ratio": None, "resolution": None}
    return {}


def _size_for(request: ImageRequest, caps: Capabilities, model: str) -> str:
    aspect_param = request.param_name("aspect_ratio")
    tier_param = request.param_name("resolution")
    aspect = request.aspect_ratio if request.aspect_ratio is not None else "1:1"
    try:
        width, height = canonical_size(aspect, request.resolution)
    except ValueError:
        bad_tier = request.resolution is not None and request.resolution not in ("512", "1K", "2K", "4K")
        param = tier_param if bad_tier else aspect_param
        value = request.resolution if bad_tier else aspect
        raise InvalidRequest(f"Invalid '{param}' {value!r}", param=param) from None
    rule = caps.custom_size
    if rule is not None:
        fitted, problem = fit_custom_size(width, height, rule)
        if fitted is not None:
            return size_text(*fitted)
        ratio = aspect_value(aspect)
        param = aspect_param if max(ratio, 1 / ratio) > rule.max_aspect_ratio else tier_param
        raise InvalidRequest(
            f"{model} cannot make {aspect} at {request.resolution or '1K'} ({width}x{height}): {problem}",
            param=param,
        )
    return nearest_fixed_size(width, height, caps.sizes)
