"""OpenAI error bodies -> the domain error tree, by HTTP status and structured ``code``/``type``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from imagegate.domain.errors import (
    ModerationBlocked,
    ProviderError,
    QuotaExhausted,
    RateLimited,
)
from imagegate.providers.http_status import error_class_for_status
from imagegate.providers.retry_after import retry_after_seconds

MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
MODERATION_TYPES = frozenset({"image_generation_user_error"})


def error_object(body: bytes) -> dict[str, Any]:
    """The ``error`` object of an OpenAI error body, or {} when the body is not one."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else {}


def _class_for(status: int | None, code: str | None, kind: str | None) -> type[ProviderError]:
    if code in MODERATION_CODES or kind in MODERATION_TYPES:
        return ModerationBlocked
    if code == "insufficient_quota":
        return QuotaExhausted
    if code == "rate_limit_exceeded" and status is None:
        return RateLimited
    return error_class_for_status(status)


def error_from_body(
    error: Mapping[str, Any], *, status: int | None, headers: Mapping[str, str] | None = None
) -> ProviderError:
    """Build the domain error for an OpenAI ``error`` object (from a response or a stream event)."""
    code = error.get("code") if isinstance(error.get("code"), str) else None
    kind = error.get("type") if isinstance(error.get("type"), str) else None
    cls = _class_for(status, code, kind)
    message = error.get("message") if isinstance(error.get("message"), str) else None
    details: dict[str, Any] = {}
    if isinstance(error.get("moderation_details"), dict):
        details["moderation_details"] = error["moderation_details"]
    if kind is not None:
        details["type"] = kind
    return cls(
        message or f"the provider answered HTTP {status}",
        param=error.get("param") if isinstance(error.get("param"), str) else None,
        provider_status=status,
        provider_request_id=None if headers is None else headers.get("x-request-id"),
        provider_code=code,
        retry_after=None if headers is None else retry_after_seconds(headers),
        details=details,
    )
