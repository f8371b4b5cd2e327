"""Replicate predictions: ``POST /v1/models/{owner}/{name}/predictions``, ``GET /v1/predictions/{id}``,
``POST /v1/predictions/{id}/cancel``, with ``Authorization: Bearer``.

A create answers 201 with the prediction (``starting``); with ``Prefer: wait=N`` it holds up to N
seconds and answers the prediction as it then is. ``Cancel-After`` (``30s``, ``5m``, ``1h30m``)
cancels a prediction that outlives it. Statuses go ``starting`` -> ``processing`` -> ``succeeded``
(``output``: a URL on the result host for FLUX.2, a list for FLUX.1) or ``failed`` (``error`` ending
in a code: ``(E005)`` flagged as sensitive) or ``canceled``. Errors are problem details
(``{type, title, status, detail}``); 429 carries ``Retry-After``. Directives: docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.task_store import Task, new_task
from imagegate.sandbox.tasks import DirectiveRejected, request_id_of, result_url, task_plan, transport_fault

__all__ = ["replicate_routes"]

_PROVIDER = "replicate"
# Official models -> whether the output is one URL (FLUX.2) or a list (FLUX.1).
_MODELS: dict[str, bool] = {
    "black-forest-labs/flux-2-pro": True,
    "black-forest-labs/flux-2-max": True,
    "black-forest-labs/flux-2-klein-4b": True,
    "black-forest-labs/flux-schnell": False,
    "black-forest-labs/flux-dev": False,
    "black-forest-labs/flux-1.1-pro": True,
}
_FORMATS = {"webp": "webp", "jpg": "jpeg", "png": "png"}
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_HOLD_STEP_S = 0.05


class ReplicateError(Exception):
    """A problem-details error answer."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}

    def response(self) -> Response:
        """The error as Replicate sends it."""
        body = {"type": "about:blank", "title": self.title, "status": self.status, "detail": self.detail}
        return Response(orjson.dumps(body), self.status, headers=self.headers, media_type="application/problem+json")


def _invalid(detail: str) -> ReplicateError:
    return ReplicateError(422, "Input validation failed", detail)


def _check_key(state: SandboxState, request: Request) -> None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if (
        scheme not in ("Bearer", "Token")
        or key == ""
        or (state.config.api_keys is not None and key not in state.config.api_keys)
    ):
        raise ReplicateError(401, "Unauthenticated", "You did not pass a valid authentication token")


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise ReplicateError(400, "Invalid Cancel-After", f"Cannot parse duration {text!r}")
    hours, minutes, seconds = (int(g) if g is not None else 0 for g in match.groups())
    return max(5.0, hours * 3600.0 + minutes * 60.0 + seconds)


def _size(values: dict[str, Any]) -> tuple[int, int]:
    if values.get("aspect_ratio", "1:1") != "custom":
        return 1024, 1024
    sizes = []
    for field in ("width", "height"):
        value = values.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or not 256 <= value <= 2048:
            raise _invalid(f"input.{field}: must be an integer from 256 to 2048")
        sizes.append(round(value / 32) * 32)  # Replicate rounds to the nearest multiple of 32
    return sizes[0], sizes[1]


def _fault_error(name: str, seconds: float | None) -> ReplicateError | None:
    if name == "429":
        wait = 1.0 if seconds is None else seconds
        detail = f"Request was throttled. Expected available in {math.ceil(wait)} second."
        return ReplicateError(429, "Too Many Requests", detail, {"retry-after": str(math.ceil(wait))})
    if name == "401":
        return ReplicateError(401, "Unauthenticated", "You did not pass a valid authentication token")
    if name == "quota":
        return ReplicateError(402, "Payment Required", "You have insufficient credit to run this model.")
    if name in ("500", "502", "503"):
        return ReplicateError(int(name), "Internal Server Error", "Something went wrong.")
    return None


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _prediction(state: SandboxState, request: Request, task: Task, status: str) -> dict[str, Any]:
    base = f"{str(request.base_url).rstrip('/')}/v1/predictions/{task.id}"
    document: dict[str, Any] = {
        "id": task.id,
        "model": task.model,
        "version": "hidden",
        "input": task.extra.get("input", {}),
        "logs": "",
        "output": None,
        "error": None,
        "status": status,
        "source": "api",
        "data_removed": False,
        "created_at": _stamp(task.created),
        "urls": {"get": base, "cancel": f"{base}/cancel", "web": f"https://replicate.com/p/{task.id}"},
    }
    if status == "succeeded":
        urls = [result_url(state, request, task, i) for i in range(task.count)]
        document["output"] = urls[0] if _MODELS[task.model] else urls
        document["metrics"] = {"predict_time": 1.25, "total_time": 1.5}
        document["completed_at"] = _stamp(time.time())
    elif status == "failed":
        if task.ending.startswith("moderated"):
            document["error"] = "The input or output was flagged as sensitive. Please try again. (E005)"
        else:
            document["error"] = "Prediction failed for an unknown reason. (E1000)"
    return document


