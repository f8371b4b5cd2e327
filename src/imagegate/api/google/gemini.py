"""Google-dialect routes at the gateway's root: ``POST /{v1beta|v1}/models/{model}:{method}``.

``generateContent`` and ``streamGenerateContent?alt=sse`` speak the Gemini dialect, ``predict``
the Imagen dialect (``api/google/imagen``). Both API versions are served because google-genai 3.x
calls ``/v1/...`` and older clients ``/v1beta/...``. Keys come in ``x-goog-api-key`` or ``?key=``;
errors are Google-shaped. ``GET /v1beta/models`` (and ``GET /v1/models`` with a Google-style key,
dispatched by ``api/routes``) lists the caller's models Google's way.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.accounting.auth import Principal
from imagegate.api.google import imagen
from imagegate.api.google.errors import error_response, missing_key_response, stream_error_frame
from imagegate.api.google.gemini_parse import DIALECT, parse_generate_content
from imagegate.api.google.gemini_render import blocked_body, emulated_frames, is_answer, render_result, sse
from imagegate.api.google.surface import GEMINI_API, GoogleSurface, models_path
from imagegate.api.http import google_api_key, new_request_id, request_tags, while_connected
from imagegate.api.idempotency import idempotent, replays_response
from imagegate.api.passthrough import body_response
from imagegate.api.route_pin import pin_route
from imagegate.api.served_headers import passthrough_headers, served_headers, stream_headers
from imagegate.api.sse import passthrough_response, sse_response
from imagegate.domain.errors import ImagegateError, InvalidRequest, ProviderError
from imagegate.domain.request import ImageRequest
from imagegate.service.gateway import Gateway
from imagegate.service.images import BodyStream


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def model_action(request: Request, surface: GoogleSurface = GEMINI_API) -> Response:
    """``POST /{version}/models/{model}:{method}``: dispatch on the method after the last colon."""
    model, _, method = request.path_params["target"].rpartition(":")
    if method == "predict":
        return await imagen.predict(request, model, surface)
    if method in ("generateContent", "streamGenerateContent"):
        return await generate_content(request, model, stream=method == "streamGenerateContent", surface=surface)
    return error_response(
        InvalidRequest(f"Method '{method}' is not served here; use generateContent, streamGenerateContent or predict."),
        new_request_id(),
        surface,
    )


async def generate_content(
    request: Request, model: str, *, stream: bool, surface: GoogleSurface = GEMINI_API
) -> Response:
    """One ``generateContent`` / ``streamGenerateContent`` call, through the shared pipeline."""
    request_id = new_request_id()
    gateway = _gateway(request)
    secret = google_api_key(request)
    if secret is None:
        return missing_key_response(request_id, surface)
    try:
        if stream and request.query_params.get("alt") != "sse":
            raise InvalidRequest(
                "streamGenerateContent is served as server-sent events only: add ?alt=sse.", param="alt"
            )
        principal = await gateway.authenticate(secret, tags=request_tags(request))
        image_request = await parse_generate_content(request, model, stream=stream, limits=gateway.limits)
        return await idempotent(
            request,
            gateway,
            principal,
            image_request,
            lambda: _serve(request, gateway, principal, image_request, model, request_id, surface),
        )
    except ImagegateError as error:
        return error_response(error, request_id, surface)


async def _serve(
    request: Request,
    gateway: Gateway,
    principal: Principal,
    image_request: ImageRequest,
    model: str,
    request_id: str,
    surface: GoogleSurface,
) -> Response:
    stream = image_request.stream
    try:
        plan = gateway.plan(request_id, image_request, principal)
        pin_route(request, plan)
        if stream and not plan.emulated_stream:
            session = await gateway.images.open_stream(plan)
            return passthrough_response(
                session, stream_headers(session, request_id, models_path=models_path(request)), stream_error_frame
            )
        if stream or replays_response(request, gateway):
            # A kept (idempotent) answer is stored whole; an emulated stream needs the result.
            served = await while_connected(request, gateway.images.serve(plan, keep_raw_for=DIALECT))
        else:
            # The provider's own body passes through as it arrives (its cost in the body's end).
            outcome = await while_connected(request, gateway.images.serve_passthrough(plan, dialect=DIALECT))
            if isinstance(outcome, BodyStream):
                return body_response(
                    outcome, passthrough_headers(outcome.route, request_id, models_path=models_path(request))
                )
            served = outcome
    except ImagegateError as error:
        if isinstance(error, ProviderError) and is_answer(error):
            # Google answers a blocked prompt or a missing image with HTTP 200, not an error.
            body = blocked_body(error, model=model, response_id=request_id)
            headers = {"x-request-id": request_id}
            if stream:
                return sse_response([sse(body)], headers)
            return Response(body, media_type="application/json", headers=headers)
        return error_response(error, request_id, surface)
    headers = served_headers(served, request_id, models_path=models_path(request))
    if stream:
        frames: Iterator[bytes] = emulated_frames(served, model=model, response_id=request_id)
        return sse_response(frames, headers)
    return Response(
        render_result(served, model=model, response_id=request_id), headers=headers, media_type="application/json"
    )


async def list_models(request: Request, surface: GoogleSurface = GEMINI_API) -> Response:
    """``GET /{version}/models``: the aliases this key may use, in Google's ``ListModels`` shape."""
    request_id = new_request_id()
    gateway = _gateway(request)
    secret = google_api_key(request)
    if secret is None:
        return missing_key_response(request_id, surface)
    try:
        principal = await gateway.authenticate(secret)
    except ImagegateError as error:
        return error_response(error, request_id, surface)
    models = [surface.model_entry(alias.name, alias.description) for alias in gateway.visible_aliases(principal)]
    return Response(
        orjson.dumps({surface.models_field: models}),
        media_type="application/json",
        headers={"x-request-id": request_id},
    )


async def get_model(request: Request, surface: GoogleSurface = GEMINI_API) -> Response:
    """``GET /v1beta/models/{model}``: one alias, Google's ``Model`` shape (404 ``NOT_FOUND`` otherwise)."""
    request_id = new_request_id()
    gateway = _gateway(request)
    secret = google_api_key(request)
    if secret is None:
        return missing_key_response(request_id, surface)
    name = request.path_params["target"].removeprefix("models/")
    try:
        principal = await gateway.authenticate(secret)
        alias = gateway.routes.resolve(name)
        principal.check_model(alias.name)
    except ImagegateError as error:
        return error_response(error, request_id, surface)
    return Response(
        orjson.dumps(surface.model_entry(alias.name, alias.description)),
        media_type="application/json",
        headers={"x-request-id": request_id},
    )


routes = [
    Route("/v1beta/models", list_models, methods=["GET"]),
    Route("/v1beta/models/{target}", model_action, methods=["POST"]),
    Route("/v1beta/models/{target}", get_model, methods=["GET"]),
    Route("/v1/models/{target}", model_action, methods=["POST"]),
]
