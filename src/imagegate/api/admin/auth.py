"""The admin check: ``Authorization: Bearer $IMAGEGATE_MASTER_KEY``.

Admin endpoints do not exist (404) when no master key is configured, so a gateway started
without one exposes no admin surface at all. The comparison is constant-time.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from imagegate.domain.errors import AuthenticationFailed, ClientError


class AdminDisabled(ClientError):
    """No master key is configured, so the admin API is off."""

    code = "not_found"


def master_key_matches(request: Request, presented: str | None) -> bool:
    """Whether ``presented`` is the configured master key (False when none is configured)."""
    expected: str | None = request.app.state.master_key
    if expected is None or presented is None:
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


def require_master_key(request: Request) -> None:
    """Raise unless the request carries the configured master key."""
    expected: str | None = request.app.state.master_key
    if expected is None:
        raise AdminDisabled("The admin API is disabled: set IMAGEGATE_MASTER_KEY to enable it.")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise AuthenticationFailed("Admin endpoints need 'Authorization: Bearer <IMAGEGATE_MASTER_KEY>'.")
