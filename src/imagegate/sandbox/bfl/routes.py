"""``POST /v1/{model}`` (submit) and ``GET /v1/get_result?id=`` (poll), as BFL answers them.

Submit answers ``{id, polling_url, cost, input_mp, output_mp}``; each poll answers 200 with a
``status``: ``Pending`` for a few polls, then ``Ready`` with a signed ``result.sample`` URL on the
result host (``sandbox.tasks``), or ``Request Moderated`` / ``Content Moderated`` / ``Error``;
an unknown id is ``Task not found``. Errors are FastAPI's ``{"detail": ...}``: 422 for a body BFL's
schema refuses, 401 for a bad ``x-key``, 402 out of credits, 429 with ``Retry-After``, 5xx.
Directives: see docs/sandbox.md ("Submit-and-poll hosts").
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import time
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from imagegate.sandbox.bfl.models import (
    MAX_PIXELS,
    MODELS,
    OUTPUT_FORMATS,
    FluxModel,
    billed_megapixels,
    credits,
    reported_megapixels,
)
from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.render import inspect_image
from imagegate.sandbox.task_store import Task, new_task
from imagegate.sandbox.tasks import DirectiveRejected, request_id_of, result_url, task_plan, transport_fault

__all__ = ["bfl_routes"]

_PROVIDER = "bfl"


class BflError(Exception):
    """An error answer: status and FastAPI ``detail`` (a string or a list of ``{loc, msg, type}``)."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def response(self) -> Response:
        """The error as BFL sends it."""
        return Response(
            orjson.dumps({"detail": self.detail}), self.status, headers=self.headers, media_type="application/json"
        )


def _invalid(field: str, message: str, kind: str = "value_error") -> BflError:
    return BflError(422, [{"loc": ["body", field], "msg": message, "type": kind}])


def _check_key(state: SandboxState, request: Request) -> None:
    key = request.headers.get("x-key", "").strip()
    if key == "" or (state.config.api_keys is not None and key not in state.config.api_keys):
        raise BflError(401, "Invalid or missing API key (x-key)")


def _int_field(body: dict[str, Any], field: str, low: int, high: int) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, "Input should be a valid integer", "int_type")
    if not low <= value <= high:
        raise _invalid(field, f"Input should be between {low} and {high}")
    return value


