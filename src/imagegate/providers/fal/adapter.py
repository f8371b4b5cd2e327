"""The fal adapter: ``POST {base}/{model}[/edit]`` with ``Authorization: Key``, then the queue's URLs.

Statuses ``IN_QUEUE`` and ``IN_PROGRESS`` mean running; ``COMPLETED`` sends the driver to the
result document (``response_url``), whose ``images[].url`` are downloaded. A ``COMPLETED`` status
carrying ``error``/``error_type``, a result flagged by ``has_nsfw_concepts`` and a 422
``content_policy_violation`` are failures. fal reports no usage: the charge is the catalog's
per-megapixel rule on the delivered size (fal rounds each image up to whole megapixels).
Facts: ../shared/reference/providers.md §8 and fal's model pages for the FLUX.2 inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from imagegate.domain.capabilities import Capabilities, CustomSizeRule
from imagegate.domain.errors import (
    ModerationBlocked,
    NoImageGenerated,
    ProviderError,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, Usage
from imagegate.providers.base import PollState, PollTask, RouteTarget, WireRequest, WireResponse
from imagegate.providers.hosted import (
    HostedImageAdapter,
    detail_message,
    image_data_url,
    images_from_files,
    json_document,
    json_wire,
    parse_json_or_none,
    picture_size,
    requested_dimensions,
    status_error,
)
from imagegate.providers.mapping import Param, ParameterTable

RUNNING = frozenset({"IN_QUEUE", "IN_PROGRESS"})
# fal's ``error_type`` values (body ``detail[].type``, header ``x-fal-error-type``) -> domain errors.
ERROR_TYPES: dict[str, type[ProviderError]] = {
    "content_policy_violation": ModerationBlocked,
    "no_media_generated": NoImageGenerated,
    "generation_timeout": UpstreamTimeout,
    "internal_server_error": UpstreamUnavailable,
    "downstream_service_error": UpstreamUnavailable,
    "downstream_service_unavailable": UpstreamUnavailable,
}

PARAMETERS = ParameterTable(
    [
        Param("seed", "seed"),
        Param("output_format", "output_format"),
        Param("quality", None, reason="FLUX has no quality levels; pick the model (klein, pro, max) instead"),
        Param("aspect_ratio", None, reason="send 'size' as WIDTHxHEIGHT instead"),
        Param("resolution", None, reason="send 'size' as WIDTHxHEIGHT instead"),
        Param("moderation", None, reason="the route's 'safety_tolerance' option sets fal's moderation level"),
        Param("output_compression", None, reason="fal chooses the compression"),
        Param("input_fidelity", None),
    ]
)

DEFAULT_CAPABILITIES = Capabilities(
    operations=frozenset({"generate", "edit"}),
    custom_size=CustomSizeRule(
        multiple_of=16, max_edge=4096, max_aspect_ratio=4.0, min_pixels=64 * 64, max_pixels=4 * 1024 * 1024
    ),
    max_n=1,
    max_input_images=4,
    output_formats=("jpeg", "png"),
    seed=True,
)


def _error_type(document: Any, headers: Mapping[str, str]) -> str | None:
    header = headers.get("x-fal-error-type")
    if isinstance(header, str):
        return header
    if isinstance(document, dict):
        if isinstance(document.get("error_type"), str):
            return str(document["error_type"])
        detail = document.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            kind = detail[0].get("type")
            return kind if isinstance(kind, str) else None
    return None


class FalAdapter(HostedImageAdapter):
    """FLUX (and other) models on fal's queue."""

    name: ClassVar[str] = "fal"
    dialect: ClassVar[str] = "fal"
    default_capabilities: ClassVar[Capabilities] = DEFAULT_CAPABILITIES
    api_hosts: ClassVar[tuple[str, ...]] = ("queue.fal.run", "*.fal.run")
    result_hosts: ClassVar[tuple[str, ...]] = ("fal.media", "*.fal.media")

    def auth_headers(self, route: RouteTarget) -> dict[str, str]:
        """``Authorization: Key ...``."""
        return {"authorization": f"Key {route.api_key}"}

    def to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """The model's input; edits go to the model's ``/edit`` endpoint with ``image_urls`` as data URLs."""
        body: dict[str, Any] = {"prompt": request.prompt}
        dimensions = requested_dimensions(request)
        if dimensions is not None:
            body["image_size"] = {"width": dimensions[0], "height": dimensions[1]}
        if request.n is not None and request.n > 1:
            body["num_images"] = request.n  # only reached for models whose catalog row allows n > 1
        body.update(PARAMETERS.apply(request, route.model))
        path = route.model
        if request.operation == "edit":
            path += "/edit"
            body["image_urls"] = [image_data_url(image) for image in request.images]
        for option in ("safety_tolerance", "enable_safety_checker"):
            if route.options.get(option) is not None:
                body[option] = route.options[option]
        return json_wire(f"{route.base_url.rstrip('/')}/{path}", self.auth_headers(route), body)

    def accepted_task(self, response: WireResponse, route: RouteTarget) -> PollTask | None:
        """``{request_id, status_url, response_url, cancel_url}``."""
        document = json_document(response, "submit answer")
        urls = [document.get(key) for key in ("request_id", "status_url", "response_url")]
        if not all(isinstance(value, str) for value in urls):
            raise UpstreamBadResponse(
                "fal's submit answer lacks request_id/status_url/response_url", provider_status=200
            )
        cancel = document.get("cancel_url")
        return PollTask(
            id=str(urls[0]),
            poll_url=str(urls[1]),
            result_url=str(urls[2]),
            cancel_url=cancel if isinstance(cancel, str) else None,
            cancel_method="PUT",
        )

    def poll_state(self, response: WireResponse, task: PollTask) -> PollState:
        """A status (running, or completed: read the result) or the result document (its image URLs)."""
        document = json_document(response, "queue answer")
        if "images" in document:
            return self._result_state(document, task)
        status = document.get("status")
        if status in RUNNING:
            return PollState.pending()
        if status != "COMPLETED":
            raise UpstreamBadResponse(f"fal answered an unknown queue status {status!r}", provider_status=200)
        error_type = _error_type(document, {})
        if error_type is not None or document.get("error") is not None:
            cls = ERROR_TYPES.get(error_type or "", UpstreamUnavailable)
            message = document.get("error") if isinstance(document.get("error"), str) else "the request failed"
            return PollState.failed(cls(f"fal: {message}", provider_code=error_type, provider_request_id=task.id))
        assert task.result_url is not None
        return PollState.follow(task.result_url)

    def _result_state(self, document: dict[str, Any], task: PollTask) -> PollState:
        flags = document.get("has_nsfw_concepts")
        if isinstance(flags, list) and any(flag is True for flag in flags):
            return PollState.failed(
                ModerationBlocked(
                    "fal's safety checker flagged the generated image",
                    provider_code="has_nsfw_concepts",
                    provider_request_id=task.id,
                )
            )
        images = document.get("images")
        if not isinstance(images, list) or not images:
            return PollState.failed(NoImageGenerated("fal's result has no images", provider_request_id=task.id))
        urls = tuple(item.get("url") for item in images if isinstance(item, dict))
        if len(urls) != len(images) or not all(isinstance(url, str) for url in urls):
            raise UpstreamBadResponse("fal's result has an image without a URL", provider_status=200)
        return PollState.ready(tuple(str(url) for url in urls))

    def from_wire(
        self, response: WireResponse, request: ImageRequest, route: RouteTarget, *, keep_raw: bool
    ) -> ImageResult:
        """The downloaded images; no usage is reported, so pricing applies the rule to their size."""
        if not response.files:
            raise UpstreamBadResponse("fal's request finished without images", provider_status=response.status)
        images = images_from_files(response.files, request.output_format or "jpeg")
        submitted = json_document(response.submitted if response.submitted is not None else response, "submit")
        size = picture_size(response.files[0].data)
        request_id = submitted.get("request_id")
        return ImageResult(
            image_count=len(images),
            usage=Usage(raw={"images": len(images), "size": size}),
            provider_request_id=request_id if isinstance(request_id, str) else None,
            images=images,
            size=size,
            output_format=(images[0].mime_type or "image/jpeg").removeprefix("image/"),
        )

    def error_from_wire(self, response: WireResponse) -> ProviderError:
        """By ``error_type`` (body or ``x-fal-error-type``), else by status."""
        document = parse_json_or_none(response.body)
        error_type = _error_type(document, response.headers)
        message = detail_message(document)
        text = f"fal answered HTTP {response.status}" + ("" if message is None else f": {message}")
        if error_type in ERROR_TYPES:
            error = status_error(response, text, provider_code=error_type)
            return ERROR_TYPES[error_type](
                text,
                provider_status=response.status,
                provider_code=error_type,
                retry_after=error.retry_after,
                provider_request_id=response.headers.get("x-fal-request-id"),
            )
        return status_error(response, text, provider_code=error_type)

    def provider_request_id(self, headers: Mapping[str, str], body: Mapping[str, Any] | None = None) -> str | None:
        """``x-fal-request-id``."""
        return headers.get("x-fal-request-id")
