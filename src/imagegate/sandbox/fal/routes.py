"""fal's queue: ``POST /{app}[/{subpath}]`` (submit), ``GET .../requests/{id}/status``,
``GET .../requests/{id}`` (result), ``PUT .../requests/{id}/cancel``; key in ``Authorization: Key``.

The subpath (``/edit``, ``/klein/4b``) is used only on submit: the status, result and cancel
URLs name the app (``fal-ai/flux-2``) and the request id. A submit answers ``IN_QUEUE`` with the
three URLs; the status goes ``IN_QUEUE`` -> ``IN_PROGRESS`` -> ``COMPLETED``; the result holds
``images[]`` on the result host (``sandbox.tasks``), ``seed`` and ``has_nsfw_concepts``. Errors are
``{"detail": [...]}`` with ``x-fal-error-type`` and ``x-fal-retryable``. Directives: docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.render import inspect_data_url
from imagegate.sandbox.task_store import Task, new_task
from imagegate.sandbox.tasks import DirectiveRejected, request_id_of, result_url, task_plan, transport_fault

__all__ = ["fal_routes"]

_PROVIDER = "fal"
# Endpoint -> (max reference images, whether num_images is accepted). Edits add "/edit".
_MODELS: dict[str, tuple[int, bool]] = {
    "fal-ai/flux-2-pro": (8, False),
    "fal-ai/flux-2-max": (8, False),
    "fal-ai/flux-2-flex": (8, True),
    "fal-ai/flux-2": (4, True),
    "fal-ai/flux-2/klein/4b": (4, True),
    "fal-ai/flux-2/klein/9b": (4, True),
    "fal-ai/flux/schnell": (0, True),
    "fal-ai/flux/dev": (0, True),
}
_NAMED_SIZES = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}


class FalError(Exception):
    """An error answer with fal's headers."""

    def __init__(
        self, status: int, detail: Any, error_type: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        if error_type is not None:
            self.headers["x-fal-error-type"] = error_type
            self.headers["x-fal-retryable"] = "true" if status >= 500 or status == 429 else "false"

    def response(self) -> Response:
        """The error as fal sends it."""
        body = orjson.dumps({"detail": self.detail})
        return Response(body, self.status, headers=self.headers, media_type="application/json")


def _invalid(field: str, message: str, kind: str = "value_error") -> FalError:
    return FalError(422, [{"loc": ["body", field], "msg": message, "type": kind}], kind)


def _check_key(state: SandboxState, request: Request) -> None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme != "Key" or key == "" or (state.config.api_keys is not None and key not in state.config.api_keys):
        raise FalError(401, "No user found for Key ID and Secret")


def _size(body: dict[str, Any], references: list[tuple[int, int]]) -> tuple[int, int]:
    value = body.get("image_size")
    if value is None or value == "auto":
        return references[0] if references else _NAMED_SIZES["landscape_4_3"]
    if isinstance(value, str):
        if value not in _NAMED_SIZES:
            raise _invalid("image_size", f"Input should be one of {', '.join(_NAMED_SIZES)}", "enum")
        return _NAMED_SIZES[value]
    if not isinstance(value, dict):
        raise _invalid("image_size", "Input should be a valid dictionary or enum", "dict_type")
    width, height = value.get("width"), value.get("height")
    if not isinstance(width, int) or not isinstance(height, int) or width < 64 or height < 64:
        raise _invalid("image_size", "width and height must be integers of at least 64")
    if width * height > 4 * 1024 * 1024:
        raise FalError(
            422,
            [{"loc": ["body", "image_size"], "msg": "Image too large", "type": "image_too_large"}],
            "image_too_large",
        )
    return width, height


def _references(body: dict[str, Any], edit: bool, limit: int) -> list[tuple[int, int]]:
    urls = body.get("image_urls")
    if not edit:
        return []
    if not isinstance(urls, list) or not urls:
        raise _invalid("image_urls", "Field required", "missing")
    if len(urls) > limit:
        raise _invalid("image_urls", f"at most {limit} images")
    sizes = []
    for url in urls:
        info = inspect_data_url(url)
        if info is None:
            raise _invalid("image_urls", "the sandbox takes data URLs of PNG, JPEG or WebP images")
        sizes.append((info.width, info.height))
    return sizes


def _fault_error(name: str, seconds: float | None) -> FalError | None:
    if name == "429":
        wait = 1.0 if seconds is None else seconds
        return FalError(429, "Too many requests", "rate_limited", {"retry-after": str(math.ceil(wait))})
    if name == "401":
        return FalError(401, "No user found for Key ID and Secret")
    if name == "quota":
        return FalError(403, "User is locked. Reason: Exhausted balance.", "exhausted_balance")
    if name in ("500", "502", "503"):
        return FalError(int(name), "Internal server error", "internal_server_error")
    return None


def _app_and_sub(path: str) -> tuple[str, str]:
    owner, _, rest = path.partition("/")
    app, _, sub = rest.partition("/")
    return f"{owner}/{app}", sub


async def _submit(state: SandboxState, request: Request, endpoint: str) -> Response | ASGIApp:
    _check_key(state, request)
    edit = endpoint.endswith("/edit")
    model_id = endpoint.removesuffix("/edit")
    if model_id not in _MODELS or (edit and _MODELS[model_id][0] == 0):
        raise FalError(404, f"Application '{endpoint}' not found")
    max_refs, takes_count = _MODELS[model_id]
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise _invalid("body", "JSON decode error", "json_invalid") from None
    if not isinstance(body, dict):
        raise _invalid("body", "Input should be a valid dictionary", "dict_type")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or prompt == "":
        raise _invalid("prompt", "Field required", "missing")
    output_format = body.get("output_format", "jpeg")
    if output_format not in ("jpeg", "png"):
        raise _invalid("output_format", "Input should be 'jpeg' or 'png'", "enum")
    count = body.get("num_images", 1)
    if "num_images" in body and not takes_count:
        raise _invalid("num_images", "Extra inputs are not permitted", "extra_forbidden")
    if not isinstance(count, int) or not 1 <= count <= 4:
        raise _invalid("num_images", "Input should be between 1 and 4")
    seed = body.get("seed")
    references = _references(body, edit, max_refs)
    size = _size(body, references)
    try:
        plan = task_plan(state, request, endpoint, prompt)
    except DirectiveRejected as rejected:
        raise _invalid("prompt", str(rejected)) from None
    if plan.delay_s > 0:
        await asyncio.sleep(plan.delay_s)
    outcome = plan.outcome
    if outcome is not None:
        error = _fault_error(outcome.name, outcome.seconds)
        if error is not None:
            raise error
        gave_up = FalError(504, "Request timed out", "generation_timeout").response()
        transport = transport_fault(state, outcome, gave_up)
        if transport is not None:
            return transport
    seed_value = seed if isinstance(seed, int) else None
    task = new_task(_PROVIDER, endpoint, size, output_format, seed_value, plan.applied, outcome, count=count)
    state.tasks.add(task)
    app, _ = _app_and_sub(endpoint)
    base = f"{str(request.base_url).rstrip('/')}/{app}/requests/{task.id}"
    answer = {
        "status": "IN_QUEUE",
        "request_id": task.id,
        "response_url": base,
        "status_url": f"{base}/status",
        "cancel_url": f"{base}/cancel",
        "queue_position": 0,
    }
    return Response(orjson.dumps(answer), media_type="application/json", headers={"x-fal-request-id": task.id})


def _status(task: Task) -> dict[str, Any]:
    step = task.advance()
    if step == "running":
        if task.polls <= 1:
            return {"status": "IN_QUEUE", "queue_position": 0}
        return {"status": "IN_PROGRESS", "logs": [{"message": "generating", "level": "INFO"}]}
    completed: dict[str, Any] = {"status": "COMPLETED", "logs": None, "metrics": {"inference_time": 1.0}}
    if step == "error":
        completed.update(error="Internal server error", error_type="internal_server_error")
    if step == "cancelled":
        completed.update(error="Request was cancelled", error_type="request_cancelled")
    return completed


def _result(state: SandboxState, request: Request, task: Task) -> Response:
    if task.ending == "moderated-input" and task.polls > 0:
        detail = [
            {
                "loc": ["body", "prompt"],
                "msg": "The content could not be processed.",
                "type": "content_policy_violation",
            }
        ]
        return FalError(422, detail, "content_policy_violation").response()
    if task.polls == 0 or task.ending == "never" or task.cancelled or task.polls_left > 0:
        return FalError(400, "Request is still in progress").response()
    if task.ending == "error":
        return FalError(500, "Internal server error", "internal_server_error").response()
    mime = "image/png" if task.output_format == "png" else "image/jpeg"
    images = [
        {"url": result_url(state, request, task, i), "width": task.width, "height": task.height, "content_type": mime}
        for i in range(task.count)
    ]
    flagged = task.ending == "moderated-output"
    document = {
        "images": images,
        "seed": task.seed,
        "has_nsfw_concepts": [flagged] * task.count,
        "timings": {"inference": 1.0},
        "prompt": "",
    }
    return Response(orjson.dumps(document), media_type="application/json", headers={"x-fal-request-id": task.id})


def _cancel(task: Task) -> Response:
    if task.ending != "never" and task.polls_left == 0 and task.polls > 0:
        return Response(orjson.dumps({"status": "ALREADY_COMPLETED"}), 400, media_type="application/json")
    task.cancelled = True
    return Response(orjson.dumps({"status": "CANCELLATION_REQUESTED"}), 202, media_type="application/json")


def fal_routes(state: SandboxState) -> list[Route]:
    """fal's queue routes over this sandbox's state (every app under ``fal-ai/``)."""

    async def queue(request: Request) -> Response | ASGIApp:
        path = "fal-ai/" + request.path_params["rest"]
        record = state.requests.start(request_id_of(request), request.method, request.url.path)
        try:
            if request.method == "POST":
                record.model = path
                answer: Response | ASGIApp = await _submit(state, request, path)
            else:
                answer = _queue_read(state, request, path)
        except FalError as error:
            answer = error.response()
        record.status = answer.status_code if isinstance(answer, Response) else None
        return answer

    return [Route("/fal-ai/{rest:path}", queue, methods=["GET", "POST", "PUT"])]


def _queue_read(state: SandboxState, request: Request, path: str) -> Response:
    _check_key(state, request)
    head, marker, tail = path.partition("/requests/")
    request_id, _, action = tail.partition("/")
    task = state.tasks.get(request_id, _PROVIDER) if marker else None
    if task is None or _app_and_sub(task.model)[0] != head:
        raise FalError(404, f"Request '{request_id}' not found")
    if request.method == "PUT" and action == "cancel":
        return _cancel(task)
    if request.method == "GET" and action == "status":
        return Response(orjson.dumps(_status(task)), media_type="application/json")
    if request.method == "GET" and action == "":
        return _result(state, request, task)
    raise FalError(405, "Method Not Allowed")
