"""The OpenAI Images adapter: pure request/response transforms for the GPT Image models."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import orjson

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import ProviderError, UpstreamBadResponse
from imagegate.domain.request import ImageRequest, InputImage
from imagegate.domain.result import GeneratedImage, ImageResult, StreamEvent, Usage
from imagegate.providers.base import ProviderAdapter, RouteTarget, WireRequest, WireResponse
from imagegate.providers.batch import BatchApi
from imagegate.providers.openai.batch import OpenAIBatchApi
from imagegate.providers.openai.errors import error_from_body, error_object
from imagegate.providers.openai.parameters import (
    DEFAULT_CAPABILITIES,
    EDITS_PATH,
    GENERATIONS_PATH,
    IMAGE_KEYS,
    PARAMETERS,
)
from imagegate.providers.openai.responses import responses_events, responses_result, responses_wire
from imagegate.providers.openai.usage import usage_from_openai
from imagegate.providers.skeleton import MalformedBody, SkeletonScanner, parse_skeleton
from imagegate.providers.sse import frame_fields, sse_frames
from imagegate.providers.validation import validate_request

DIALECT = "openai-images"


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def _file(name: str, image: InputImage, index: int) -> tuple[str, tuple[str, bytes, str]]:
    filename = image.filename if image.filename is not None else f"image-{index}.png"
    return name, (filename, image.data, image.content_type or "application/octet-stream")


def _image_ref(image: InputImage) -> dict[str, str]:
    """An ``ImageRefParam`` holding the image as a base64 data URL."""
    declared = image.content_type
    content_type = declared if declared is not None and declared.startswith("image/") else "image/png"
    return {"image_url": f"data:{content_type};base64,{base64.b64encode(image.data).decode('ascii')}"}


class OpenAIImagesAdapter(ProviderAdapter):
    """GPT Image models over the OpenAI Images API (sync JSON, multipart edits, SSE)."""

    name: ClassVar[str] = "openai"
    dialect: ClassVar[str] = DIALECT
    default_capabilities: ClassVar[Capabilities] = DEFAULT_CAPABILITIES
    speaks_responses: ClassVar[bool] = True

    def usage_from_ledger(self, raw: Mapping[str, Any]) -> Usage:
        """The ledger keeps OpenAI's ``usage`` object as sent."""
        try:
            return usage_from_openai(raw)
        except UpstreamBadResponse:
            return Usage(raw=dict(raw))

    def validate(self, request: ImageRequest, capabilities: Capabilities) -> None:
        """Reject what the model cannot honour, naming the client's parameter.

        A ``respond`` request names a mainline model: its image tool's options were checked
        against the API's own values when parsed, and OpenAI validates the rest.
        """
        if request.operation == "respond":
            return
        validate_request(request, capabilities, request.model)

    def batch_api(self, route: RouteTarget) -> BatchApi | None:
        """OpenAI's Files + Batch API (``/v1/images/generations`` or ``/v1/images/edits`` lines)."""
        return OpenAIBatchApi(self._headers)

    def batch_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """A batch line is JSON: an edit becomes the JSON edits body, its inputs as data URLs.

        OpenAI's Batch API takes ``/v1/images/edits`` lines (openai 3.3 ``batch_create_params``) in
        the ``EditImageBodyJsonParam`` shape of the OpenAPI spec: ``images`` and ``mask`` are
        ``ImageRefParam`` objects, ``{"image_url": <URL or data URL>}`` or ``{"file_id"}``.
        """
        if request.operation != "edit":
            return self.to_wire(request, route)
        fields: dict[str, Any] = {**request.extra, "model": route.model, "prompt": request.prompt}
        fields.update(PARAMETERS.apply(request, route.model))
        fields["images"] = [_image_ref(image) for image in request.images]
        if request.mask is not None:
            fields["mask"] = _image_ref(request.mask)
        headers = {**self._headers(route), "content-type": "application/json"}
        return WireRequest("POST", route.base_url.rstrip("/") + EDITS_PATH, headers, content=orjson.dumps(fields))

    def _headers(self, route: RouteTarget) -> dict[str, str]:
        headers = {"authorization": f"Bearer {route.api_key}"}
        for option, header in (("organization", "openai-organization"), ("project", "openai-project")):
            value = route.options.get(option)
            if value is not None:
                headers[header] = str(value)
        return headers

    def to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """JSON for generations, multipart for edits; unknown client fields pass through as sent."""
        fields: dict[str, Any] = {**request.extra, "model": route.model, "prompt": request.prompt}
        fields.update(PARAMETERS.apply(request, route.model))
        base = route.base_url.rstrip("/")
        headers = self._headers(route)
        if request.operation == "generate":
            headers["content-type"] = "application/json"
            return WireRequest(
                "POST", base + GENERATIONS_PATH, headers, content=orjson.dumps(fields), stream=request.stream
            )
        form = [(key, _form_value(value)) for key, value in fields.items() if value is not None]
        image_field = "image" if len(request.images) == 1 else "image[]"
        files = [_file(image_field, image, index) for index, image in enumerate(request.images)]
        if request.mask is not None:
            files.append(_file("mask", request.mask, 0))
        return WireRequest("POST", base + EDITS_PATH, headers, form=form, files=files, stream=request.stream)

    def from_wire(
        self, response: WireResponse, request: ImageRequest, route: RouteTarget, *, keep_raw: bool
    ) -> ImageResult:
        """Parse an ``ImagesResponse``; base64 stays in the raw body unless a translation needs it."""
        try:
            parsed, _blanked = parse_skeleton(response.body, IMAGE_KEYS)
        except MalformedBody as exc:
            raise UpstreamBadResponse(
                f"the provider's response is not valid JSON: {exc}",
                provider_status=response.status,
                provider_request_id=self.provider_request_id(response.headers),
            ) from exc
        result = self.result_from_skeleton(parsed, response.status, response.headers)
        if not keep_raw:
            full = orjson.loads(response.body)
            result.images = [
                GeneratedImage(
                    b64_json=item.get("b64_json"),
                    url=item.get("url"),
                    mime_type=f"image/{full.get('output_format') or 'png'}",
                    revised_prompt=item.get("revised_prompt"),
                )
                for item in full["data"]
            ]
        if keep_raw:
            result.raw_body = response.body
            result.raw_dialect = DIALECT
        return result

    def body_scanner(self, request: ImageRequest) -> SkeletonScanner | None:
        """An ``ImagesResponse`` (generations and edits) can be forwarded as it arrives."""
        if request.operation in ("generate", "edit") and not request.stream:
            return SkeletonScanner()
        return None

    def result_from_skeleton(self, parsed: Any, status: int, headers: Mapping[str, str]) -> ImageResult:
        """Image count, usage and the echoed options of an ``ImagesResponse`` whose base64 was blanked."""
        provider_request_id = self.provider_request_id(headers)
        data = parsed.get("data") if isinstance(parsed, dict) else None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise UpstreamBadResponse(
                "the provider's response has no 'data' list of image objects",
                provider_status=status,
                provider_request_id=provider_request_id,
            )
        return ImageResult(
            image_count=len(data),
            usage=usage_from_openai(parsed.get("usage")),
            provider_request_id=provider_request_id,
            created=parsed.get("created"),
            size=parsed.get("size"),
            quality=parsed.get("quality"),
            background=parsed.get("background"),
            output_format=parsed.get("output_format"),
        )

    def responses_to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """The client's Responses body forwarded as sent (``model`` = the route's)."""
        return responses_wire(request, route, self._headers(route))

    def responses_from_wire(self, response: WireResponse, request: ImageRequest, route: RouteTarget) -> ImageResult:
        """A ``Response`` kept raw; images counted and both usages read from its skeleton."""
        return responses_result(response, self.provider_request_id(response.headers))

    def responses_stream_events(self, frames: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
        """Responses stream frames passed through; the terminal ones read for usage."""
        return responses_events(frames)

    def error_from_wire(self, response: WireResponse) -> ProviderError:
        """Map a non-2xx answer by status and the body's structured ``code``/``type``."""
        return error_from_body(error_object(response.body), status=response.status, headers=response.headers)

    async def stream_events(self, frames: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
        """Classify each SSE frame; only the final and error frames are parsed (skeleton only)."""
        async for frame in sse_frames(frames):
            event_name, data = frame_fields(frame)
            if data == b"[DONE]":
                continue
            if event_name is not None and event_name.endswith(".partial_image"):
                yield StreamEvent(kind="partial_image", raw=frame)
                continue
            try:
                parsed, _ = parse_skeleton(data, IMAGE_KEYS)
            except MalformedBody as exc:
                raise UpstreamBadResponse(f"malformed stream event: {exc}") from exc
            if not isinstance(parsed, dict):
                raise UpstreamBadResponse("a stream event is not a JSON object")
            kind = parsed.get("type")
            if event_name == "error" or kind == "error" or "error" in parsed:
                nested = parsed.get("error")
                error: dict[str, Any] = nested if isinstance(nested, dict) else parsed
                yield StreamEvent(kind="error", raw=frame, data=parsed, error=error_from_body(error, status=None))
            elif isinstance(kind, str) and kind.endswith(".completed"):
                yield StreamEvent(
                    kind="completed", raw=frame, data=parsed, usage=usage_from_openai(parsed.get("usage"))
                )
            elif isinstance(kind, str) and kind.endswith(".partial_image"):
                yield StreamEvent(kind="partial_image", raw=frame, data=parsed)
            else:
                yield StreamEvent(kind="other", raw=frame, data=parsed)
