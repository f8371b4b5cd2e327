"""The master key check (constant-time); ``api.admin.access`` decides who may use the admin API."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from imagegate.domain.errors import ClientError


class AdminDisabled(ClientError):
    """No master key is configured, so the admin API is off."""

    code = "not_found"


def master_key_matches(request: Request, presented: str | None) -> bool:
    """Whether ``presented`` is the configured master key (False when none is configured)."""
    expected: str | None = request.app.state.master_key
    if expected is None or presented is None:
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())
