"""The message a client sees for a domain error, whatever its dialect.

Some provider failures are never relayed word for word: a provider's answer to a refused
credential can quote (masked) the route's key, and a refused model names the gateway's account.
"""

from __future__ import annotations

from imagegate.domain import errors as e

_WITHHELD: dict[type[e.ImagegateError], str] = {
    e.ProviderAuthentication: "The provider refused this gateway route's credentials; the operator must fix the route.",
    e.ProviderPermission: "The provider refused this model for the gateway's account.",
}


def public_message(error: e.ImagegateError) -> str:
    """The text to show the client for ``error``."""
    return _WITHHELD.get(type(error), error.message)


def retry_after_of(error: e.ImagegateError) -> float | None:
    """Seconds the client should wait before retrying, when the error says (a provider's or the gateway's own)."""
    if isinstance(error, (e.ProviderError, e.GatewayUnavailable)):
        return error.retry_after
    return None
