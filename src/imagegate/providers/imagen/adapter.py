"""The Imagen adapter: ``POST .../models/{model}:predict`` with ``instances`` and ``parameters``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import ModerationBlocked, ProviderError, UpstreamBadResponse
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import GeneratedImage, ImageResult, StreamEvent, Usage
from imagegate.providers.base import RouteTarget, WireRequest, WireResponse
from imagegate.providers.google.adapter_base import GoogleAdapterBase
from imagegate.providers.google.errors import error_from_response
from imagegate.providers.google.pictures import image_size_from_b64
from imagegate.providers.imagen.parameters import (
    DEFAULT_CAPABILITIES,
    DIALECT,
    FOREIGN_EXTRAS,
    IMAGE_KEYS,
    PARAMETERS,
)
from imagegate.providers.mapping import ParameterTable
from imagegate.providers.shapes import size_text
from imagegate.providers.skeleton import MalformedBody, parse_skeleton


def _set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


def predict_body(request: ImageRequest, model: str) -> dict[str, Any]:
    """The ``:predict`` body; ``sampleCount`` is always explicit (the wire default is 4)."""
    count = request.n if request.n is not None else 1
    if request.dialect == DIALECT and request.native is not None:
        body = dict(request.native)
        native_parameters = dict(body.get("parameters") or {})
        native_parameters["sampleCount"] = count
        body["parameters"] = native_parameters
        return body
    parameters: dict[str, Any] = {}
    for path, value in PARAMETERS.apply(request, model).items():
        _set_path(parameters, path, value)
    parameters["sampleCount"] = count
    return {"instances": [{"prompt": request.prompt}], "parameters": parameters}


class ImagenAdapter(GoogleAdapterBase):
    """Imagen 4 text-to-image over ``:predict`` (no streaming, no token usage)."""

    name: ClassVar[str] = "imagen"
    telemetry_name: ClassVar[str | None] = "gcp.gemini"
    dialect: ClassVar[str] = DIALECT
    default_capabilities: ClassVar[Capabilities] = DEFAULT_CAPABILITIES
    foreign_extras: ClassVar[frozenset[str]] = FOREIGN_EXTRAS
    parameters: ClassVar[ParameterTable] = PARAMETERS

    def to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """``:predict`` for ``route.model``."""
        endpoint = self.access.endpoint(route)
        return WireRequest(
            "POST",
            endpoint.url(route.base_url, route.model, "predict"),
            self.access.headers(route),
            content=orjson.dumps(predict_body(request, route.model)),
        )

    def from_wire(
        self, response: WireResponse, request: ImageRequest, route: RouteTarget, *, keep_raw: bool
    ) -> ImageResult:
        """Parse ``predictions``: images, and entries the safety filter replaced (``raiFilteredReason``)."""
        try:
            parsed = parse_skeleton(response.body, IMAGE_KEYS)[0] if keep_raw else orjson.loads(response.body)
        except (MalformedBody, orjson.JSONDecodeError) as exc:
            raise UpstreamBadResponse(
                f"the provider's response is not valid JSON: {exc}", provider_status=response.status
            ) from exc
        if not isinstance(parsed, dict):
            raise UpstreamBadResponse("the provider's response is not a JSON object", provider_status=response.status)
        predictions = parsed.get("predictions", [])
        if not isinstance(predictions, list):
            raise UpstreamBadResponse("the provider's 'predictions' is not a list", provider_status=response.status)
        images: list[GeneratedImage] = []
        reasons: list[str] = []
        for item in predictions:
            if not isinstance(item, dict):
                continue
            if "bytesBase64Encoded" in item:
                data = item["bytesBase64Encoded"]
                mime = item.get("mimeType")
                images.append(
                    GeneratedImage(
                        b64_json=data if isinstance(data, str) else None,
                        mime_type=mime if isinstance(mime, str) else "image/png",
                    )
                )
            elif isinstance(item.get("raiFilteredReason"), str):
                reasons.append(item["raiFilteredReason"])
        # Imagen reports no usage; the counts are what it bills by (per generated image).
        usage = Usage(raw={"images": len(images), "filtered": len(reasons), "sampleCount": request.image_count})
        if not images:
            raise ModerationBlocked(
                reasons[0] if reasons else "Every image was removed by the provider's safety filter.",
                provider_status=response.status,
                provider_code="RAI_FILTERED",
                details={"stage": "output", "raw_body": response.body, "raw_dialect": DIALECT},
                usage=usage,
            )
        size = None
        if not keep_raw and images[0].b64_json is not None:
            dims = image_size_from_b64(images[0].b64_json)
            size = None if dims is None else size_text(*dims)
        first_mime = images[0].mime_type or "image/png"
        return ImageResult(
            image_count=len(images),
            usage=usage,
            provider_request_id=self.provider_request_id(response.headers),
            images=[] if keep_raw else images,
            raw_body=response.body if keep_raw else None,
            raw_dialect=DIALECT if keep_raw else None,
            size=size,
            output_format=first_mime.removeprefix("image/"),
        )

    def error_from_wire(self, response: WireResponse) -> ProviderError:
        """Map a non-2xx answer by status, RPC status and ``details[].@type``."""
        return error_from_response(response.status, response.headers, response.body)

    async def stream_events(self, frames: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
        """Imagen has no streaming; the planner never opens a stream here (capabilities say so)."""
        raise UpstreamBadResponse("Imagen does not stream")
        yield  # pragma: no cover - makes this an async generator
