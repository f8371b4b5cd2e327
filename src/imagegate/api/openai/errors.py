"""Domain errors rendered in OpenAI's error shape: ``{"error": {message, type, param, code}}``."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from imagegate.api.error_messages import limit_headers, public_message, retry_after_of
from imagegate.domain import errors as e
from imagegate.service.request_facts import note_error

# (HTTP status, OpenAI error type) per domain class; the most specific class wins.
_SHAPES: list[tuple[type[e.ImagegateError], int, str]] = [
    (e.ModelNotFound, 400, "invalid_request_error"),
    (e.ModelRetired, 410, "invalid_request_error"),  # shut down; the message names the replacement
    (e.InvalidRequest, 400, "invalid_request_error"),
    (e.PayloadTooLarge, 413, "invalid_request_error"),
    (e.ResourceNotFound, 404, "invalid_request_error"),
    (e.RequestExceedsLimit, 400, "invalid_request_error"),
    (e.BudgetExceeded, 429, "insufficient_quota"),
    (e.ImageQuotaExceeded, 429, "insufficient_quota"),
    (e.LimitExceeded, 429, "requests"),
    (e.GatewayUnavailable, 503, "server_error"),
    (e.AuthenticationFailed, 401, "invalid_request_error"),
    (e.PermissionDenied, 403, "permission_error"),
    (e.ModerationBlocked, 400, "image_generation_user_error"),
    (e.NoImageGenerated, 502, "server_error"),
    (e.ProviderInvalidRequest, 400, "invalid_request_error"),
    (e.RateLimited, 429, "requests"),
    (e.QuotaExhausted, 429, "insufficient_quota"),
    (e.UpstreamTimeout, 504, "server_error"),
    (e.ProviderAuthentication, 502, "server_error"),
    (e.ProviderPermission, 502, "server_error"),
    (e.ProviderNotFound, 502, "server_error"),
    (e.CircuitOpen, 503, "server_error"),
    (e.UpstreamUnavailable, 502, "server_error"),
    (e.UpstreamBadResponse, 502, "server_error"),
    (e.ImagegateError, 500, "server_error"),
]

_CODES: dict[type[e.ImagegateError], str] = {
    e.RateLimited: "rate_limit_exceeded",
    e.QuotaExhausted: "insufficient_quota",
}


def error_status_and_body(error: e.ImagegateError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and OpenAI-shaped body for a domain error."""
    status, kind = 500, "server_error"
    for cls, shape_status, shape_kind in _SHAPES:
        if isinstance(error, cls):
            status, kind = shape_status, shape_kind
            break
    message = public_message(error)
    code = _CODES.get(type(error), error.code)
    body: dict[str, Any] = {"message": message, "type": kind, "param": error.param, "code": code}
    if isinstance(error, e.ModerationBlocked) and "moderation_details" in error.details:
        body["moderation_details"] = error.details["moderation_details"]
    return status, {"error": body}


def error_response(error: e.ImagegateError, request_id: str) -> Response:
    """A complete OpenAI-dialect error response, with ``x-request-id`` and retry hints."""
    status, body = error_status_and_body(error)
    note_error(error.code)
    headers = {"x-request-id": request_id, **limit_headers(error)}
    retry_after = retry_after_of(error)
    if retry_after is not None:
        headers["retry-after"] = str(max(1, round(retry_after)))
        headers["retry-after-ms"] = str(int(retry_after * 1000))
    elif isinstance(error, e.LimitExceeded):
        # A spent budget does not come back by retrying: tell the official SDKs not to (they retry 429s).
        headers["x-should-retry"] = "false"
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def stream_error_frame(error: e.ImagegateError) -> bytes:
    """An SSE ``error`` frame for a failure after the stream started."""
    _, body = error_status_and_body(error)
    payload = {"type": "error", **body}
    return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"
