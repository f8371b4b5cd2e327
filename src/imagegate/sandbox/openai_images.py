"""OpenAI Images routes: ``/v1/images/generations``, ``/v1/images/edits``, ``/v1/images/variations``.

Each request goes: log → auth → parse → validate (``openai_validation``) → faults (control endpoint, then
prompt directives) → answer (JSON or SSE). Validation runs before faults, so a queued fault is only
consumed by a request that would otherwise have succeeded.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.directives import Directive, DirectiveError, FaultPlan, find_directives, plan_faults
from imagegate.sandbox.faults import HangResponse, RequestRecord, ResetResponse, TruncatedResponse
from imagegate.sandbox.openai_json_edits import json_edit_inputs
from imagegate.sandbox.openai_models import ImageJob, OpenAIError, b64_text, render_spec, usage_for
from imagegate.sandbox.openai_stream import SSEResponse, stream_response
from imagegate.sandbox.openai_validation import coerce_form_fields, validate_request
from imagegate.sandbox.render import ImageInfo, Renderer, RenderSpec, inspect_image, pad_png, seed_from

__all__ = [
    "benchmark_body",
    "check_auth",
    "error_response",
    "fault_error",
    "fault_plan",
    "openai_routes",
    "request_id_of",
]

MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024
_MAX_FORM_FIELD_BYTES = 256 * 1024  # a 32,000-character prompt is at most 128 KiB of UTF-8
_MAX_HOSTED_IMAGES = 64


def request_id_of(request: Request) -> str:
    """The ``x-request-id`` the middleware assigned to this request."""
    return str(request.scope.get("state", {}).get("request_id", ""))


def error_response(error: OpenAIError) -> Response:
    """``error`` as an HTTP response (the middleware adds ``x-request-id``)."""
    return Response(
        orjson.dumps(error.body()), status_code=error.status, media_type="application/json", headers=error.headers
    )


# --- faults in OpenAI's shape ------------------------------------------------------------------


def fault_error(directive: Directive, request_id: str) -> OpenAIError | None:
    """The error a directive stands for in OpenAI's shape (every OpenAI route), or None if it is not one."""
    name = directive.name
    if name == "moderation":
        return OpenAIError(
            400,
            "Your request was rejected by the safety system. If you believe this is an error, contact us at "
            f"help.openai.com and include the request ID {request_id}. safety_violations=[violence].",
            type="image_generation_user_error",
            code="moderation_blocked",
            extra={"moderation_details": {"moderation_stage": directive.stage, "categories": ["violence"]}},
        )
    if name == "429":
        seconds = directive.seconds if directive.seconds is not None else 1.0
        return OpenAIError(
            429,
            "Rate limit exceeded for images per minute in organization org-sandbox. Limit: 5, Used: 5, "
            f"Requested: 1. Please try again in {seconds:g}s.",
            type="requests",
            code="rate_limit_exceeded",
            # retry-after must be whole seconds (RFC 9110); the exact value goes in retry-after-ms.
            headers={"retry-after": str(math.ceil(seconds)), "retry-after-ms": str(round(seconds * 1000))},
        )
    if name == "quota":
        return OpenAIError(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            type="insufficient_quota",
            code="insufficient_quota",
        )
    if name == "401":
        return OpenAIError(401, "Incorrect API key provided (sandbox directive).", code="invalid_api_key")
    messages = {
        "500": "The server had an error while processing your request. Sorry about that!",
        "502": "Bad gateway.",
        "503": "The server is overloaded or not ready yet.",
    }
    if name in messages:
        return OpenAIError(int(name), messages[name], type="server_error", code="server_error")
    return None


def fault_plan(state: SandboxState, request: Request, model: str, prompt: str) -> FaultPlan:
    """The control endpoint's queued fault for this model and path, then the prompt's directives."""
    queued = state.faults.take(model, request.url.path)
    try:
        from_prompt = find_directives(prompt)
    except DirectiveError as exc:
        raise OpenAIError(400, str(exc), param="prompt", code="invalid_sandbox_directive") from None
    return plan_faults(([queued] if queued is not None else []) + from_prompt)


def check_auth(state: SandboxState, request: Request) -> None:
    """OpenAI's bearer-key check (401 in its shape)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or key == "":
        raise OpenAIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )
    if state.config.api_keys is not None and key not in state.config.api_keys:
        shown = f"{key[:4]}****{key[-4:]}" if len(key) > 8 else "****"
        raise OpenAIError(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")


# --- request parsing ---------------------------------------------------------------------------


async def _json_fields(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise OpenAIError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly.)",
        ) from None
    if not isinstance(body, dict):
        raise OpenAIError(400, "The request body must be a JSON object.")
    return body


@dataclass
class _Uploads:
    """The file parts of an edit: image headers (None for a part that is not an image) and the mask's."""

    images: list[ImageInfo | None] = field(default_factory=list)
    mask: ImageInfo | None = None
    has_mask: bool = False
    has_markup: bool = False


