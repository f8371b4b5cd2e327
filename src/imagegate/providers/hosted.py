"""What the hosts of open-weight image models share (FLUX on its maker's API and on resellers).

Their wire formats differ in names, not in kind: a JSON body with ``width``/``height`` in pixels,
reference images inline (base64 or a data URL), and images returned as files behind URLs (or as
base64 in the body). This module holds those shared pieces, so each provider folder keeps only its
names, paths and statuses. Pure functions and one base class; no provider names.
"""

from __future__ import annotations

import base64
import dataclasses
import io
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, ClassVar

import orjson
from PIL import Image

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import ProviderError, UpstreamBadResponse
from imagegate.domain.image_format import sniff_mime
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.domain.result import GeneratedImage, StreamEvent
from imagegate.domain.size import parse_size
from imagegate.providers.base import FetchedFile, ProviderAdapter, RouteTarget, WireRequest, WireResponse
from imagegate.providers.http_status import error_class_for_status
from imagegate.providers.polling import check_route_options
from imagegate.providers.retry_after import retry_after_seconds
from imagegate.providers.validation import invalid_size, validate_request

_FORMAT_MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def requested_dimensions(request: ImageRequest) -> tuple[int, int] | None:
    """``(width, height)`` of a ``WIDTHxHEIGHT`` size, None for no size or ``auto`` (the host decides)."""
    if request.size is None or request.size == "auto":
        return None
    try:
        return parse_size(request.size)
    except ValueError:
        raise invalid_size(request, request.size) from None


def image_b64(image: InputImage) -> str:
    """An uploaded image as plain base64 (hosts that take base64 or a URL in the same field)."""
    return base64.b64encode(image.data).decode("ascii")


def image_data_url(image: InputImage) -> str:
    """An uploaded image as a ``data:`` URL (hosts whose image fields are URLs)."""
    mime = (
        image.content_type if image.content_type is not None else sniff_mime(image.data) or "application/octet-stream"
    )
    return f"data:{mime};base64,{image_b64(image)}"


def picture_size(data: bytes) -> str | None:
    """``WIDTHxHEIGHT`` of an encoded image, read from its header; None when it is not an image."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            width, height = opened.size
            return f"{width}x{height}"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def output_format_of(content_type: str | None, fallback: str | None) -> str | None:
    """``jpeg``/``png``/``webp`` from a file's content type, else ``fallback``."""
    if content_type is not None:
        kind = content_type.split(";")[0].strip().lower()
        for name, mime in _FORMAT_MIME.items():
            if kind == mime:
                return name
    return fallback


def images_from_files(files: Iterable[FetchedFile], fallback_format: str | None) -> list[GeneratedImage]:
    """Downloaded result files as inline images (dialects answer with base64)."""
    images = []
    for file in files:
        fmt = output_format_of(file.content_type, fallback_format)
        mime = _FORMAT_MIME.get(fmt or "", file.content_type)
        images.append(GeneratedImage(b64_json=base64.b64encode(file.data).decode("ascii"), mime_type=mime))
    return images


def json_document(response: WireResponse, what: str) -> dict[str, Any]:
    """A JSON object body, or ``UpstreamBadResponse`` naming ``what`` it should have been."""
    try:
        parsed = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UpstreamBadResponse(f"the provider's {what} is not a JSON object", provider_status=response.status)
    return parsed


def json_wire(url: str, headers: Mapping[str, str], body: Mapping[str, Any]) -> WireRequest:
    """A JSON ``POST``."""
    return WireRequest("POST", url, {**headers, "content-type": "application/json"}, content=orjson.dumps(body))


def status_error(
    response: WireResponse,
    message: str,
    *,
    provider_code: str | None = None,
    overrides: Mapping[int, type[ProviderError]] | None = None,
) -> ProviderError:
    """The domain error for a non-2xx answer, from its status (``overrides`` first) and ``Retry-After``."""
    cls = error_class_for_status(response.status)
    if overrides is not None:
        cls = overrides.get(response.status, cls)
    error: ProviderError = cls(
        message,
        provider_status=response.status,
        provider_code=provider_code,
        retry_after=retry_after_seconds(response.headers),
    )
    return error


def detail_message(document: Any) -> str | None:
    """The human text of a FastAPI-style ``detail`` (a string, or a list of ``{loc, msg}``)."""
    if not isinstance(document, dict):
        return None
    detail = document.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and isinstance(item.get("msg"), str):
                loc = item.get("loc")
                where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""
                parts.append(f"{where}: {item['msg']}" if where else item["msg"])
        return "; ".join(parts) if parts else None
    return None


def parse_json_or_none(body: bytes) -> Any:
    """The JSON value of ``body``, or None when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


class HostedImageAdapter(ProviderAdapter):
    """Base for image hosts answering with whole results (no SSE): validation and no streaming."""

    default_capabilities: ClassVar[Capabilities] = Capabilities(
        operations=frozenset({"generate", "edit"}), max_input_images=1, output_formats=("jpeg", "png"), seed=True
    )

    def validate(self, request: ImageRequest, capabilities: Capabilities) -> None:
        """Reject what the model cannot honour, naming the client's parameter."""
        # ``auto`` leaves the size to the host (its default), which every one of them has.
        checked = dataclasses.replace(request, size=None) if request.size == "auto" else request
        validate_request(checked, capabilities, request.model)

    def validate_route(self, route: RouteTarget) -> None:
        """Check the route's polling options at startup (``providers.polling``)."""
        check_route_options(route)

    async def stream_events(self, frames: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
        """Never called: these hosts declare no streaming, so streams are emulated from the whole result."""
        raise UpstreamBadResponse(f"{self.name} does not stream")
        yield  # pragma: no cover - makes this an async generator
