"""``POST /together/v1/images/generations``: Together's synchronous image API.

Served under ``/together`` because the path is the same as OpenAI's (a route's ``base_url`` is
``{sandbox}/together``). Body: ``model``, ``prompt``, ``width``/``height`` (default 1024),
``steps``, ``n``, ``seed``, ``response_format`` (``base64``, the legacy ``b64_json``, or ``url``),
``output_format`` (``jpeg``/``png``), and an edit's references: ``image_url`` (one image; FLUX.1
Kontext, FLUX.2 [pro]/[flex]) or ``reference_images`` (a list; FLUX.2), which the sandbox takes as
``data:`` URLs of real images. Answer: ``{id, model, object: "list", data: [...]}``; errors
``{"error": {message, type, param, code}}``; 429 with ``retry-after``. The call is synchronous, so
``never-finish`` holds it until the caller hangs up (Together has no cancel call: closing the
connection is the only way to stop it), which the request record shows as ``client_closed``.
Directives: docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import base64
import math
import secrets
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.faults import HangResponse, RequestRecord
from imagegate.sandbox.render import RenderSpec, inspect_data_url, seed_from
from imagegate.sandbox.tasks import DirectiveRejected, request_id_of, task_plan, transport_fault

__all__ = ["together_routes"]

MODELS = frozenset(
    {
        "black-forest-labs/FLUX.1-schnell",
        "black-forest-labs/FLUX.1-schnell-Free",
        "black-forest-labs/FLUX.1-dev",
        "black-forest-labs/FLUX.1.1-pro",
        "black-forest-labs/FLUX.2-pro",
        "black-forest-labs/FLUX.2-dev",
        "black-forest-labs/FLUX.2-flex",
        "black-forest-labs/FLUX.1-kontext-pro",
        "black-forest-labs/FLUX.1-kontext-max",
    }
)
# docs.together.ai "reference-images": which models take ``image_url`` and ``reference_images``.
IMAGE_URL_MODELS = frozenset(
    {
        "black-forest-labs/FLUX.1-kontext-pro",
        "black-forest-labs/FLUX.1-kontext-max",
        "black-forest-labs/FLUX.2-pro",
        "black-forest-labs/FLUX.2-flex",
    }
)
REFERENCE_MODELS = frozenset(
    {"black-forest-labs/FLUX.2-pro", "black-forest-labs/FLUX.2-dev", "black-forest-labs/FLUX.2-flex"}
)
MAX_REFERENCES = 8  # the FLUX.2 input limit on BFL's API; Together publishes none ([U])


class TogetherError(Exception):
    """An error answer in Together's envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        self.body = {"error": {"message": message, "type": kind, "param": param, "code": code}}

    def response(self) -> Response:
        """The error as Together sends it."""
        return Response(orjson.dumps(self.body), self.status, headers=self.headers, media_type="application/json")


def _int(body: dict[str, Any], field: str, default: int, low: int, high: int) -> int:
    value = body.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TogetherError(400, f"'{field}' must be an integer from {low} to {high}", param=field)
    return value


def _fault_error(name: str, seconds: float | None) -> TogetherError | None:
    if name == "429":
        wait = math.ceil(1.0 if seconds is None else seconds)
        return TogetherError(429, "Rate limit exceeded", kind="rate_limit", headers={"retry-after": str(wait)})
    if name == "401":
        return TogetherError(401, "Invalid API key provided", kind="invalid_api_key")
    if name == "quota":
        return TogetherError(402, "Credit limit exceeded", kind="credit_limit")
    if name == "moderation":
        return TogetherError(400, "The prompt was flagged by the safety checker", code="content_policy_violation")
    if name in ("500", "502", "503"):
        return TogetherError(int(name), "The server is overloaded", kind="server_error")
    return None


