"""Google API error bodies -> the domain error tree, by HTTP status, RPC ``status`` and ``details``.

Body shape (Gemini API, Vertex AI and Imagen alike)::

    {"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED",
               "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"}, ...]}}

Google puts the retry hint in ``RetryInfo.retryDelay`` (not in ``Retry-After``) and reports a bad
API key as 400 ``INVALID_ARGUMENT`` with ``ErrorInfo.reason == "API_KEY_INVALID"``. Messages are
relayed but never inspected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from imagegate.domain.errors import (
    ProviderAuthentication,
    ProviderError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderPermission,
    QuotaExhausted,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from imagegate.providers.http_status import error_class_for_status
from imagegate.providers.retry_after import retry_after_seconds

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"

# ErrorInfo reasons that mean "the route's credential is wrong", whatever the status says.
_CREDENTIAL_REASONS = frozenset(
    {"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_EXPIRED", "ACCESS_TOKEN_TYPE_UNSUPPORTED"}
)
# ErrorInfo reasons that mean "no more until the billing changes": retrying later will not help.
_QUOTA_REASONS = frozenset({"BILLING_DISABLED", "BILLING_NOT_ACTIVE", "CONSUMER_SUSPENDED"})

_BY_RPC_STATUS: dict[str, type[ProviderError]] = {
    "INVALID_ARGUMENT": ProviderInvalidRequest,
    "FAILED_PRECONDITION": ProviderInvalidRequest,
    "OUT_OF_RANGE": ProviderInvalidRequest,
    "UNAUTHENTICATED": ProviderAuthentication,
    "PERMISSION_DENIED": ProviderPermission,
    "NOT_FOUND": ProviderNotFound,
    "RESOURCE_EXHAUSTED": RateLimited,
    "DEADLINE_EXCEEDED": UpstreamTimeout,
    "UNAVAILABLE": UpstreamUnavailable,
    "INTERNAL": UpstreamUnavailable,
    "ABORTED": UpstreamUnavailable,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def error_object(body: bytes) -> dict[str, Any]:
    """The ``error`` object of a Google error body, or {} when the body is not one.

    A body may also be a one-element JSON array around the object (the non-SSE stream form).
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(parsed, list) and len(parsed) == 1:
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else {}


def duration_seconds(value: object) -> float | None:
    """A protobuf Duration in JSON (``"27s"``, ``"1.5s"``) as seconds; None if it is not one."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    return None if match is None else float(match.group(1))


def _details(error: Mapping[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    return [item for item in details if isinstance(item, dict)] if isinstance(details, list) else []


def _detail(error: Mapping[str, Any], type_url: str) -> dict[str, Any] | None:
    return next((item for item in _details(error) if item.get("@type") == type_url), None)


def _daily_quota_only(error: Mapping[str, Any]) -> bool:
    """A 429 whose every violated quota is per day, with no retry hint: waiting minutes won't help."""
    if _detail(error, RETRY_INFO) is not None:
        return False
    quota = _detail(error, QUOTA_FAILURE)
    violations = quota.get("violations") if quota is not None else None
    if not isinstance(violations, list) or not violations:
        return False
    return all(isinstance(v, dict) and "PerDay" in str(v.get("quotaId", "")) for v in violations)


def _class_for(status: int | None, rpc_status: str | None, reason: str | None) -> type[ProviderError]:
    if reason in _CREDENTIAL_REASONS:
        return ProviderAuthentication
    if reason in _QUOTA_REASONS:
        return QuotaExhausted
    if rpc_status is not None and rpc_status in _BY_RPC_STATUS:
        return _BY_RPC_STATUS[rpc_status]
    return error_class_for_status(status)


def error_from_google(
    error: Mapping[str, Any], *, status: int | None, headers: Mapping[str, str] | None = None
) -> ProviderError:
    """The domain error for a Google ``error`` object (from a response body or a stream chunk)."""
    rpc_status = error.get("status") if isinstance(error.get("status"), str) else None
    if status is None and isinstance(error.get("code"), int):
        status = error["code"]
    info = _detail(error, ERROR_INFO)
    reason = info.get("reason") if info is not None and isinstance(info.get("reason"), str) else None
    cls = _class_for(status, rpc_status, reason)
    if cls is RateLimited and _daily_quota_only(error):
        cls = QuotaExhausted
    retry = _detail(error, RETRY_INFO)
    retry_after = None if retry is None else duration_seconds(retry.get("retryDelay"))
    if retry_after is None and headers is not None:
        retry_after = retry_after_seconds(headers)
    details: dict[str, Any] = {}
    if reason is not None:
        details["reason"] = reason
    quota = _detail(error, QUOTA_FAILURE)
    if quota is not None and isinstance(quota.get("violations"), list):
        details["quota_violations"] = quota["violations"]
    message = error.get("message") if isinstance(error.get("message"), str) else None
    return cls(
        message or f"the provider answered HTTP {status}",
        provider_status=status,
        provider_code=rpc_status,
        retry_after=retry_after,
        details=details,
    )


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """The domain error for a non-2xx Google response (an unreadable body maps by status alone)."""
    return error_from_google(error_object(body), status=status, headers=headers)
