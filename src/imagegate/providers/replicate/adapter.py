"""The Replicate adapter: ``POST {base}/v1/models/{owner}/{name}/predictions`` with ``{"input": ...}``.

The create call asks Replicate to hold the answer (``Prefer: wait=N``, N under the route's timeout)
so a fast model answers in one call; otherwise the prediction is polled at ``urls.get`` and called
off at ``urls.cancel``. ``Cancel-After`` carries the route's timeout, so Replicate stops the
prediction by itself if the gateway is gone. Statuses: ``starting``/``processing`` run,
``succeeded`` carries ``output`` (a URL or a list of URLs), ``failed``/``canceled``/``aborted`` end.
Replicate reports GPU seconds (``metrics.predict_time``), not money: the charge is the catalog's
rule on the delivered size. Facts: ../shared/reference/providers.md §6 and the model's input schema.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from imagegate.domain.capabilities import Capabilities, CustomSizeRule
from imagegate.domain.errors import (
    InvalidRequest,
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

RUNNING = frozenset({"starting", "processing"})
# Replicate ends a failed prediction's ``error`` with a documented code in parentheses; the code (not
# the text) says what happened. E005: the input or output was flagged as sensitive.
_ERROR_CODE = re.compile(r"\((E\d{3,4})\)\s*$")
ERROR_CODES: dict[str, type[ProviderError]] = {"E005": ModerationBlocked}
MAX_DATA_URL_BYTES = 256 * 1024  # larger inputs need Replicate's files API
MAX_WAIT_S = 60
MIN_CANCEL_AFTER_S = 5

PARAMETERS = ParameterTable(
    [
        Param("seed", "seed"),
        Param("output_format", "output_format", transform=lambda fmt: "jpg" if fmt == "jpeg" else fmt),
        Param("quality", None, reason="FLUX has no quality levels; pick the model (klein, pro, max) instead"),
        Param("aspect_ratio", None, reason="send 'size' as WIDTHxHEIGHT instead"),
        Param("resolution", None, reason="send 'size' as WIDTHxHEIGHT instead"),
        Param("moderation", None, reason="the route's 'safety_tolerance' option sets the model's moderation level"),
        Param("output_compression", None, reason="not mapped to Replicate's output_quality"),
        Param("input_fidelity", None),
    ]
)

DEFAULT_CAPABILITIES = Capabilities(
    operations=frozenset({"generate", "edit"}),
    custom_size=CustomSizeRule(
        multiple_of=32, max_edge=2048, max_aspect_ratio=8.0, min_pixels=256 * 256, max_pixels=2048 * 2048
    ),
    max_n=1,
    max_input_images=8,
    output_formats=("webp", "jpeg", "png"),
    seed=True,
)


def prefer_wait(route: RouteTarget) -> int | None:
    """Seconds Replicate may hold the create call: the ``prefer_wait`` option, else half the timeout."""
    option = route.options.get("prefer_wait")
    if option is not None:
        return int(option) if int(option) > 0 else None
    if route.timeout_s < 2:
        return None  # too short to hold: poll instead
    return max(1, min(MAX_WAIT_S, int(route.timeout_s / 2)))


def _failure(document: Mapping[str, Any], task_id: str) -> ProviderError:
    status = document.get("status")
    error = document.get("error")
    message = error if isinstance(error, str) else f"the prediction ended as {status!r}"
    if status in ("canceled", "aborted"):
        return UpstreamTimeout(f"Replicate: {message}", provider_code=str(status), provider_request_id=task_id)
    match = _ERROR_CODE.search(message)
    code = None if match is None else match.group(1)
    cls = ERROR_CODES.get(code or "", UpstreamUnavailable)
    return cls(f"Replicate: {message}", provider_code=code, provider_request_id=task_id)


def _outputs(document: Mapping[str, Any]) -> tuple[str, ...]:
    output = document.get("output")
    urls = [output] if isinstance(output, str) else output
    if not isinstance(urls, list) or not urls or not all(isinstance(url, str) for url in urls):
        raise UpstreamBadResponse("Replicate's succeeded prediction has no output URL", provider_status=200)
    return tuple(urls)


class ReplicateAdapter(HostedImageAdapter):
    """FLUX models on Replicate (official models: ``black-forest-labs/...``)."""

    name: ClassVar[str] = "replicate"
    dialect: ClassVar[str] = "replicate"
    default_capabilities: ClassVar[Capabilities] = DEFAULT_CAPABILITIES
    api_hosts: ClassVar[tuple[str, ...]] = ("api.replicate.com",)
    result_hosts: ClassVar[tuple[str, ...]] = ("replicate.delivery", "*.replicate.delivery")

    def validate_route(self, route: RouteTarget) -> None:
        """The polling options, and ``prefer_wait`` seconds (0 turns the hold off)."""
        super().validate_route(route)
        wait = route.options.get("prefer_wait")
        if wait is not None and (isinstance(wait, bool) or not isinstance(wait, int) or not 0 <= wait <= MAX_WAIT_S):
            raise InvalidRequest(
                f"route {route.name!r}: option 'prefer_wait' must be whole seconds from 0 to {MAX_WAIT_S}",
                param="prefer_wait",
            )

    def auth_headers(self, route: RouteTarget) -> dict[str, str]:
        """``Authorization: Bearer``."""
        return {"authorization": f"Bearer {route.api_key}"}

    def to_wire(self, request: ImageRequest, route: RouteTarget) -> WireRequest:
        """``{"input": {...}}``: a custom size as ``aspect_ratio: custom`` + width/height, images as data URLs."""
        values: dict[str, Any] = {"prompt": request.prompt}
        dimensions = requested_dimensions(request)
        if dimensions is not None:
            values.update(aspect_ratio="custom", width=dimensions[0], height=dimensions[1])
        values.update(PARAMETERS.apply(request, route.model))
        if request.images:
            for image in request.images:
                if len(image.data) > MAX_DATA_URL_BYTES * 3 // 4:
                    name = request.param_name("images")
                    raise InvalidRequest(
                        f"'{name}': {route.model} on Replicate takes input images of at most 192 KB inline",
                        param=name,
                    )
            values["input_images"] = [image_data_url(image) for image in request.images]
        if route.options.get("safety_tolerance") is not None:
            values["safety_tolerance"] = route.options["safety_tolerance"]
        headers = self.auth_headers(route)
        headers["cancel-after"] = f"{max(MIN_CANCEL_AFTER_S, math.ceil(route.timeout_s))}s"
        wait = prefer_wait(route)
        if wait is not None:
            headers["prefer"] = f"wait={wait}"
        url = f"{route.base_url.rstrip('/')}/v1/models/{route.model}/predictions"
        return json_wire(url, headers, {"input": values})

    def accepted_task(self, response: WireResponse, route: RouteTarget) -> PollTask | None:
        """The prediction: finished already (held by ``Prefer: wait``) or to be polled at ``urls.get``."""
        document = json_document(response, "prediction")
        task_id = document.get("id")
        urls = document.get("urls")
        get = urls.get("get") if isinstance(urls, dict) else None
        if not isinstance(task_id, str) or not isinstance(get, str):
            raise UpstreamBadResponse("Replicate's prediction has no 'id' and 'urls.get'", provider_status=200)
        cancel = urls.get("cancel") if isinstance(urls, dict) else None
        return PollTask(
            id=task_id,
            poll_url=get,
            cancel_url=cancel if isinstance(cancel, str) else None,
            state=self._state(document, task_id),
        )

    def poll_state(self, response: WireResponse, task: PollTask) -> PollState:
        """The prediction's ``status``."""
        return self._state(json_document(response, "prediction"), task.id)

    def _state(self, document: Mapping[str, Any], task_id: str) -> PollState:
        status = document.get("status")
        if status in RUNNING:
            return PollState.pending()
        if status == "succeeded":
            return PollState.ready(_outputs(document))
        if status in ("failed", "canceled", "aborted"):
            return PollState.failed(_failure(document, task_id))
        raise UpstreamBadResponse(f"Replicate answered an unknown status {status!r}", provider_status=200)

    def from_wire(
        self, response: WireResponse, request: ImageRequest, route: RouteTarget, *, keep_raw: bool
    ) -> ImageResult:
        """The downloaded output(s); usage is the prediction's ``metrics``."""
        if not response.files:
            raise NoImageGenerated("Replicate's prediction finished without output", provider_status=response.status)
        document = json_document(response, "prediction")
        metrics = document.get("metrics")
        images = images_from_files(response.files, request.output_format or "webp")
        task_id = document.get("id")
        return ImageResult(
            image_count=len(images),
            usage=Usage(raw=dict(metrics) if isinstance(metrics, dict) else {}),
            provider_request_id=task_id if isinstance(task_id, str) else None,
            images=images,
            size=picture_size(response.files[0].data),
            output_format=(images[0].mime_type or "image/webp").removeprefix("image/"),
        )

    def error_from_wire(self, response: WireResponse) -> ProviderError:
        """Problem details (``{type, title, status, detail}``), by status."""
        document = parse_json_or_none(response.body)
        detail = document.get("detail") if isinstance(document, dict) else None
        text = f"Replicate answered HTTP {response.status}" + (f": {detail}" if isinstance(detail, str) else "")
        return status_error(response, text)
