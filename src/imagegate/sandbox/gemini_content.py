"""Gemini ``generateContent`` / ``streamGenerateContent?alt=sse`` routes, Gemini API and Vertex AI.

Each request goes: log -> auth (API key, or a Vertex bearer token) -> parse -> validate
(``gemini_validation``) -> faults (control endpoint, then prompt directives) -> answer. Answers
follow providers.md §3: a 3.x model adds a thought part, a text part when TEXT is among the
response modalities, then one JPEG ``inlineData`` image with a ``thoughtSignature``;
``usageMetadata`` lists IMAGE tokens from the model's table, prompt TEXT/IMAGE tokens, thinking.
Safety outcomes are HTTP 200 (``promptFeedback.blockReason``, ``finishReason``); a stream sends
thought, text, the image in one chunk, then ``finishReason`` + usage in the last chunk.
"""

from __future__ import annotations

import asyncio
import base64
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.faults import (
    RequestRecord,
    TransportLookup,
    TruncatedResponse,
    drop_connection,
)
from imagegate.sandbox.gemini_auth import check_api_key, check_bearer
from imagegate.sandbox.gemini_models import GoogleError, google_error, input_image_tokens, lookup_gemini
from imagegate.sandbox.gemini_validation import GeminiJob, camel_keys, validate_generate_content
from imagegate.sandbox.google_faults import (
    google_error_response,
    google_fault_response,
    google_plan,
    request_id_of,
)
from imagegate.sandbox.render import Renderer, RenderSpec, pad_jpeg, seed_from

__all__ = ["gemini_routes"]

_THOUGHT = "**Composing the image**\n\nI am laying out the scene the prompt describes."
_SIGNATURE = "c2FuZGJveC10aG91Z2h0LXNpZ25hdHVyZQ=="  # base64 of "sandbox-thought-signature"
_GEMINI_VERSIONS = ("v1", "v1beta")
_VERTEX_VERSIONS = ("v1", "v1beta1")


