"""The message a client sees for a domain error, whatever its dialect.

Some provider failures are never relayed word for word: a provider's answer to a refused
credential can quote (masked) the route's key, and a refused model names the gateway's account.
"""

from __future__ import annotations

from imagegate.domain import errors as e
from imagegate.domain.money import usd_string

_WITHHELD: dict[type[e.ImagegateError], str] = {
    e.ProviderAuthentication: "The provider refused this gateway route's credentials; the operator must fix the route.",
    e.ProviderPermission: "The provider refused this model for the gateway's account.",
}


def public_message(error: e.ImagegateError) -> str:
    """The text to show the client for ``error``."""
    return _WITHHELD.get(type(error), error.message)


def retry_after_of(error: e.ImagegateError) -> float | None:
    """Seconds the client should wait before retrying, when the error says (a provider's or the gateway's own)."""
    if isinstance(error, (e.ProviderError, e.GatewayUnavailable, e.LimitExceeded)):
        return error.retry_after
    return None


def limit_headers(error: e.ImagegateError) -> dict[str, str]:
    """The rate-limit headers of a limit refusal (OpenAI's names, and imagegate's own for budgets).

    ``x-ratelimit-*-requests`` when a requests-per-minute limit applies,
    ``x-imagegate-budget-remaining-usd`` and ``x-imagegate-images-remaining`` when a budget or an
    image quota does; nothing for other errors.
    """
    if not isinstance(error, e.LimitExceeded):
        return {}
    room = error.headroom
    headers: dict[str, str] = {}
    if room.requests_limit is not None and room.requests_remaining is not None:
        headers["x-ratelimit-limit-requests"] = str(room.requests_limit)
        headers["x-ratelimit-remaining-requests"] = str(room.requests_remaining)
        headers["x-ratelimit-reset-requests"] = f"{room.requests_reset_s or 0.0:.3f}".rstrip("0").rstrip(".") + "s"
    if room.budget_remaining_micros is not None:
        headers["x-imagegate-budget-remaining-usd"] = usd_string(room.budget_remaining_micros)
    if room.images_remaining is not None:
        headers["x-imagegate-images-remaining"] = str(room.images_remaining)
    return headers
