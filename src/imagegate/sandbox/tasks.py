"""The result host the submit-and-poll hosts (BFL, fal, Replicate) share, and the task listing.

Ready tasks (``sandbox.task_store``) point at signed, expiring URLs on a *result host* that is not the API host
(``SandboxConfig.result_base_url``; by default the same server under its other loopback name,
``localhost`` for ``127.0.0.1`` and back), as BFL's delivery host or fal's media host are.

``GET /_sandbox/tasks`` lists the tasks (polls counted, cancelled or not, whether a provider key was
sent to the result host), so tests can see what the gateway did to them.
"""

from __future__ import annotations

import hmac
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.directives import Directive, DirectiveError, FaultPlan, find_directives, plan_faults
from imagegate.sandbox.faults import HangResponse, ResetResponse
from imagegate.sandbox.render import RenderSpec
from imagegate.sandbox.task_store import Task

__all__ = [
    "DirectiveRejected",
    "request_id_of",
    "result_base",
    "result_url",
    "task_plan",
    "task_routes",
    "transport_fault",
]

_MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def result_base(state: SandboxState, request: Request) -> str:
    """The result host's base URL: configured, or this server under its other loopback name."""
    configured = state.config.result_base_url
    if configured is not None:
        return configured.rstrip("/")
    parts = urlsplit(str(request.base_url))
    host = parts.hostname or "127.0.0.1"
    other = "localhost" if host == "127.0.0.1" else "127.0.0.1"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{other}{port}"


def result_url(state: SandboxState, request: Request, task: Task, index: int = 0) -> str:
    """A signed URL for result file ``index`` of ``task``, valid for ``result_ttl_s``."""
    expires = int(time.time() + state.config.result_ttl_s)
    if task.expired:
        expires = int(time.time()) - 1
    signature = state.tasks.signature(task.id, index, expires)
    return (
        f"{result_base(state, request)}/results/{task.id}/sample-{index}.{task.output_format}"
        f"?se={expires}&sig={signature}"
    )


def request_id_of(request: Request) -> str:
    """The id the sandbox middleware gave this request."""
    return str(request.scope.get("state", {}).get("request_id", ""))


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _render(state: SandboxState, task: Task, index: int) -> bytes:
    spec = RenderSpec(task.width, task.height, task.output_format, False, task.seed + index)
    return state.renderer.render(spec)


def task_routes(state: SandboxState) -> list[Route]:
    """The result host's file route and the ``/_sandbox/tasks`` listing."""

    async def result_file(request: Request) -> Response:
        record = state.requests.start(request_id_of(request), request.method, request.url.path)
        task = state.tasks.tasks.get(request.path_params["task_id"])
        name = request.path_params["name"]
        stem, _, _ext = name.partition(".")
        try:
            index = int(stem.removeprefix("sample-"))
            expires = int(request.query_params.get("se", ""))
        except ValueError:
            index, expires = -1, 0
        signature = request.query_params.get("sig", "")
        valid = task is not None and hmac.compare_digest(signature, state.tasks.signature(task.id, index, expires))
        if task is not None and any(h in request.headers for h in ("x-key", "authorization")):
            task.key_sent_to_result_host = True
        if task is None or not valid or not 0 <= index < task.count:
            record.status = 404
            return Response(b"<Error><Code>BlobNotFound</Code></Error>", 404, media_type="application/xml")
        if expires < time.time():
            # What an expired signed (SAS) URL answers.
            record.status = 403
            return Response(b"<Error><Code>AuthenticationFailed</Code></Error>", 403, media_type="application/xml")
        task.downloads += 1
        data = await run_in_threadpool(_render, state, task, index)
        record.status = 200
        return Response(data, media_type=_MIME.get(task.output_format, "application/octet-stream"))

    async def listing(request: Request) -> Response:
        provider = request.query_params.get("provider")
        tasks = [t.to_json() for t in state.tasks.tasks.values() if provider is None or t.provider == provider]
        return _json({"tasks": tasks})

    return [
        Route("/results/{task_id}/{name}", result_file, methods=["GET"]),
        Route("/_sandbox/tasks", listing, methods=["GET"]),
    ]


class DirectiveRejected(Exception):
    """A prompt directive the sandbox cannot parse; each host answers it as its own 4xx."""


def task_plan(state: SandboxState, request: Request, model: str, prompt: str) -> FaultPlan:
    """The faults for one submit: a queued control-endpoint fault first, then the prompt's directives."""
    queued = state.faults.take(model, request.url.path)
    try:
        from_prompt = find_directives(prompt)
    except DirectiveError as error:
        raise DirectiveRejected(str(error)) from None
    return plan_faults(([queued] if queued is not None else []) + from_prompt)


def transport_fault(state: SandboxState, outcome: Directive | None, gave_up: Response) -> ASGIApp | None:
    """The hang or reset answer for ``outcome``, or None for any other directive."""
    if outcome is None:
        return None
    if outcome.name == "hang":
        return HangResponse(state.config.hang_max_s, gave_up)
    if outcome.name == "reset":
        return ResetResponse(state.transport_lookup)
    return None
