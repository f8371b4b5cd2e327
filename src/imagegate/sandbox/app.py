"""Builds the sandbox's Starlette ASGI app from a :class:`SandboxConfig`.

One module per provider wire format contributes routes (``openai_images``; ``gemini_content`` for
Gemini and, through it, ``imagen_predict``; ``gemini_auth`` for the OAuth token endpoint); this module adds
what every provider shares: ``x-request-id`` on every response, ``/healthz``, the ``/_sandbox/``
control routes, and errors for unknown paths in OpenAI's envelope.
"""

from __future__ import annotations

import logging
import secrets

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagegate.sandbox.bfl import bfl_routes
from imagegate.sandbox.config import SandboxConfig, SandboxState
from imagegate.sandbox.fal import fal_routes
from imagegate.sandbox.faults import FaultStore, RequestLog, control_routes
from imagegate.sandbox.gemini_auth import token_routes
from imagegate.sandbox.gemini_batches import gemini_batch_routes
from imagegate.sandbox.gemini_content import benchmark_image, gemini_routes
from imagegate.sandbox.imagen_predict import answer_predict
from imagegate.sandbox.openai_batches import openai_batch_routes
from imagegate.sandbox.openai_images import benchmark_body, error_response, openai_routes
from imagegate.sandbox.openai_models import OpenAIError
from imagegate.sandbox.openai_responses import responses_routes
from imagegate.sandbox.render import Renderer
from imagegate.sandbox.replicate import replicate_routes
from imagegate.sandbox.tasks import task_routes
from imagegate.sandbox.together import together_routes

__all__ = ["SandboxConfig", "SandboxState", "build_sandbox_app", "new_request_id", "sandbox_state"]

logger = logging.getLogger(__name__)


def new_request_id() -> str:
    """``req_`` + 32 hex digits, like OpenAI's request ids."""
    return "req_" + secrets.token_hex(16)


class RequestIdMiddleware:
    """Gives every HTTP request an id (``scope["state"]["request_id"]``) and every response an
    ``x-request-id`` header. It also turns an unexpected exception into an OpenAI-shaped 500 here,
    inside the header-adding wrapper, so even that response carries the id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("sandbox request %s failed", request_id)
            if started:
                raise
            error = OpenAIError(
                500,
                "The sandbox had an internal error while processing your request.",
                type="server_error",
                code="server_error",
            )
            await error_response(error)(scope, receive, send_with_id)


async def _http_exception(request: Request, exc: Exception) -> Response:
    # Unknown paths and wrong methods answer in the same envelope as every other error.
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed for {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(OpenAIError(exc.status_code, message, code=None))


async def _healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


def build_sandbox_app(config: SandboxConfig | None = None) -> Starlette:
    """A fresh sandbox app; its state (faults, request log, caches) is ``app.state.sandbox``.

    In benchmark mode (``config.fixed_image_bytes``) the canned body is encoded here, once.
    """
    config = SandboxConfig() if config is None else config
    state = SandboxState(
        config=config,
        faults=FaultStore(),
        requests=RequestLog(config.request_log_size),
        renderer=Renderer(config.render_cache_entries),
    )
    if config.fixed_image_bytes is not None:
        state.benchmark = benchmark_body(config.fixed_image_bytes)
        state.gemini_benchmark = benchmark_image(config.fixed_image_bytes)
    routes = [
        Route("/healthz", _healthz, methods=["GET"]),
        *control_routes(state.faults, state.requests),
        *openai_routes(state),
        *responses_routes(state),
        *openai_batch_routes(state),
        *token_routes(state),
        *gemini_batch_routes(state),  # before the model routes: ``{model}:batchGenerateContent``
        *gemini_routes(state, answer_predict),
        *task_routes(state),
        *bfl_routes(state),
        *fal_routes(state),
        *replicate_routes(state),
        *together_routes(state),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={HTTPException: _http_exception},
    )
    app.state.sandbox = state
    return app


def sandbox_state(app: Starlette) -> SandboxState:
    """The :class:`SandboxState` of an app made by :func:`build_sandbox_app`."""
    state = app.state.sandbox
    assert isinstance(state, SandboxState)
    return state
