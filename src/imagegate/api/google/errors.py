"""Domain errors rendered in Google's error shape, for the Gemini and Imagen dialects.

``{"error": {"code": <http status>, "message": "...", "status": "<RPC status>", "details": [...]}}``,
as the Gemini API answers and google-genai's ``errors.APIError`` reads (``code``, ``status``,
``message``). A rate limit carries ``google.rpc.RetryInfo.retryDelay`` (where Google puts it) as
well as ``Retry-After``; a refused key carries ``google.rpc.ErrorInfo`` reason ``API_KEY_INVALID``.
How a missing or refused key is answered depends on the API the client believes it calls (the Gemini
API or Vertex AI): see ``api/google/surface``.

Safety outcomes are not errors in these dialects: they are HTTP 200 answers, built by the
dialect's renderer (``gemini_render.blocked_body``), not here.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from imagegate.api.error_messages import limit_headers, public_message, retry_after_of
from imagegate.api.google.surface import GEMINI_API, GoogleSurface
from imagegate.domain import errors as e
from imagegate.service.request_facts import note_error

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
DOMAIN = "imagegate"

# (domain class, HTTP status, RPC status); the most specific class wins.
_SHAPES: list[tuple[type[e.ImagegateError], int, str]] = [
    (e.ModelRetired, 404, "NOT_FOUND"),
    (e.ModelNotFound, 404, "NOT_FOUND"),
    (e.PayloadTooLarge, 413, "INVALID_ARGUMENT"),
    (e.ResourceNotFound, 404, "NOT_FOUND"),
    (e.RequestExceedsLimit, 400, "FAILED_PRECONDITION"),
    (e.LimitExceeded, 429, "RESOURCE_EXHAUSTED"),
    (e.GatewayUnavailable, 503, "UNAVAILABLE"),
    (e.InvalidRequest, 400, "INVALID_ARGUMENT"),
    (e.AuthenticationFailed, 400, "INVALID_ARGUMENT"),
    (e.PermissionDenied, 403, "PERMISSION_DENIED"),
    (e.ModerationBlocked, 400, "INVALID_ARGUMENT"),
    (e.NoImageGenerated, 502, "UNAVAILABLE"),
    (e.ProviderInvalidRequest, 400, "INVALID_ARGUMENT"),
    (e.RateLimited, 429, "RESOURCE_EXHAUSTED"),
    (e.QuotaExhausted, 429, "RESOURCE_EXHAUSTED"),
    (e.UpstreamTimeout, 504, "DEADLINE_EXCEEDED"),
    (e.UpstreamUnavailable, 503, "UNAVAILABLE"),
    (e.ProviderAuthentication, 502, "UNAVAILABLE"),
    (e.ProviderPermission, 502, "UNAVAILABLE"),
    (e.ProviderNotFound, 502, "UNAVAILABLE"),
    (e.UpstreamBadResponse, 502, "UNAVAILABLE"),
    (e.ImagegateError, 500, "INTERNAL"),
]


def _retry_delay(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def error_status_and_body(error: e.ImagegateError, surface: GoogleSurface = GEMINI_API) -> tuple[int, dict[str, Any]]:
    """The HTTP status and Google-shaped body for a domain error, as ``surface`` answers it."""
    status, rpc = 500, "INTERNAL"
    for cls, shape_status, shape_rpc in _SHAPES:
        if isinstance(error, cls):
            status, rpc = shape_status, shape_rpc
            break
    if isinstance(error, e.AuthenticationFailed):
        status, rpc = surface.refused_key_status, surface.refused_key_rpc
    message = public_message(error)
    details: list[dict[str, Any]] = []
    metadata: dict[str, str] = {}
    if error.param is not None:
        metadata["param"] = error.param
    if isinstance(error, e.AuthenticationFailed):
        details.append({"@type": ERROR_INFO, "reason": "API_KEY_INVALID", "domain": DOMAIN, "metadata": metadata})
    else:
        details.append({"@type": ERROR_INFO, "reason": error.code.upper(), "domain": DOMAIN, "metadata": metadata})
    if isinstance(error, e.ModelRetired) and error.replacement is not None:
        metadata["replacement"] = error.replacement
    if isinstance(error, e.LimitExceeded):
        details.append(_quota_failure(error))
    retry_after = retry_after_of(error)
    if retry_after is not None:
        details.append({"@type": RETRY_INFO, "retryDelay": _retry_delay(retry_after)})
    return status, {"error": {"code": status, "message": message, "status": rpc, "details": details}}


def _quota_failure(error: e.LimitExceeded) -> dict[str, Any]:
    """``google.rpc.QuotaFailure``: which limit (of the key or its team) refused the request."""
    violation = {
        "subject": error.holder,
        "description": public_message(error),
        "quotaMetric": f"imagegate/{error.code}",
        "quotaId": f"{error.code}-per-{error.holder}",
    }
    return {"@type": QUOTA_FAILURE, "violations": [violation]}


def missing_key_status_and_body(surface: GoogleSurface = GEMINI_API) -> tuple[int, dict[str, Any]]:
    """Google's answer to a call without any key (the Gemini API: 403 ``PERMISSION_DENIED``)."""
    answer = surface.missing_key
    return answer.status, {"error": {"code": answer.status, "message": answer.message, "status": answer.rpc}}


def error_headers(error: e.ImagegateError, request_id: str) -> dict[str, str]:
    """``x-request-id`` and, for a rate limit or a busy gateway, ``Retry-After`` (whole seconds)."""
    headers = {"x-request-id": request_id, **limit_headers(error)}
    retry_after = retry_after_of(error)
    if retry_after is not None:
        headers["retry-after"] = str(max(1, round(retry_after)))
    return headers


def error_response(error: e.ImagegateError, request_id: str, surface: GoogleSurface = GEMINI_API) -> Response:
    """A complete Google-dialect error response."""
    status, body = error_status_and_body(error, surface)
    note_error(error.code)
    return Response(
        orjson.dumps(body), status_code=status, headers=error_headers(error, request_id), media_type="application/json"
    )


def missing_key_response(request_id: str, surface: GoogleSurface = GEMINI_API) -> Response:
    """The answer to a request that presented no key at all."""
    status, body = missing_key_status_and_body(surface)
    note_error(e.AuthenticationFailed.code)
    return Response(
        orjson.dumps(body), status_code=status, headers={"x-request-id": request_id}, media_type="application/json"
    )


def stream_error_frame(error: e.ImagegateError) -> bytes:
    """A failure after an SSE stream started: one ``data:`` chunk holding the error object.

    google-genai raises ``APIError`` for a chunk that starts with ``{"error":``.
    """
    _, body = error_status_and_body(error)
    return b"data: " + orjson.dumps(body) + b"\r\n\r\n"
