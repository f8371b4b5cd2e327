"""The Imagen dialect: ``POST /{v1beta|v1}/models/{model}:predict`` (dispatched by ``gemini_routes``).

An Imagen route's body is forwarded as received. A result from another provider (typically the
Gemini image model that replaced a shut-down Imagen model) is written as Imagen would:
``{"predictions": [{"bytesBase64Encoded", "mimeType"}, ...]}``. An answer whose every image was
filtered is, as on Imagen, a 200: ``predictions`` holding one ``raiFilteredReason``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from imagegate.accounting.auth import Principal
from imagegate.api.google.errors import error_response, missing_key_response
from imagegate.api.google.imagen_parse import DIALECT, parse_predict
from imagegate.api.google.surface import GEMINI_API, GoogleSurface, models_path
from imagegate.api.http import google_api_key, new_request_id, request_tags, while_connected
from imagegate.api.idempotency import idempotent
from imagegate.api.route_pin import pin_route
from imagegate.api.served_headers import served_headers
from imagegate.domain.errors import ImagegateError, ModerationBlocked
from imagegate.domain.request import ImageRequest
from imagegate.domain.result import ImageResult
from imagegate.service.gateway import Gateway
from imagegate.service.images import Served


def predict_body(result: ImageResult) -> dict[str, Any]:
    """A ``:predict`` answer for a result decoded from another provider."""
    predictions = []
    for image in result.images:
        mime = image.mime_type if image.mime_type is not None else f"image/{result.output_format or 'png'}"
        predictions.append({"bytesBase64Encoded": image.b64_json or "", "mimeType": mime})
    return {"predictions": predictions}


def render_result(served: Served) -> bytes:
    """The provider's own body when it spoke Imagen; otherwise a translated body."""
    result = served.result
    if result.raw_body is not None and result.raw_dialect == DIALECT:
        return result.raw_body
    return orjson.dumps(predict_body(result))


def filtered_body(error: ModerationBlocked) -> bytes:
    """The 200 body for a request whose images were all filtered or whose prompt was refused."""
    raw_body = error.details.get("raw_body")
    if error.details.get("raw_dialect") == DIALECT and isinstance(raw_body, bytes):
        return raw_body
    return orjson.dumps({"predictions": [{"raiFilteredReason": error.message}]})


async def predict(request: Request, model: str, surface: GoogleSurface = GEMINI_API) -> Response:
    """One ``:predict`` call, through the shared pipeline."""
    request_id = new_request_id()
    gateway: Gateway = request.app.state.gateway
    secret = google_api_key(request)
    if secret is None:
        return missing_key_response(request_id, surface)
    try:
        principal = await gateway.authenticate(secret, tags=request_tags(request))
        image_request = await parse_predict(request, model, limits=gateway.limits)
        return await idempotent(
            request,
            gateway,
            principal,
            image_request,
            lambda: _serve(request, gateway, principal, image_request, request_id, surface),
        )
    except ImagegateError as error:
        return error_response(error, request_id, surface)


async def _serve(
    request: Request,
    gateway: Gateway,
    principal: Principal,
    image_request: ImageRequest,
    request_id: str,
    surface: GoogleSurface,
) -> Response:
    try:
        plan = gateway.plan(request_id, image_request, principal)
        pin_route(request, plan)
        served = await while_connected(request, gateway.images.serve(plan, keep_raw_for=DIALECT))
    except ModerationBlocked as error:
        return Response(filtered_body(error), media_type="application/json", headers={"x-request-id": request_id})
    except ImagegateError as error:
        return error_response(error, request_id, surface)
    headers = served_headers(served, request_id, models_path=models_path(request))
    return Response(render_result(served), headers=headers, media_type="application/json")
