"""``POST /api/estimate``: the estimator over HTTP (an imagegate key is required).

The body is ``service.estimate.EstimateSpec`` as JSON; the answer lists one object per model in
the order asked, each with its figures or the reason it has none. docs/pricing.md has examples.
"""

from __future__ import annotations

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.api.http import bearer_token, new_request_id, read_body
from imagegate.api.openai.errors import error_response
from imagegate.domain.errors import ImagegateError, InvalidRequest
from imagegate.service.estimate import EstimateSpec, compare

MAX_BODY_BYTES = 64 * 1024


async def post_estimate(request: Request) -> Response:
    """``POST /api/estimate``."""
    request_id = new_request_id()
    state = request.app.state
    try:
        await state.gateway.authenticate(bearer_token(request))
        spec = await _parse(request)
        try:
            results = compare(spec, state.catalog, state.gateway.routes, today=state.today())
        except ValueError as exc:  # the workflow itself (a reference size) is invalid
            raise InvalidRequest(str(exc), param="reference_images") from None
    except ImagegateError as error:
        return error_response(error, request_id)
    body = {
        "object": "imagegate.estimate",
        "workflow": spec.model_dump(mode="json", exclude={"models"}),
        "models": [result.as_dict() for result in results],
    }
    return Response(orjson.dumps(body), media_type="application/json", headers={"x-request-id": request_id})


async def _parse(request: Request) -> EstimateSpec:
    raw = await read_body(request, MAX_BODY_BYTES)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The body must be a JSON object.", param=None) from None
    try:
        return EstimateSpec.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        param = ".".join(str(part) for part in error["loc"]) or None
        raise InvalidRequest(f"{param}: {error['msg']}" if param else error["msg"], param=param) from None


routes = [Route("/api/estimate", post_estimate, methods=["POST"])]