async def _edit_fields(request: Request) -> tuple[dict[str, Any], _Uploads]:
    """The typed text fields and the file parts of a multipart edit request."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise OpenAIError(400, "Image edits must be sent as multipart/form-data or JSON.")
    try:
        form = await request.form(max_files=64, max_fields=256, max_part_size=_MAX_FORM_FIELD_BYTES)
    except (MultiPartException, HTTPException) as exc:
        detail = exc.message if isinstance(exc, MultiPartException) else exc.detail
        raise OpenAIError(400, f"Invalid multipart body: {detail}") from None
    try:
        texts: dict[str, str] = {}
        uploads = _Uploads()
        for key, value in form.multi_items():
            if key in ("image", "image[]"):
                uploads.images.append(await _upload_info(value, "image", MAX_IMAGE_BYTES))
            elif key == "mask":
                uploads.has_mask, uploads.mask = True, await _upload_info(value, "mask", MAX_MASK_BYTES)
            elif key == "markup":
                uploads.has_markup = True
            elif isinstance(value, str):
                texts[key] = value
            else:
                raise OpenAIError(400, f"Unexpected file for '{key}'.", param=key, code="invalid_type")
        return coerce_form_fields(texts), uploads
    finally:
        await form.close()


async def _upload_info(value: UploadFile | str, param: str, limit: int) -> ImageInfo | None:
    if isinstance(value, str):
        raise OpenAIError(400, f"'{param}' must be a file upload.", param=param, code="invalid_type")
    data = await value.read()
    if len(data) > limit:
        raise OpenAIError(
            400, f"'{param}' is larger than {limit // (1024 * 1024)} MB.", param=param, code="file_too_large"
        )
    return inspect_image(data)


# --- answers -----------------------------------------------------------------------------------


def _render_all(state: SandboxState, job: ImageJob) -> list[bytes]:
    """The ``n`` final images (runs in a worker thread: rendering and encoding are CPU work)."""
    return [state.renderer.render(render_spec(job, i)) for i in range(job.n)]


def _gpt_body(job: ImageJob, images: list[bytes]) -> bytes:
    """The ``ImagesResponse`` JSON of a GPT image model (worker thread: megabytes of base64)."""
    body: dict[str, Any] = {
        "created": int(time.time()),
        "background": job.background,
        "data": [{"b64_json": b64_text(d)} for d in images],
        "output_format": job.output_format,
        "quality": job.quality,
        "size": job.size,
        "usage": usage_for(job, images=job.n, partials=0),
    }
    if job.safety_identifier is not None:
        body["safety_identifier"] = job.safety_identifier
    return orjson.dumps(body)


def _dalle_item(state: SandboxState, job: ImageJob, data: bytes, base_url: str) -> dict[str, Any]:
    # Runs on the event loop, which is what keeps hosted_images free of cross-thread mutation.
    item: dict[str, Any] = {}
    if job.response_format == "url":
        image_id = secrets.token_hex(8)
        state.hosted_images[image_id] = (data, "image/png")
        while len(state.hosted_images) > _MAX_HOSTED_IMAGES:
            state.hosted_images.pop(next(iter(state.hosted_images)))
        item["url"] = f"{base_url}_sandbox/images/{image_id}.png"
    else:
        item["b64_json"] = b64_text(data)
    if job.model.id == "dall-e-3":
        item["revised_prompt"] = job.prompt
    return item


def benchmark_body(target_bytes: int) -> tuple[bytes, bytes]:
    """The benchmark-mode body parts, built once at startup: (prefix up to ``"data":[``, one data item).

    The item's PNG is padded so that a whole n=1 body is about ``target_bytes``; per request only
    the small tail (``background`` ... ``usage``) is encoded.
    """
    tail_estimate = 400  # the per-request tail and JSON punctuation
    png_target = (target_bytes - tail_estimate) * 3 // 4  # base64 makes 4 bytes of every 3
    renderer = Renderer(cache_entries=0)
    png = renderer.render(RenderSpec(1024, 1024, "png", False, seed_from("benchmark")))
    if len(png) > png_target:
        # A small target: a smaller picture, so the body can still come out near the target.
        png = renderer.render(RenderSpec(256, 256, "png", False, seed_from("benchmark")))
    png = pad_png(png, png_target)
    item = orjson.dumps({"b64_json": b64_text(png)})
    return b'{"created":' + str(int(time.time())).encode() + b',"data":[', item


def _benchmark_response(state: SandboxState, job: ImageJob) -> Response:
    assert state.benchmark is not None
    prefix, item = state.benchmark
    tail = orjson.dumps(
        {
            "background": job.background,
            "output_format": job.output_format,
            "quality": job.quality,
            "size": job.size,
            "usage": usage_for(job, job.n, 0),
        }
    )
    body = b"".join((prefix, b",".join([item] * job.n), b"],", tail[1:]))
    return Response(body, media_type="application/json")


# --- endpoints ---------------------------------------------------------------------------------


async def _answer(state: SandboxState, request: Request, record: RequestRecord, endpoint: str) -> Response | ASGIApp:
    limit = request.headers.get("content-length")
    if limit is not None and limit.isdigit() and int(limit) > state.config.max_request_bytes:
        raise OpenAIError(
            413,
            f"Request body too large: the sandbox accepts at most {state.config.max_request_bytes} bytes.",
            code="request_too_large",
        )
    check_auth(state, request)
    if endpoint == "generations":
        fields, uploads = await _json_fields(request), _Uploads()
    elif request.headers.get("content-type", "").lower().startswith("application/json"):
        fields = await _json_fields(request)
        found = json_edit_inputs(fields, max_image_bytes=MAX_IMAGE_BYTES, max_mask_bytes=MAX_MASK_BYTES)
        uploads = _Uploads(images=found.images, mask=found.mask, has_mask=found.has_mask)
    else:
        fields, uploads = await _edit_fields(request)
    model = fields.get("model")
    record.model = model if isinstance(model, str) else None
    record.stream = fields.get("stream") is True
    job = validate_request(
        fields,
        endpoint,
        legacy_enabled=state.config.legacy_models,
        images=uploads.images,
        mask=uploads.mask,
        has_mask=uploads.has_mask,
        has_markup=uploads.has_markup,
    )
    plan = fault_plan(state, request, job.model.id, job.prompt)
    record.faults = plan.labels()
    delay = plan.delay_s + (state.config.fixed_delay_ms or 0) / 1000
    if delay > 0:
        await asyncio.sleep(delay)
    outcome = plan.outcome
    if outcome is not None:
        error = fault_error(outcome, request_id_of(request))
        if error is not None:
            raise error
        if outcome.name == "hang":
            gave_up = OpenAIError(
                504, "The sandbox hang fault reached hang_max_s.", type="server_error", code="timeout"
            )
            return HangResponse(state.config.hang_max_s, error_response(gave_up))
        if outcome.name == "reset":
            return ResetResponse(state.transport_lookup)
        if outcome.name == "malformed" and not job.stream:
            # Complete HTTP framing (exact Content-Length), but the JSON stops mid-string.
            broken = b'{"created": ' + str(int(time.time())).encode() + b', "data": [{"b64_json": "iVBORw0KG'
            return Response(broken, media_type="application/json")
    name = None if outcome is None else outcome.name
    if job.stream:
        return stream_response(state, job, name)
    # The canned body has the GPT shape, so legacy DALL·E answers are always rendered.
    if state.benchmark is not None and name is None and not job.model.dalle:
        return _benchmark_response(state, job)
    images = await run_in_threadpool(_render_all, state, job)
    if job.model.dalle:
        items = [_dalle_item(state, job, data, str(request.base_url)) for data in images]
        body = orjson.dumps({"created": int(time.time()), "data": items})
    else:
        body = await run_in_threadpool(_gpt_body, job, images)
    if name == "truncated":
        return TruncatedResponse(body, state.transport_lookup)
    return Response(body, media_type="application/json")


def openai_routes(state: SandboxState) -> list[Route]:
    """The OpenAI Images routes bound to ``state``."""

    def endpoint_for(endpoint: str) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response | ASGIApp:
            record = state.requests.start(request_id_of(request), request.method, request.url.path)
            try:
                response = await _answer(state, request, record, endpoint)
            except OpenAIError as error:
                response = error_response(error)
            if isinstance(response, Response):
                record.status = response.status_code
            elif isinstance(response, TruncatedResponse):
                record.status = response.status
            elif isinstance(response, SSEResponse):
                record.status = 200
            return response

        return handle

    async def variations(request: Request) -> Response:
        record = state.requests.start(request_id_of(request), request.method, request.url.path)
        try:
            check_auth(state, request)
            error = OpenAIError(
                400,
                "The /v1/images/variations endpoint is no longer supported. Use "
                "/v1/images/edits with a GPT image model instead.",
                code="unsupported_endpoint",
            )
        except OpenAIError as auth_error:
            error = auth_error
        record.status = error.status
        return error_response(error)

    async def hosted_image(request: Request) -> Response:
        found = state.hosted_images.get(request.path_params["image_id"])
        if found is None:
            return error_response(OpenAIError(404, "Image not found or expired.", code="not_found"))
        return Response(found[0], media_type=found[1])

    return [
        Route("/v1/images/generations", endpoint_for("generations"), methods=["POST"]),
        Route("/v1/images/edits", endpoint_for("edits"), methods=["POST"]),
        Route("/v1/images/variations", variations, methods=["POST"]),
        Route("/_sandbox/images/{image_id}.png", hosted_image, methods=["GET"]),
    ]
