"""OpenAI Images dialect routes: ``/v1/images/generations``, ``/v1/images/edits``, ``/v1/models``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.accounting.auth import Principal
from imagegate.api.http import bearer_token, new_request_id, request_tags, while_connected
from imagegate.api.idempotency import idempotent, replays_response
from imagegate.api.model_cards import model_cards
from imagegate.api.openai.errors import error_response, stream_error_frame
from imagegate.api.openai.fields import delivery
from imagegate.api.openai.parse import DIALECT, parse_edit, parse_generation
from imagegate.api.openai.render import emulated_stream, render_result
from imagegate.api.openai.urls import stored_response, url_response_request
from imagegate.api.passthrough import body_response
from imagegate.api.route_pin import pin_route
from imagegate.api.served_headers import passthrough_headers, served_headers, stream_headers
from imagegate.api.sse import passthrough_response, sse_response
from imagegate.domain.errors import ImagegateError, InvalidRequest
from imagegate.domain.request import ImageRequest
from imagegate.service.gateway import Gateway
from imagegate.service.images import BodyStream

Parser = Callable[[Request, object], Awaitable[ImageRequest]]


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _images_endpoint(request: Request, parse: Callable[..., Awaitable[ImageRequest]]) -> Response:
    request_id = new_request_id()
    gateway = _gateway(request)
    try:
        principal = await gateway.authenticate(bearer_token(request), tags=request_tags(request))
        image_request = await parse(request, gateway.limits)
        delivery(image_request.response_format, storage_available=gateway.storage_available)
        return await idempotent(
            request,
            gateway,
            principal,
            image_request,
            lambda: _serve(request, image_request, gateway, principal, request_id),
        )
    except ImagegateError as error:
        return error_response(error, request_id)


async def _serve(
    request: Request, image_request: ImageRequest, gateway: Gateway, principal: Principal, request_id: str
) -> Response:
    try:
        image_request, storage = url_response_request(request, image_request)
        plan = gateway.plan(request_id, image_request, principal)
        pin_route(request, plan)
        if image_request.stream and not plan.emulated_stream:
            session = await gateway.images.open_stream(plan)
            return passthrough_response(
                session, stream_headers(session, request_id, models_path="/v1/models/"), stream_error_frame
            )
        if storage is None and not image_request.stream and not replays_response(request, gateway):
            # The provider's own body passes through as it arrives (its cost in the body's end).
            outcome = await while_connected(request, gateway.images.serve_passthrough(plan, dialect=DIALECT))
            if isinstance(outcome, BodyStream):
                headers = passthrough_headers(outcome.route, request_id, models_path="/v1/models/")
                return body_response(outcome, headers)
            served = outcome
        else:
            # A URL response needs the images themselves; a kept (idempotent) answer is stored whole.
            keep_raw_for = DIALECT if storage is None else None
            served = await while_connected(request, gateway.images.serve(plan, keep_raw_for=keep_raw_for))
        if storage is not None:
            body = await stored_response(request, storage, served, principal, request_id)
    except ImagegateError as error:
        return error_response(error, request_id)
    # Cost, route, the size actually produced, and lifecycle (Deprecation/Sunset) headers.
    headers = served_headers(served, request_id, models_path="/v1/models/")
    if storage is not None:
        return Response(body, headers=headers, media_type="application/json")
    if image_request.stream:
        # A provider that cannot stream in this dialect: its finished result, re-emitted as SSE.
        return sse_response(emulated_stream(served, image_request.operation), headers)
    return Response(render_result(served), headers=headers, media_type="application/json")


async def generations(request: Request) -> Response:
    """``POST /v1/images/generations``."""
    return await _images_endpoint(request, parse_generation)


async def edits(request: Request) -> Response:
    """``POST /v1/images/edits``."""
    return await _images_endpoint(request, parse_edit)


async def variations(request: Request) -> Response:
    """``POST /v1/images/variations``: retired upstream (DALL·E 2 only); answered clearly."""
    return error_response(
        InvalidRequest("Image variations are no longer supported; use /v1/images/edits.", param=None),
        new_request_id(),
    )


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: the aliases this key may use."""
    request_id = new_request_id()
    gateway = _gateway(request)
    try:
        principal = await gateway.authenticate(bearer_token(request))
    except ImagegateError as error:
        return error_response(error, request_id)
    data = model_cards(gateway, gateway.visible_aliases(principal))
    return Response(
        orjson.dumps({"object": "list", "data": data}),
        media_type="application/json",
        headers={"x-request-id": request_id},
    )


async def retrieve_model(request: Request) -> Response:
    """``GET /v1/models/{model}``: one alias this key may use (google-genai 3.x ``models.get`` too)."""
    request_id = new_request_id()
    gateway = _gateway(request)
    try:
        principal = await gateway.authenticate(bearer_token(request))
        alias = gateway.routes.resolve(request.path_params["target"])
        principal.check_model(alias.name)
    except ImagegateError as error:
        return error_response(error, request_id)
    [card] = model_cards(gateway, [alias])
    return Response(orjson.dumps(card), media_type="application/json", headers={"x-request-id": request_id})


routes = [
    Route("/v1/images/generations", generations, methods=["POST"]),
    Route("/v1/images/edits", edits, methods=["POST"]),
    Route("/v1/images/variations", variations, methods=["POST"]),
]
