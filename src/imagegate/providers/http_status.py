"""What an HTTP status alone says about a failed provider call (provider-neutral).

Adapters first read their provider's structured codes (moderation, quota, RPC status); this is
the fallback when the body says nothing more specific.
"""

from __future__ import annotations

from imagegate.domain.errors import (
    ProviderAuthentication,
    ProviderError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderPermission,
    RateLimited,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)

_BY_STATUS: dict[int, type[ProviderError]] = {
    400: ProviderInvalidRequest,
    401: ProviderAuthentication,
    403: ProviderPermission,
    404: ProviderNotFound,
    408: UpstreamTimeout,
    409: UpstreamUnavailable,
    413: ProviderInvalidRequest,
    422: ProviderInvalidRequest,
    429: RateLimited,
    504: UpstreamTimeout,
}


def error_class_for_status(status: int | None) -> type[ProviderError]:
    """The domain error class for a bare HTTP status (None: no response at all)."""
    if status is None:
        return UpstreamUnavailable
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return UpstreamUnavailable
    return UpstreamBadResponse
