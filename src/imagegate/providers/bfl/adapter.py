"""The BFL adapter: ``POST {base}/v1/{model}``, then ``polling_url`` until ``Ready``, then the signed file.

The submit answer quotes the cost in credits (``cost``, 1 credit = $0.01) with the megapixels it
counted (``input_mp``, ``output_mp``); those settle the charge. Polling, cancellation and the
download are ``providers.polling``'s; this module only reads and writes BFL's documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from imagegate.domain.capabilities import Capabilities
from imagegate.domain.errors import ProviderError, QuotaExhausted, UpstreamBadResponse
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult, Usage
from imagegate.providers.base import PollState, PollTask, RouteTarget, WireRequest, WireResponse
from imagegate.providers.bfl.parameters import (
    API_HOSTS,
    AUTH_HEADER,
    CREDIT_USD,
    DEFAULT_CAPABILITIES,
    DIALECT,
    FAILED,
    READY,
    RESULT_HOSTS,
    RUNNING,
    input_field,
)
from imagegate.providers.hosted import (
    HostedImageAdapter,
    detail_message,
    image_b64,
    images_from_files,
    json_document,
    json_wire,
    parse_json_or_none,
    picture_size,
    requested_dimensions,
    status_error,
)
from imagegate.providers.mapping import Param, ParameterTable

PARAMETERS = ParameterTable(
    [
        Param("seed", "seed"),
        Param("output_format", "output_format"),
        Param("aspect_ratio", "aspect_ratio"),  # FLUX.1 Kontext; FLUX.2 takes width/height (service.conform)
        Param("quality", None, reason="FLUX has no quality levels; pick the model (klein, pro, max) instead"),
        Param("resolution", None, reason="send 'size' as WIDTHxHEIGHT instead"),
        Param("moderation", None, reason="the route's 'safety_tolerance' option sets BFL's moderation level"),
        Param("output_compression", None, reason="BFL chooses the compression"),
        Param("input_fidelity", None),
    ]
)


def _decimal(document: Mapping[str, Any], key: str) -> Decimal | None:
    value = document.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UpstreamBadResponse(f"BFL's '{key}' is not a number")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise UpstreamBadResponse(f"BFL's '{key}' is not a number") from None


def usage_from_submit(document: Mapping[str, Any]) -> Usage:
    """The credits from the submit answer as dollars; ``input_mp``/``output_mp`` kept as sent.

    BFL's ``*_mp`` are millions of pixels to two decimals (1024x1024 is 1.05) while its price rule
    counts 1024² megapixels, so they are recorded but not priced: without ``cost`` the charge is the
    rule applied to the delivered image's size and the uploaded images (docs/pricing.md).
    """
    cost = _decimal(document, "cost")
    for key in ("input_mp", "output_mp"):
        _decimal(document, key)  # a present value must still be a number
    raw = {key: document[key] for key in ("cost", "input_mp", "output_mp") if document.get(key) is not None}
    return Usage(raw=raw, provider_cost_usd=None if cost is None else cost * Decimal(CREDIT_USD))


class BflAdapter(HostedImageAdapter):
    """FLUX models on api.bfl.ai (and its regional hosts)."""

    name: ClassVar[str] = "bfl"
    dialect: ClassVar[str] = DIALECT
    default_capabilities: ClassVar[Capabilities] = DEFAULT_CAPABILITIES
    api_hosts: ClassVar[tuple[str, ...]] = API_HOSTS
    result_hosts: ClassVar[tuple[str, ...]] = RESULT_HOSTS

    def auth_headers(self, route: RouteTarget) -> dict[str, str]:
        """``x-key``."""
        return {AUTH_HEADER: route.api_key}

    def to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """The model's JSON body: prompt, width/height, seed, output_format, input images as base64."""
        body: dict[str, Any] = {"prompt": request.prompt}
        dimensions = requested_dimensions(request)
        if dimensions is not None:
            body["width"], body["height"] = dimensions
        body.update(PARAMETERS.apply(request, route.model))
        for index, image in enumerate(request.images):
            body[input_field(index)] = image_b64(image)
        tolerance = route.options.get("safety_tolerance")
        if tolerance is not None:
            body["safety_tolerance"] = tolerance
        url = f"{route.base_url.rstrip('/')}/v1/{route.model}"
        return json_wire(url, self.auth_headers(route), body)

    def accepted_task(self, response: WireResponse, route: RouteTarget) -> PollTask | None:
        """``{id, polling_url, cost?, ...}``: the task to poll."""
        document = json_document(response, "submit answer")
        task_id, polling_url = document.get("id"), document.get("polling_url")
        if not isinstance(task_id, str) or not isinstance(polling_url, str):
            raise UpstreamBadResponse("BFL's submit answer has no 'id' and 'polling_url'", provider_status=200)
        return PollTask(id=task_id, poll_url=polling_url)

    def poll_state(self, response: WireResponse, task: PollTask) -> PollState:
        """``Pending`` ... ``Ready`` with ``result.sample``, or a moderation / error status."""
        document = json_document(response, "task status")
        status = document.get("status")
        if status == READY:
            result = document.get("result")
            sample = result.get("sample") if isinstance(result, dict) else None
            if not isinstance(sample, str):
                raise UpstreamBadResponse("BFL's Ready status has no result.sample URL", provider_status=200)
            return PollState.ready((sample,))
        if isinstance(status, str) and status in FAILED:
            details = document.get("details")
            message = f"BFL finished the task with status {status!r}"
            return PollState.failed(
                FAILED[status](
                    message,
                    provider_code=status,
                    details=details if isinstance(details, dict) else None,
                    provider_request_id=task.id,
                )
            )
        if isinstance(status, str) and status in RUNNING:
            return PollState.pending()
        raise UpstreamBadResponse(f"BFL answered an unknown task status {status!r}", provider_status=200)

    def from_wire(
        self, response: WireResponse, request: ImageRequest, route: RouteTarget, *, keep_raw: bool
    ) -> ImageResult:
        """The downloaded image(s), with usage from the submit answer."""
        submitted = response.submitted if response.submitted is not None else response
        task = json_document(submitted, "submit answer")
        if not response.files:
            raise UpstreamBadResponse("BFL's task finished without a result file", provider_status=response.status)
        images = images_from_files(response.files, request.output_format or "jpeg")
        task_id = task.get("id")
        return ImageResult(
            image_count=len(images),
            usage=usage_from_submit(task),
            provider_request_id=task_id if isinstance(task_id, str) else None,
            images=images,
            size=picture_size(response.files[0].data),
            output_format=(images[0].mime_type or "image/jpeg").removeprefix("image/"),
        )

    def error_from_wire(self, response: WireResponse) -> ProviderError:
        """By status (402: out of credits) with the FastAPI ``detail`` as the message."""
        message = detail_message(parse_json_or_none(response.body))
        return status_error(
            response,
            f"BFL answered HTTP {response.status}" + ("" if message is None else f": {message}"),
            overrides={402: QuotaExhausted},
        )
