"""``POST /v1/responses``: the Responses API with the ``image_generation`` tool.

Served by the one pipeline: an OpenAI route receives the client's body as sent and its answer
(JSON or the event stream) is forwarded unchanged; an image-only alias with
``responses_emulation`` answers a ``Response`` built from its Images result, marked
``x-imagegate-emulated: responses``. Errors use OpenAI's envelope; a failure after a stream
started is an ``error`` event.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.accounting.auth import Principal
from imagegate.api.http import bearer_token, new_request_id, read_body, while_connected
from imagegate.api.idempotency import idempotent
from imagegate.api.openai.errors import error_response, error_status_and_body
from imagegate.api.openai.responses_parse import DIALECT, parse_response_request
from imagegate.api.openai.responses_render import EmulatedResponse
from imagegate.api.route_pin import pin_route
from imagegate.api.served_headers import served_headers, stream_headers
from imagegate.api.sse import passthrough_response, sse_response
from imagegate.domain.errors import ImagegateError
from imagegate.domain.request import ImageRequest
from imagegate.service.gateway import Gateway

EMULATED_HEADER = "x-imagegate-emulated"


def stream_error_frame(error: ImagegateError) -> bytes:
    """A Responses ``error`` event for a failure after the stream started."""
    _, body = error_status_and_body(error)
    inner = body.get("error", {})
    payload = {
        "type": "error",
        "code": inner.get("code"),
        "message": inner.get("message", "error"),
        "param": inner.get("param"),
        "sequence_number": 0,
    }
    return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"


async def create_response(request: Request) -> Response:
    """``POST /v1/responses`` (``Idempotency-Key`` honoured for non-streamed calls)."""
    request_id = new_request_id()
    gateway: Gateway = request.app.state.gateway
    try:
        principal = await gateway.authenticate(bearer_token(request))
        body = await read_body(request, gateway.limits.max_body_bytes)
        image_request = await parse_response_request(body, gateway.limits)
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
        plan = gateway.plan(request_id, image_request, principal)
        pin_route(request, plan)
        if image_request.stream and not plan.emulated_stream:
            session = await gateway.images.open_stream(plan)
            headers = stream_headers(session, request_id, models_path="/v1/models/")
            return passthrough_response(session, headers, stream_error_frame)
        served = await while_connected(request, gateway.images.serve(plan, keep_raw_for=DIALECT))
    except ImagegateError as error:
        return error_response(error, request_id)
    headers = served_headers(served, request_id, models_path="/v1/models/")
    raw = served.result.raw_body
    if raw is not None and served.result.raw_dialect == DIALECT:
        return Response(raw, headers=headers, media_type="application/json")
    headers[EMULATED_HEADER] = "responses"
    emulated = EmulatedResponse(served, image_request, image_request.native or {})
    if image_request.stream:
        return sse_response(emulated.events(), headers)
    return Response(orjson.dumps(emulated.response(done=True)), headers=headers, media_type="application/json")


routes = [Route("/v1/responses", create_response, methods=["POST"])]
