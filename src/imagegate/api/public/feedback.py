"""``POST /v1/images/feedback``: the customer kept (or rejected) a delivered image.

Body: ``{"request_id": "req_...", "image_index": 0, "accepted": true}`` with the imagegate key
that made the request, presented as a bearer token or the Google way (``x-goog-api-key`` or
``?key=``); errors come in the dialect the key was presented in. Answers 200 with the stored verdict, 404 for a request id this key did
not make, 400 for a malformed body or an index past the delivered images. Sending a verdict
again is harmless: the latest one counts (history is kept, see ``accounting.feedback``).
"""

from __future__ import annotations

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.api.google import errors as google_errors
from imagegate.api.http import google_api_key, new_request_id, read_body, speaks_google
from imagegate.api.openai import errors as openai_errors
from imagegate.domain.errors import ImagegateError, InvalidRequest
from imagegate.service.feedback import RequestNotFound

MAX_BODY_BYTES = 4096


class FeedbackBody(BaseModel):
    """The request body; strict types, so ``"accepted": "no"`` is an error, not ``True``."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=200)
    image_index: int = Field(default=0, ge=0, strict=True)
    accepted: StrictBool


async def post_feedback(request: Request) -> Response:
    """``POST /v1/images/feedback``."""
    request_id = new_request_id()
    state = request.app.state
    google = speaks_google(request)
    try:
        principal = await state.gateway.authenticate(google_api_key(request))
        body = await _parse(request)
        verdict = await state.feedback.give(principal, body.request_id, body.image_index, body.accepted)
    except RequestNotFound as exc:
        if google:
            error_body: dict[str, object] = {"error": {"code": 404, "message": str(exc), "status": "NOT_FOUND"}}
        else:
            error_body = {
                "error": {
                    "message": str(exc),
                    "type": "invalid_request_error",
                    "param": "request_id",
                    "code": "request_not_found",
                }
            }
        return Response(
            orjson.dumps(error_body),
            status_code=404,
            media_type="application/json",
            headers={"x-request-id": request_id},
        )
    except ImagegateError as error:
        if google:
            return google_errors.error_response(error, request_id)
        return openai_errors.error_response(error, request_id)
    payload = {
        "object": "image.feedback",
        "request_id": verdict.request_id,
        "image_index": verdict.image_index,
        "accepted": verdict.accepted,
        "created_at": verdict.created_at.isoformat(),
    }
    return Response(orjson.dumps(payload), media_type="application/json", headers={"x-request-id": request_id})


async def _parse(request: Request) -> FeedbackBody:
    raw = await read_body(request, MAX_BODY_BYTES)
    try:
        return FeedbackBody.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise InvalidRequest("The body must be a JSON object.", param=None) from None
    except ValidationError as exc:
        error = exc.errors()[0]
        param = ".".join(str(part) for part in error["loc"]) or None
        raise InvalidRequest(f"{param}: {error['msg']}" if param else error["msg"], param=param) from None


routes = [Route("/v1/images/feedback", post_feedback, methods=["POST"])]