def _status(task: Task) -> str:
    deadline = task.extra.get("cancel_after_s")
    if isinstance(deadline, float) and time.time() - task.created > deadline and not task.cancelled:
        task.cancelled = True
    step = task.advance()
    if step == "running":
        return "starting" if task.polls <= 1 else "processing"
    return {"ready": "succeeded", "cancelled": "canceled"}.get(step, "failed")


async def _create(state: SandboxState, request: Request, model: str) -> Response | ASGIApp:
    _check_key(state, request)
    if model not in _MODELS:
        raise ReplicateError(404, "Not found", f"Model {model} not found")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ReplicateError(400, "Bad Request", "The request body is not valid JSON") from None
    values = body.get("input") if isinstance(body, dict) else None
    if not isinstance(values, dict):
        raise _invalid("input: required")
    prompt = values.get("prompt")
    if not isinstance(prompt, str) or prompt == "":
        raise _invalid("input.prompt: required")
    output_format = values.get("output_format", "webp")
    if output_format not in _FORMATS:
        raise _invalid("input.output_format: must be one of webp, jpg, png")
    images = values.get("input_images", [])
    if not isinstance(images, list) or len(images) > 8 or not all(isinstance(i, str) for i in images):
        raise _invalid("input.input_images: at most 8 image URLs")
    cancel_after = _seconds(request.headers.get("cancel-after"))
    size = _size(values)
    try:
        plan = task_plan(state, request, model, prompt)
    except DirectiveRejected as rejected:
        raise _invalid(f"input.prompt: {rejected}") from None
    if plan.delay_s > 0:
        await asyncio.sleep(plan.delay_s)
    outcome = plan.outcome
    if outcome is not None:
        error = _fault_error(outcome.name, outcome.seconds)
        if error is not None:
            raise error
        gave_up = ReplicateError(504, "Gateway Timeout", "The sandbox hang fault reached hang_max_s.")
        transport = transport_fault(state, outcome, gave_up.response())
        if transport is not None:
            return transport
    seed = values.get("seed") if isinstance(values.get("seed"), int) else None
    task = new_task(_PROVIDER, model, size, _FORMATS[output_format], seed, plan.applied, outcome)
    task.extra["input"] = {k: v for k, v in values.items() if k not in ("prompt", "input_images")}
    if cancel_after is not None:
        task.extra["cancel_after_s"] = cancel_after
    state.tasks.add(task)
    status = "starting"
    hold = _wait_seconds(request.headers.get("prefer"))
    if hold is not None:
        held = time.monotonic() + hold
        while status in ("starting", "processing") and time.monotonic() < held:
            await asyncio.sleep(_HOLD_STEP_S)
            status = _status(task)
    document = _prediction(state, request, task, status)
    return Response(orjson.dumps(document), 201, media_type="application/json")


def _wait_seconds(prefer: str | None) -> float | None:
    if prefer is None:
        return None
    value = prefer.strip().lower()
    if value == "wait":
        return 60.0
    if value.startswith("wait="):
        try:
            return float(min(60, max(1, int(value[5:]))))
        except ValueError:
            return None
    return None


def replicate_routes(state: SandboxState) -> list[Route]:
    """Replicate's create, get and cancel routes over this sandbox's state."""

    async def create(request: Request) -> Response | ASGIApp:
        model = f"{request.path_params['owner']}/{request.path_params['name']}"
        record = state.requests.start(request_id_of(request), request.method, request.url.path)
        record.model = model
        try:
            answer = await _create(state, request, model)
        except ReplicateError as error:
            answer = error.response()
        record.status = answer.status_code if isinstance(answer, Response) else None
        return answer

    async def prediction(request: Request) -> Response:
        record = state.requests.start(request_id_of(request), request.method, request.url.path)
        try:
            _check_key(state, request)
            task = state.tasks.get(request.path_params["id"], _PROVIDER)
            if task is None:
                raise ReplicateError(404, "Not found", "Prediction not found")
            if request.method == "POST":
                task.cancelled = True
                document = _prediction(state, request, task, "canceled")
            else:
                document = _prediction(state, request, task, _status(task))
            answer = Response(orjson.dumps(document), media_type="application/json")
        except ReplicateError as error:
            answer = error.response()
        record.status = answer.status_code
        return answer

    return [
        Route("/v1/models/{owner}/{name}/predictions", create, methods=["POST"]),
        Route("/v1/predictions/{id}", prediction, methods=["GET"]),
        Route("/v1/predictions/{id}/cancel", prediction, methods=["POST"]),
    ]