def _references(body: dict[str, Any], model: str) -> int:
    """How many reference images the call carries; a ``TogetherError`` for ones it may not."""
    image_url, references = body.get("image_url"), body.get("reference_images")
    if image_url is not None and model not in IMAGE_URL_MODELS:
        raise TogetherError(400, f"{model} does not take 'image_url'", param="image_url")
    if references is not None and model not in REFERENCE_MODELS:
        raise TogetherError(400, f"{model} does not take 'reference_images'", param="reference_images")
    urls = ([] if image_url is None else [image_url]) + ([] if references is None else references)
    if references is not None and (not isinstance(references, list) or not 0 < len(references) <= MAX_REFERENCES):
        raise TogetherError(400, f"'reference_images' must list 1 to {MAX_REFERENCES} URLs", param="reference_images")
    for url in urls:
        if inspect_data_url(url) is None:
            field = "image_url" if url is image_url else "reference_images"
            raise TogetherError(400, "the sandbox takes data URLs of PNG, JPEG or WebP images", param=field)
    return len(urls)


async def _generate(state: SandboxState, request: Request, record: RequestRecord) -> Response | ASGIApp:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if (
        scheme.lower() != "bearer"
        or key == ""
        or (state.config.api_keys is not None and key not in state.config.api_keys)
    ):
        raise TogetherError(401, "Invalid API key provided", kind="invalid_api_key")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise TogetherError(400, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise TogetherError(400, "The request body must be a JSON object")
    model = body.get("model")
    if model not in MODELS:
        raise TogetherError(404, f"Unable to access model {model}", param="model", code="model_not_available")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or prompt == "":
        raise TogetherError(400, "'prompt' is required", param="prompt")
    width, height = _int(body, "width", 1024, 64, 1792), _int(body, "height", 1024, 64, 1792)
    if width % 16 or height % 16:
        raise TogetherError(400, "width and height must be multiples of 16", param="width")
    count = _int(body, "n", 1, 1, 4)
    record.model = str(model)
    record.input_images = _references(body, str(model))
    _int(body, "steps", 20, 1, 50)
    response_format = body.get("response_format", "url")
    output_format = body.get("output_format", "jpeg")
    if response_format not in ("base64", "b64_json", "url") or output_format not in ("jpeg", "png"):
        raise TogetherError(400, "bad response_format or output_format", param="response_format")
    if response_format == "url":
        raise TogetherError(400, "the sandbox answers response_format 'base64' only", param="response_format")
    try:
        plan = task_plan(state, request, str(model), prompt)
    except DirectiveRejected as rejected:
        raise TogetherError(400, str(rejected), param="prompt") from None
    if plan.delay_s > 0:
        await asyncio.sleep(plan.delay_s)
    if plan.outcome is not None:
        error = _fault_error(plan.outcome.name, plan.outcome.seconds)
        if error is not None:
            raise error
        gave_up = TogetherError(504, "Request timed out", kind="timeout").response()
        if plan.outcome.name == "never-finish":
            return HangResponse(state.config.hang_max_s, gave_up, on_disconnect=lambda: _closed(record))
        transport = transport_fault(state, plan.outcome, gave_up)
        if transport is not None:
            return transport
    seed = body.get("seed")
    base_seed = seed if isinstance(seed, int) else seed_from(request_id_of(request))
    specs = [RenderSpec(width, height, output_format, False, base_seed + i) for i in range(count)]
    images = await run_in_threadpool(lambda: [state.renderer.render(spec) for spec in specs])
    data = [
        {"index": i, "type": "b64_json", "b64_json": base64.b64encode(image).decode()} for i, image in enumerate(images)
    ]
    answer = {"id": "tg-" + secrets.token_hex(8), "model": model, "object": "list", "data": data}
    return Response(orjson.dumps(answer), media_type="application/json")


def _closed(record: RequestRecord) -> None:
    record.client_closed = True


def together_routes(state: SandboxState) -> list[Route]:
    """Together's image route over this sandbox's state."""

    async def generations(request: Request) -> Response | ASGIApp:
        record = state.requests.start(request_id_of(request), request.method, request.url.path)
        try:
            answer = await _generate(state, request, record)
        except TogetherError as error:
            answer = error.response()
        record.status = answer.status_code if isinstance(answer, Response) else None
        return answer

    return [Route("/together/v1/images/generations", generations, methods=["POST"])]