def _usage(job: GeminiJob, *, image: bool, text: str | None) -> dict[str, Any]:
    image_in = sum(input_image_tokens(job.model, i.width, i.height) for i in job.input_images)
    prompt_details = [{"modality": "TEXT", "tokenCount": job.prompt_tokens}]
    if image_in:
        prompt_details.append({"modality": "IMAGE", "tokenCount": image_in})
    image_out = job.model.output_tokens[job.size] if image else 0
    text_out = 0 if text is None else math.ceil(len(text) / 4)
    thoughts = 64 + len(job.prompt) % 64 if job.model.thinks else 0
    usage: dict[str, Any] = {
        "promptTokenCount": job.prompt_tokens + image_in,
        "candidatesTokenCount": image_out + text_out,
        "totalTokenCount": job.prompt_tokens + image_in + image_out + text_out + thoughts,
        "promptTokensDetails": prompt_details,
    }
    if image_out:
        # As recorded from the live API: the IMAGE detail only; text tokens carry no modality.
        usage["candidatesTokensDetails"] = [{"modality": "IMAGE", "tokenCount": image_out}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _envelope(job: GeminiJob, body: dict[str, Any], response_id: str) -> dict[str, Any]:
    return {**body, "modelVersion": job.model.id, "responseId": response_id}


def _render(state: SandboxState, job: GeminiJob) -> bytes:
    spec = RenderSpec(
        job.width,
        job.height,
        "jpeg",
        False,
        seed_from(job.model.family, job.prompt, job.ratio, job.size),
        compression=90,
    )
    return state.renderer.render(spec)


def benchmark_image(target_bytes: int) -> bytes:
    """Benchmark mode's image, built once at startup: a JPEG padded so that a whole answer is about
    ``target_bytes``."""
    jpeg = Renderer(cache_entries=0).render(RenderSpec(1024, 1024, "jpeg", False, seed_from("benchmark")))
    return pad_jpeg(jpeg, (target_bytes - 800) * 3 // 4)  # base64 makes 4 bytes of every 3


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _reply_text(job: GeminiJob) -> str | None:
    if not job.want_text:
        return None
    return f"Here is the {job.ratio} image you asked for ({job.width}x{job.height})."


def _chunks(job: GeminiJob, outcome: str | None, image: bytes | None, response_id: str) -> list[dict[str, Any]]:
    """The answer as a list of GenerateContentResponse pieces (one body, or the stream's chunks)."""
    if outcome == "moderation-input":
        usage = _usage(job, image=False, text=None)
        usage.pop("thoughtsTokenCount", None)
        usage["totalTokenCount"] = usage["promptTokenCount"]
        return [
            _envelope(
                job,
                {
                    "promptFeedback": {
                        "blockReason": "SAFETY",
                        "safetyRatings": [
                            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
                        ],
                    },
                    "usageMetadata": usage,
                },
                response_id,
            )
        ]
    thought = [{"text": _THOUGHT, "thought": True}] if job.model.thinks else []
    if outcome in ("moderation-output", "prohibited"):
        reason = "IMAGE_SAFETY" if outcome == "moderation-output" else "PROHIBITED_CONTENT"
        return [
            _envelope(
                job,
                {
                    "candidates": [
                        {
                            "content": {"role": "model", "parts": thought} if thought else None,
                            "finishReason": reason,
                            "index": 0,
                            "finishMessage": "Unable to show the generated image. The image was "
                            "filtered out because it violated Google's Generative "
                            "AI Prohibited Use policy.",
                        }
                    ],
                    "usageMetadata": _usage(job, image=False, text=None),
                },
                response_id,
            )
        ]
    if outcome == "no-image" or not job.want_image:
        refusal = "I can describe the scene, but I did not make an image this time."
        reason = "NO_IMAGE" if outcome == "no-image" else "STOP"
        text_parts = [*thought, {"text": refusal}]
        return [
            _envelope(
                job,
                {
                    "candidates": [
                        {"content": {"role": "model", "parts": text_parts}, "finishReason": reason, "index": 0}
                    ],
                    "usageMetadata": _usage(job, image=False, text=refusal),
                },
                response_id,
            )
        ]
    assert image is not None
    text = _reply_text(job)
    parts: list[dict[str, Any]] = list(thought)
    if text is not None:
        parts.append({"text": text})
    parts.append({"inlineData": {"mimeType": "image/jpeg", "data": _b64(image)}, "thoughtSignature": _SIGNATURE})
    usage = _usage(job, image=True, text=text)
    if not job.stream:
        return [
            _envelope(
                job,
                {
                    "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
                    "usageMetadata": usage,
                },
                response_id,
            )
        ]
    pieces = [
        _envelope(job, {"candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}]}, response_id)
        for part in parts
    ]
    pieces.append(
        _envelope(
            job,
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": usage,
            },
            response_id,
        )
    )
    return pieces


def _clean(piece: dict[str, Any]) -> dict[str, Any]:
    for candidate in piece.get("candidates", []):
        if candidate.get("content") is None:
            candidate.pop("content", None)
    return piece


class _SSE:
    """``text/event-stream`` of ``data:`` chunks separated by ``\\r\\n\\r\\n`` (Google's framing)."""

    def __init__(self, frames: AsyncIterator[bytes | tuple[str, bytes]], lookup: TransportLookup | None) -> None:
        self.frames = frames
        self.lookup = lookup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )
        async for frame in self.frames:
            if isinstance(frame, tuple):  # ("cut", partial frame): send it, then drop the connection
                await send({"type": "http.response.body", "body": frame[1], "more_body": True})
                await drop_connection(scope, receive, self.lookup, reset=False)
                return
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _stream(pieces: list[dict[str, Any]], outcome: str | None) -> AsyncIterator[bytes | tuple[str, bytes]]:
    for index, piece in enumerate(pieces):
        frame = b"data: " + orjson.dumps(_clean(piece)) + b"\r\n\r\n"
        has_image = b'"inlineData"' in frame
        if outcome == "stream-error" and index == 1:
            error = GoogleError(500, "INTERNAL", "An internal error has occurred (sandbox stream-error).")
            yield b"data: " + orjson.dumps(error.body()) + b"\r\n\r\n"
            return
        if has_image and outcome == "truncated":
            yield ("cut", frame[: len(frame) // 2])
            return
        if has_image and outcome == "malformed":
            yield b'data: {"candidates": [{"content": {"parts": [{"inlineData": {"data": "/9j/4AAQ\r\n\r\n'
            continue
        yield frame


async def answer_generate(
    state: SandboxState,
    request: Request,
    record: RequestRecord,
    model: str,
    *,
    stream: bool,
    vertex: bool,
    version: str,
) -> Response | ASGIApp:
    """Validate, apply faults and answer one generateContent call."""
    if vertex:
        check_bearer(state, request)
    else:
        check_api_key(state, request)
    method = "streamGenerateContent" if stream else "generateContent"
    spec = lookup_gemini(model, method, version)
    if stream and request.query_params.get("alt") != "sse":
        raise google_error("The sandbox streams with alt=sse only.", field_name="alt")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise google_error("Invalid JSON payload received.") from None
    if not isinstance(body, dict):
        raise google_error("Invalid JSON payload received. Expected an object.")
    job = await run_in_threadpool(validate_generate_content, camel_keys(body), spec, stream=stream, vertex=vertex)
    plan = google_plan(state, request, spec.id, job.prompt)
    record.faults = plan.labels()
    delay = plan.delay_s + (state.config.fixed_delay_ms or 0) / 1000
    if delay > 0:
        await asyncio.sleep(delay)
    name = None if plan.outcome is None else plan.outcome.name
    if plan.outcome is not None:
        early = google_fault_response(plan.outcome, state, spec.id)
        if early is not None:
            return early
        if name == "moderation":
            name = f"moderation-{plan.outcome.stage}"
    response_id = secrets.token_urlsafe(16)
    image = None
    if job.want_image and name not in ("moderation-input", "moderation-output", "prohibited", "no-image"):
        if state.gemini_benchmark is not None and not stream:
            image = state.gemini_benchmark
        else:
            image = await run_in_threadpool(_render, state, job)
    pieces = await run_in_threadpool(_chunks, job, name, image, response_id)
    if stream:
        return _SSE(_stream(pieces, name), state.transport_lookup)
    if name == "malformed":
        return Response(
            b'{"candidates": [{"content": {"parts": [{"inlineData": {"data": "/9j/4AAQSk', media_type="application/json"
        )
    payload = await run_in_threadpool(orjson.dumps, _clean(pieces[0]))
    if name == "truncated":
        return TruncatedResponse(payload, state.transport_lookup)
    return Response(payload, media_type="application/json")


Handler = Callable[[SandboxState, Request, RequestRecord, str, str, bool], Awaitable[Response | ASGIApp]]


def gemini_routes(state: SandboxState, predict: Handler) -> list[Route]:
    """The Gemini API and Vertex AI model routes; ``:predict`` is handed to ``predict`` (Imagen)."""

    async def dispatch(request: Request, *, vertex: bool) -> Response | ASGIApp:
        record = state.requests.start(request_id_of(request), request.method, request.url.path)
        model, _, method = request.path_params["target"].rpartition(":")
        record.model = model
        record.stream = method == "streamGenerateContent"
        version = request.path_params["version"]
        try:
            if version not in (_VERTEX_VERSIONS if vertex else _GEMINI_VERSIONS):
                raise GoogleError(404, "NOT_FOUND", f"API version {version} is not served.")
            if method == "predict":
                response = await predict(state, request, record, model, version, vertex)
            elif method in ("generateContent", "streamGenerateContent"):
                response = await answer_generate(
                    state, request, record, model, stream=record.stream, vertex=vertex, version=version
                )
            else:
                raise GoogleError(404, "NOT_FOUND", f"Method {method} is not found for models/{model}.")
        except GoogleError as error:
            response = google_error_response(error)
        if isinstance(response, Response):
            record.status = response.status_code
        elif isinstance(response, (TruncatedResponse, _SSE)):
            record.status = 200
        return response

    async def gemini_api(request: Request) -> Response | ASGIApp:
        return await dispatch(request, vertex=False)

    async def vertex(request: Request) -> Response | ASGIApp:
        return await dispatch(request, vertex=True)

    return [
        Route("/{version:str}/models/{target:str}", gemini_api, methods=["POST"]),
        Route(
            "/{version:str}/projects/{project:str}/locations/{location:str}/publishers/google/models/{target:str}",
            vertex,
            methods=["POST"],
        ),
    ]