def _reference_sizes(body: dict[str, Any], model: FluxModel) -> list[tuple[int, int]]:
    sizes = []
    for index in range(1, 9):
        field = "input_image" if index == 1 else f"input_image_{index}"
        value = body.get(field)
        if value is None:
            continue
        if index > model.max_refs:
            raise _invalid(field, f"this model accepts at most {model.max_refs} reference images")
        if not isinstance(value, str):
            raise _invalid(field, "Input should be a valid string", "string_type")
        try:
            info = inspect_image(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            info = None
        if info is None:
            raise _invalid(field, "the sandbox takes reference images as base64 (not URLs) of PNG, JPEG or WebP")
        sizes.append((info.width, info.height))
    return sizes


def _output_size(body: dict[str, Any], references: list[tuple[int, int]]) -> tuple[int, int]:
    width = _int_field(body, "width", 0, 8192)
    height = _int_field(body, "height", 0, 8192)
    if width in (None, 0) or height in (None, 0):
        # Auto: the first reference image's size (on the 16-pixel grid), else 1 MP square.
        if not references:
            return 1024, 1024
        w, h = references[0]
        scale = min(1.0, math.sqrt(MAX_PIXELS / (w * h)))
        return max(64, int(w * scale) // 16 * 16), max(64, int(h * scale) // 16 * 16)
    assert width is not None and height is not None
    for field, value in (("width", width), ("height", height)):
        if value < 64:
            raise _invalid(field, "Input should be greater than or equal to 64")
        if value % 16:
            raise _invalid(field, "must be a multiple of 16")
    if width * height > MAX_PIXELS:
        raise _invalid("width", "width x height must be at most 4 megapixels")
    return width, height


def _fault_error(name: str, seconds: float | None) -> BflError | None:
    if name == "429":
        wait = 1.0 if seconds is None else seconds
        return BflError(
            429, "You have exceeded the number of active tasks (24).", {"retry-after": str(math.ceil(wait))}
        )
    if name == "quota":
        return BflError(402, "Insufficient credits. Add credits at https://dashboard.bfl.ai.")
    if name == "401":
        return BflError(401, "Invalid or missing API key (x-key)")
    if name in ("500", "502", "503"):
        return BflError(int(name), "Internal Server Error" if name == "500" else "Service Unavailable")
    return None


async def _submit(state: SandboxState, request: Request, model_id: str) -> Response | ASGIApp:
    _check_key(state, request)
    model = MODELS.get(model_id)
    if model is None:
        raise BflError(404, "Not Found")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BflError(422, [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]) from None
    if not isinstance(body, dict):
        raise _invalid("body", "Input should be a valid dictionary", "dict_type")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or prompt == "":
        raise _invalid("prompt", "Field required", "missing")
    output_format = body.get("output_format", "jpeg")
    if output_format not in OUTPUT_FORMATS:
        raise _invalid("output_format", "Input should be 'jpeg', 'png' or 'webp'", "enum")
    _int_field(body, "safety_tolerance", 0, 5)
    seed = _int_field(body, "seed", 0, 2**63 - 1)
    references = _reference_sizes(body, model)
    size = _output_size(body, references)
    try:
        plan = task_plan(state, request, model_id, prompt)
    except DirectiveRejected as rejected:
        raise _invalid("prompt", str(rejected)) from None
    if plan.delay_s > 0:
        await asyncio.sleep(plan.delay_s)
    outcome = plan.outcome
    if outcome is not None:
        error = _fault_error(outcome.name, outcome.seconds)
        if error is not None:
            raise error
        transport = transport_fault(state, outcome, BflError(504, "Gateway Timeout").response())
        if transport is not None:
            return transport
    now = time.time()
    running = sum(
        1 for t in state.tasks.tasks.values() if t.provider == _PROVIDER and t.active(now, state.config.hang_max_s)
    )
    if running >= state.config.bfl_max_active_tasks:
        raise BflError(
            429,
            f"You have exceeded the number of active tasks ({state.config.bfl_max_active_tasks}).",
            {"retry-after": "1"},
        )
    task = state.tasks.add(new_task(_PROVIDER, model_id, size, output_format, seed, plan.applied, outcome))
    billed_in = sum((billed_megapixels(w, h) for w, h in references), Decimal(0))
    cost = credits(model, billed_megapixels(*size), billed_in)
    output_mp = reported_megapixels(*size)
    input_mp = sum((reported_megapixels(w, h) for w, h in references), Decimal(0))
    answer = {
        "id": task.id,
        "polling_url": f"{str(request.base_url).rstrip('/')}/v1/get_result?id={task.id}",
        "cost": float(cost),
        "input_mp": float(input_mp),
        "output_mp": float(output_mp),
    }
    return Response(orjson.dumps(answer), media_type="application/json")


def _status(state: SandboxState, request: Request, task: Task) -> dict[str, Any]:
    step = task.advance()
    if step == "running":
        return {"id": task.id, "status": "Pending", "result": None, "progress": min(0.9, 0.3 * task.polls)}
    if step == "ready":
        sample = result_url(state, request, task)
        return {"id": task.id, "status": "Ready", "result": {"sample": sample, "seed": task.seed}, "progress": 1.0}
    statuses = {
        "moderated-input": "Request Moderated",
        "moderated-output": "Content Moderated",
        "error": "Error",
        "cancelled": "Task not found",
    }
    document: dict[str, Any] = {"id": task.id, "status": statuses[step], "result": None}
    if step.startswith("moderated"):
        document["details"] = {"Moderation Reasons": ["sandbox directive"]}
    return document


def bfl_routes(state: SandboxState) -> list[Route]:
    """BFL's submit and poll routes over this sandbox's state."""

    async def submit(request: Request) -> Response | ASGIApp:
        model_id = request.path_params["model"]
        record = state.requests.start(request_id_of(request), request.method, request.url.path)
        record.model = model_id
        try:
            answer = await _submit(state, request, model_id)
        except BflError as error:
            answer = error.response()
        record.status = answer.status_code if isinstance(answer, Response) else None
        return answer

    async def get_result(request: Request) -> Response:
        record = state.requests.start(request_id_of(request), request.method, request.url.path)
        try:
            _check_key(state, request)
        except BflError as error:
            record.status = error.status
            return error.response()
        task_id = request.query_params.get("id", "")
        task = state.tasks.get(task_id, _PROVIDER)
        document = {"id": task_id, "status": "Task not found"} if task is None else _status(state, request, task)
        if task is not None:
            record.model = task.model
        record.status = 200
        return Response(orjson.dumps(document), media_type="application/json")

    return [
        Route("/v1/get_result", get_result, methods=["GET"]),
        Route("/v1/{model:str}", submit, methods=["POST"]),
    ]
