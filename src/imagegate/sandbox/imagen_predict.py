"""Imagen 4 ``:predict`` (providers.md §4): validation, faults and answers.

Served on the same model routes as Gemini (``gemini_content.gemini_routes`` dispatches
``:predict`` here). ``sampleCount`` defaults to 4. With ``SandboxConfig.imagen_shut_down`` every
call is 404 ``NOT_FOUND``, as Google has answered since the 2026-08-17 shutdown. Safety
filtering: ``[sandbox:filtered]`` replaces the last image by a ``raiFilteredReason`` entry (or drops
it without ``includeRaiReason``); ``[sandbox:moderation]`` filters every image (an empty answer).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.faults import RequestRecord, TruncatedResponse
from imagegate.sandbox.gemini_auth import check_api_key, check_bearer
from imagegate.sandbox.gemini_models import GoogleError, google_error
from imagegate.sandbox.google_faults import google_fault_response, google_plan
from imagegate.sandbox.render import RenderSpec, seed_from

__all__ = ["IMAGEN_MODELS", "ImagenJob", "answer_predict", "validate_predict"]

_SIZES = {
    "1K": {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408), "16:9": (1408, 768)},
    "2K": {"1:1": (2048, 2048), "3:4": (1792, 2560), "4:3": (2560, 1792), "9:16": (1536, 2816), "16:9": (2816, 1536)},
}
# model id -> sample sizes it accepts (Fast has no sampleImageSize).
IMAGEN_MODELS: dict[str, tuple[str, ...]] = {
    "imagen-4.0-generate-001": ("1K", "2K"),
    "imagen-4.0-ultra-generate-001": ("1K", "2K"),
    "imagen-4.0-fast-generate-001": (),
}
_PARAMETERS = frozenset(
    {
        "sampleCount",
        "aspectRatio",
        "personGeneration",
        "sampleImageSize",
        "safetySetting",
        "includeRaiReason",
        "includeSafetyAttributes",
        "language",
        "guidanceScale",
        "outputOptions",
        "negativePrompt",
        "seed",
        "addWatermark",
        "enhancePrompt",
        "storageUri",
    }
)
_VERTEX_ONLY = ("negativePrompt", "seed", "addWatermark", "enhancePrompt", "storageUri")
_SAFETY = ("block_low_and_above", "block_medium_and_above", "block_only_high")
_PERSON = ("dont_allow", "allow_adult", "allow_all")
_RAI_REASON = (
    "Your current safety filter threshold filtered out the generated image. You will not be charged for "
    "blocked images. Try rephrasing the prompt. Support codes: 56562880"
)


@dataclass(frozen=True)
class ImagenJob:
    """A validated ``:predict`` request with its defaults resolved."""

    model: str
    prompt: str
    count: int
    width: int
    height: int
    mime: str
    compression: int | None
    rai_reason: bool
    safety_attributes: bool


def _bad(name: str, message: str) -> GoogleError:
    return google_error(message, field_name=f"parameters.{name}")


def validate_predict(body: dict[str, Any], model: str, *, vertex: bool) -> ImagenJob:
    """Check a ``:predict`` body like the API does; raise ``GoogleError``."""
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise google_error("instances must hold exactly one instance.", field_name="instances")
    prompt = instances[0].get("prompt")
    if not isinstance(prompt, str) or prompt.strip() == "":
        raise google_error("The prompt is required.", field_name="instances.prompt")
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise google_error("parameters must be an object.", field_name="parameters")
    for name in params:
        if name not in _PARAMETERS:
            raise _bad(
                name, f"Invalid JSON payload received. Unknown name \"{name}\" at 'parameters': Cannot find field."
            )
    if not vertex:
        for name in _VERTEX_ONLY:
            if name in params:
                raise _bad(name, f"{name} is not supported in the Gemini API.")
    count = params.get("sampleCount", 4)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 4:
        raise _bad("sampleCount", "sampleCount must be between 1 and 4.")
    ratio = params.get("aspectRatio", "1:1")
    if ratio not in _SIZES["1K"]:
        raise _bad("aspectRatio", f"Unsupported aspect ratio: {ratio}.")
    size = params.get("sampleImageSize", "1K")
    if "sampleImageSize" in params and size not in IMAGEN_MODELS[model]:
        raise _bad("sampleImageSize", f"sampleImageSize {size!r} is not supported by {model}.")
    person = params.get("personGeneration")
    if person is not None and (not isinstance(person, str) or person.lower() not in _PERSON):
        raise _bad("personGeneration", f"Invalid personGeneration: {person}.")
    if isinstance(person, str) and person.lower() == "allow_all" and not vertex:
        raise _bad("personGeneration", "allow_all for personGeneration is currently not supported.")
    safety = params.get("safetySetting")
    if safety is not None and (not isinstance(safety, str) or safety.lower() not in _SAFETY):
        raise _bad(
            "safetySetting",
            f"Only block_low_and_above, block_medium_and_above and block_only_high are "
            f"supported for safetySetting, got {safety}.",
        )
    options = params.get("outputOptions") or {}
    mime = options.get("mimeType", "image/png") if isinstance(options, dict) else None
    if mime not in ("image/png", "image/jpeg"):
        raise _bad("outputOptions", f"Unsupported output mime type: {mime}.")
    compression = options.get("compressionQuality") if isinstance(options, dict) else None
    if compression is not None and (not isinstance(compression, int) or not 0 <= compression <= 100):
        raise _bad("outputOptions", "compressionQuality must be between 0 and 100.")
    width, height = _SIZES[str(size)][str(ratio)]
    return ImagenJob(
        model=model,
        prompt=prompt,
        count=count,
        width=width,
        height=height,
        mime=str(mime),
        compression=compression,
        rai_reason=params.get("includeRaiReason") is True,
        safety_attributes=params.get("includeSafetyAttributes") is True,
    )


def _predictions(state: SandboxState, job: ImagenJob, outcome: str | None) -> bytes:
    """The answer body (worker thread: rendering and base64)."""
    fmt = "jpeg" if job.mime == "image/jpeg" else "png"
    entries: list[dict[str, Any]] = []
    for index in range(job.count):
        filtered = outcome == "moderation" or (outcome == "filtered" and index == job.count - 1)
        if filtered:
            if job.rai_reason:
                entries.append({"raiFilteredReason": _RAI_REASON})
            continue
        spec = RenderSpec(
            job.width,
            job.height,
            fmt,
            False,
            seed_from("imagen", job.model, job.prompt, index),
            compression=job.compression,
        )
        data = state.renderer.render(spec)
        entries.append({"bytesBase64Encoded": base64.b64encode(data).decode("ascii"), "mimeType": job.mime})
    if job.safety_attributes:
        entries.append(
            {"safetyAttributes": {"categories": ["Violence"], "scores": [0.1]}, "contentType": "Positive Prompt"}
        )
    return orjson.dumps({"predictions": entries} if entries else {})


async def answer_predict(
    state: SandboxState,
    request: Request,
    record: RequestRecord,
    model: str,
    version: str,
    vertex: bool,
) -> Response | ASGIApp:
    """Validate, apply faults and answer one ``:predict`` call."""
    if vertex:
        check_bearer(state, request)
    else:
        check_api_key(state, request)
    if model not in IMAGEN_MODELS or state.config.imagen_shut_down:
        raise GoogleError(
            404,
            "NOT_FOUND",
            f"models/{model} is not found for API version {version}, or is not "
            "supported for predict. Call ListModels to see the list of available models and their "
            "supported methods.",
        )
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise google_error("Invalid JSON payload received.") from None
    if not isinstance(body, dict):
        raise google_error("Invalid JSON payload received. Expected an object.")
    job = validate_predict(body, model, vertex=vertex)
    plan = google_plan(state, request, model, job.prompt)
    record.faults = plan.labels()
    delay = plan.delay_s + (state.config.fixed_delay_ms or 0) / 1000
    if delay > 0:
        await asyncio.sleep(delay)
    name = None if plan.outcome is None else plan.outcome.name
    if plan.outcome is not None:
        early = google_fault_response(plan.outcome, state, model)
        if early is not None:
            return early
        if name == "malformed":
            return Response(b'{"predictions": [{"bytesBase64Encoded": "iVBORw0KG', media_type="application/json")
    payload = await run_in_threadpool(_predictions, state, job, name)
    if name == "truncated":
        return TruncatedResponse(payload, state.transport_lookup)
    return Response(payload, media_type="application/json")
