"""The Together adapter: one synchronous call, width/height in pixels, images back as base64.

The body looks like OpenAI's but is not the same API (``width``/``height`` instead of ``size``,
``steps``, ``response_format`` ``base64``), so it is its own dialect. No usage comes back: the
charge is the catalog's price (per image, or per megapixel of the delivered size). Edits go
through the same call: one reference in ``image_url`` (FLUX.1 Kontext) or several in
``reference_images`` (FLUX.2), each sent as a ``data:`` URL. Facts: ../shared/reference/providers.md
§7 (Together's OpenAPI and its SDK's ``image_generate_params``) and docs.together.ai
"inference/images/reference-images" (read 2026-12-06).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import InvalidRequest, ModerationBlocked, ProviderError, UpstreamBadResponse
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import GeneratedImage, ImageResult, Usage
from imagegate.providers.base import RouteTarget, WireRequest, WireResponse
from imagegate.providers.hosted import (
    HostedImageAdapter,
    image_data_url,
    json_document,
    json_wire,
    parse_json_or_none,
    picture_size,
    requested_dimensions,
    status_error,
)
from imagegate.providers.mapping import Param, ParameterTable

PATH = "/v1/images/generations"
# Models whose references go in the ``reference_images`` list (FLUX.2 [pro], [dev], [flex]); every
# other edit model takes one image in ``image_url`` (FLUX.1 Kontext [pro], [max]).
REFERENCE_LIST_PREFIXES = ("black-forest-labs/FLUX.2-",)
# Error ``code``s Together documents nothing for yet ([U] in providers.md §7); the one the gateway
# reads as a moderation block is its OpenAI-style content-policy code.
MODERATION_CODES = frozenset({"content_policy_violation"})

PARAMETERS = ParameterTable(
    [
        Param("n", "n"),
        Param("seed", "seed"),
        Param("output_format", "output_format"),
        Param("quality", None, reason="FLUX has no quality levels; the route's 'steps' option sets the effort"),
        Param("aspect_ratio", None, reason="send 'size' as WIDTHxHEIGHT instead"),
        Param("resolution", None, reason="send 'size' as WIDTHxHEIGHT instead"),
        Param("moderation", None, reason="Together has no moderation level"),
        Param("output_compression", None, reason="Together chooses the compression"),
        Param("input_fidelity", None),
    ]
)

DEFAULT_CAPABILITIES = Capabilities(
    operations=frozenset({"generate"}),
    sizes=("1024x1024",),
    max_n=1,
    output_formats=("jpeg", "png"),
    seed=True,
    default_size="1024x1024",
)


def reference_fields(request: ImageRequest, model: str) -> dict[str, Any]:
    """An edit's images: ``reference_images`` for FLUX.2 models, else the one ``image_url``."""
    if not request.images:
        return {}
    urls = [image_data_url(image) for image in request.images]
    if model.startswith(REFERENCE_LIST_PREFIXES):
        return {"reference_images": urls}
    if len(urls) > 1:
        raise InvalidRequest(f"{model} on Together takes one reference image", param="image")
    return {"image_url": urls[0]}


class TogetherAdapter(HostedImageAdapter):
    """FLUX models on Together AI."""

    name: ClassVar[str] = "together"
    dialect: ClassVar[str] = "together"
    default_capabilities: ClassVar[Capabilities] = DEFAULT_CAPABILITIES

    def validate_route(self, route: RouteTarget) -> None:
        """``steps``, when set, is a whole number from 1 to 50."""
        steps = route.options.get("steps")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 50):
            raise InvalidRequest(f"route {route.name!r}: option 'steps' must be a whole number 1-50", param="steps")

    def to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """``{model, prompt, width, height, n, seed, output_format, steps, image_url | reference_images,
        response_format: base64}``."""
        body: dict[str, Any] = {"model": route.model, "prompt": request.prompt, "response_format": "base64"}
        dimensions = requested_dimensions(request)
        if dimensions is not None:
            body["width"], body["height"] = dimensions
        body.update(PARAMETERS.apply(request, route.model))
        body.update(reference_fields(request, route.model))
        if route.options.get("steps") is not None:
            body["steps"] = route.options["steps"]
        headers = {"authorization": f"Bearer {route.api_key}"}
        return json_wire(f"{route.base_url.rstrip('/')}{PATH}", headers, body)

    def from_wire(
        self, response: WireResponse, request: ImageRequest, route: RouteTarget, *, keep_raw: bool
    ) -> ImageResult:
        """``{id, data: [{b64_json}]}``; an item without base64 is a bad response (base64 was asked for)."""
        document = json_document(response, "answer")
        data = document.get("data")
        if not isinstance(data, list) or not data:
            raise UpstreamBadResponse("Together's answer has no 'data' images", provider_status=response.status)
        mime = f"image/{request.output_format or 'jpeg'}"
        images = []
        for item in data:
            b64 = item.get("b64_json") if isinstance(item, dict) else None
            if not isinstance(b64, str):
                raise UpstreamBadResponse("Together's image has no 'b64_json'", provider_status=response.status)
            images.append(GeneratedImage(b64_json=b64, mime_type=mime))
        try:
            size = picture_size(base64.b64decode(images[0].b64_json or "", validate=True))
        except (binascii.Error, ValueError):
            raise UpstreamBadResponse("Together's image is not base64", provider_status=response.status) from None
        answer_id = document.get("id")
        return ImageResult(
            image_count=len(images),
            usage=Usage(raw={"images": len(images)}),
            provider_request_id=answer_id if isinstance(answer_id, str) else None,
            images=images,
            size=size,
            output_format=request.output_format or "jpeg",
        )

    def error_from_wire(self, response: WireResponse) -> ProviderError:
        """``{"error": {message, type, param, code}}``, by code then status."""
        document = parse_json_or_none(response.body)
        error = document.get("error") if isinstance(document, dict) else None
        error = error if isinstance(error, dict) else {}
        message = error.get("message") if isinstance(error.get("message"), str) else None
        code = error.get("code") if isinstance(error.get("code"), str) else None
        text = f"Together answered HTTP {response.status}" + ("" if message is None else f": {message}")
        if code in MODERATION_CODES:
            return ModerationBlocked(text, provider_status=response.status, provider_code=code)
        return status_error(response, text, provider_code=code)
